"""DocumentDB failover and point-in-time restore (harness/faults/aws_docdb.py).

moto answers DocumentDB's API through its RDS backend but refuses the engine `docdb` (CreateDBCluster:
"Engine 'docdb' is not supported"), so the DocumentDB calls are stubbed with botocore's Stubber on the very
client the harness uses, with responses shaped as the AWS API reference shows them (botocore checks both the
request parameters and the response shapes against the service model). STS (the safety preflight) is moto's.
Stubbed: DescribeDBClusters, DescribeDBInstances, ListTagsForResource, FailoverDBCluster,
RestoreDBClusterToPointInTime, CreateDBInstance, DeleteDBInstance, DeleteDBCluster."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aws_world import MOTO_ACCOUNT, REGION, clear
from botocore.stub import ANY, Stubber

from harness import safety
from harness.chaos import aws as chaos_aws
from harness.faults import aws_docdb
from harness.faults.intent import IntentLog

CONFIG = {"aws_region": REGION, "docdb_poll_s": 0.05}
CLUSTER = "freight-docdb"
ARN = f"arn:aws:rds:{REGION}:{MOTO_ACCOUNT}:cluster:{CLUSTER}"
STAGING = [{"Key": "Environment", "Value": "staging"}]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cluster(writer: str, status: str = "available", ident: str = CLUSTER, members: tuple = ("a", "b")) -> dict:
    return {
        "DBClusterIdentifier": ident,
        "DBClusterArn": f"arn:aws:rds:{REGION}:{MOTO_ACCOUNT}:cluster:{ident}",
        "Engine": "docdb",
        "Status": status,
        "LatestRestorableTime": NOW,
        "DBClusterMembers": [
            {"DBInstanceIdentifier": f"{ident}-{m}", "IsClusterWriter": f"{ident}-{m}" == writer, "PromotionTier": 1}
            for m in members
        ],
    }


@pytest.fixture
def stub(aws):
    client = aws_docdb.docdb_client(CONFIG)
    with Stubber(client) as s:
        yield s
        s.assert_no_pending_responses()


def test_failover_flips_the_primary_and_is_timed_until_the_replica_is_the_writer(aws, stub):
    clear({"max_instances": 1}, tags={"Environment": "staging"})
    a, b = f"{CLUSTER}-a", f"{CLUSTER}-b"
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster(a)]}, {"DBClusterIdentifier": CLUSTER})
    stub.add_response(
        "describe_db_instances",
        {
            "DBInstances": [
                {"DBInstanceIdentifier": a, "AvailabilityZone": f"{REGION}a", "DBInstanceStatus": "available"},
                {"DBInstanceIdentifier": b, "AvailabilityZone": f"{REGION}b", "DBInstanceStatus": "available"},
            ]
        },
        {"Filters": [{"Name": "db-cluster-id", "Values": [CLUSTER]}]},
    )
    stub.add_response("list_tags_for_resource", {"TagList": STAGING}, {"ResourceName": ARN})
    stub.add_response(
        "failover_db_cluster",
        {"DBCluster": cluster(a, "failing-over")},
        {"DBClusterIdentifier": CLUSTER, "TargetDBInstanceIdentifier": b},
    )
    stub.add_response(
        "describe_db_clusters", {"DBClusters": [cluster(a, "failing-over")]}, {"DBClusterIdentifier": CLUSTER}
    )
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster(b)]}, {"DBClusterIdentifier": CLUSTER})
    out = chaos_aws.docdb_failover(CLUSTER, configuration=CONFIG)
    d = out["detail"]
    assert (d["old_writer"], d["new_writer"]) == (a, b)
    assert d["seconds"] >= CONFIG["docdb_poll_s"]  # it waited through the answer that still showed the old writer
    assert d["objective"] == {"component": "mongodb", "section": "5.1.2", "scenario": "primary-instance-failure"}
    assert [r["id"] for r in out["blast"]["resources"] if r["acted"]] == [a]
    assert chaos_aws.undo(out["id"])["undone"] is False


def test_a_cluster_without_the_allowlisted_tag_is_refused_before_the_failover(aws, stub):
    clear(tags={"Environment": "staging"})
    a = f"{CLUSTER}-a"
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster(a)]}, {"DBClusterIdentifier": CLUSTER})
    stub.add_response("describe_db_instances", {"DBInstances": []}, {"Filters": ANY})
    stub.add_response(
        "list_tags_for_resource", {"TagList": [{"Key": "Environment", "Value": "production"}]}, {"ResourceName": ARN}
    )
    with pytest.raises(safety.SafetyRefused, match="without tag Environment=staging"):
        chaos_aws.docdb_failover(CLUSTER, configuration=CONFIG)
    assert IntentLog().pending() == []  # and no FailoverDBCluster: the stubber has none queued


def test_pitr_restores_a_new_cluster_and_instance_each_timed_and_undo_deletes_both(aws, stub):
    clear({"max_instances": 2}, tags={"Environment": "staging"})
    new, instance = f"{CLUSTER}-pitr", f"{CLUSTER}-pitr-1"
    new_arn = f"arn:aws:rds:{REGION}:{MOTO_ACCOUNT}:cluster:{new}"
    when = "2026-12-01T11:59:00.000Z"
    stub.add_response(
        "describe_db_clusters", {"DBClusters": [cluster(f"{CLUSTER}-a")]}, {"DBClusterIdentifier": CLUSTER}
    )
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster(f"{CLUSTER}-a")]}, {})
    stub.add_response("list_tags_for_resource", {"TagList": STAGING}, {"ResourceName": ARN})
    stub.add_response(
        "restore_db_cluster_to_point_in_time",
        {"DBCluster": cluster("", "creating", new, ())},
        {
            "DBClusterIdentifier": new,
            "SourceDBClusterIdentifier": CLUSTER,
            "RestoreToTime": datetime(2026, 12, 1, 11, 59, tzinfo=UTC),
            "Tags": [*STAGING, {"Key": "drill-restored-from", "Value": CLUSTER}],
        },
    )
    stub.add_response(
        "describe_db_clusters", {"DBClusters": [cluster("", "creating", new, ())]}, {"DBClusterIdentifier": new}
    )
    stub.add_response(
        "describe_db_clusters", {"DBClusters": [cluster("", "available", new, ())]}, {"DBClusterIdentifier": new}
    )
    stub.add_response(
        "create_db_instance",
        {"DBInstance": {"DBInstanceIdentifier": instance, "DBInstanceStatus": "creating"}},
        {
            "DBInstanceIdentifier": instance,
            "DBInstanceClass": "db.r5.large",
            "Engine": "docdb",
            "DBClusterIdentifier": new,
        },
    )
    for status in ("creating", "available"):
        stub.add_response(
            "describe_db_instances",
            {"DBInstances": [{"DBInstanceIdentifier": instance, "DBInstanceStatus": status}]},
            {"DBInstanceIdentifier": instance},
        )
    out = chaos_aws.docdb_point_in_time_restore(CLUSTER, new, restore_time=when, configuration=CONFIG)
    steps = out["detail"]["steps"]
    assert [s["title"] for s in steps] == [
        "restore-db-cluster-to-point-in-time",
        "wait for the restored cluster",
        "create-db-instance",
        "wait for the restored instance",
    ]
    assert steps[1]["seconds"] >= CONFIG["docdb_poll_s"] and steps[3]["seconds"] >= CONFIG["docdb_poll_s"]
    assert out["detail"]["seconds"] >= sum(s["seconds"] for s in steps) - 0.01
    # the undo: only a cluster tagged drill-restored-from is deleted, its instance first
    stub.add_response(
        "describe_db_clusters",
        {"DBClusters": [cluster(instance, "available", new, ("1",))]},
        {"DBClusterIdentifier": new},
    )
    stub.add_response(
        "list_tags_for_resource",
        {"TagList": [{"Key": "drill-restored-from", "Value": CLUSTER}]},
        {"ResourceName": new_arn},
    )
    stub.add_response(
        "delete_db_instance", {"DBInstance": {"DBInstanceIdentifier": instance}}, {"DBInstanceIdentifier": instance}
    )
    stub.add_response(
        "delete_db_cluster",
        {"DBCluster": cluster("", "deleting", new, ())},
        {"DBClusterIdentifier": new, "SkipFinalSnapshot": True},
    )
    undone = chaos_aws.undo(out["id"])
    assert undone["steps"][0]["outcome"] == f"deleting instance {instance}; deleting cluster {new}"
    assert IntentLog().pending() == []


def test_a_restore_onto_an_existing_cluster_is_refused(aws, stub):
    stub.add_response(
        "describe_db_clusters", {"DBClusters": [cluster(f"{CLUSTER}-a")]}, {"DBClusterIdentifier": CLUSTER}
    )
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster(f"{CLUSTER}-a")]}, {})
    with pytest.raises(Exception, match="already exists"):
        aws_docdb.plan_docdb_point_in_time_restore(CLUSTER, CLUSTER, configuration=CONFIG)
