"""DocumentDB (plan 4.3.2, objectives 5.1.2 "MongoDB (DocumentDB)"): the primary's failure as
`docdb failover-db-cluster`, and point-in-time recovery as `restore-db-cluster-to-point-in-time` +
`create-db-instance`, the plan's commands, each timed.

    db-primary-crash  FailoverDBCluster(cluster, target = a replica), then DescribeDBClusters until the replica
                      is the writer and the cluster is available: the time that took is reported beside the
                      objective (5.1.2 primary-instance-failure: RTO 1-2 minutes)
    pitr              RestoreDBClusterToPointInTime(source -> a new cluster, tagged drill-restored-from),
                      wait until available; CreateDBInstance(the new cluster's first instance), wait until
                      available; each step timed. The undo (recorded before the restore) deletes the new
                      instance and cluster, only when they carry the drill-restored-from tag.

The clients come from docdb_client (one per boto3 session and region), so a rehearsal can attach botocore's
Stubber to the very client the harness uses: moto answers DocumentDB's API through its RDS backend but refuses
the engine `docdb`, so the tests stub these calls with responses shaped as the API reference shows.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from harness.errors import HarnessError
from harness.faults import undo as undo_actions
from harness.faults.aws import Configuration, conf, region_of, shared_client, tag_dict, undo_config
from harness.faults.plan import FaultPlan
from harness.safety import Resource

OBJECTIVE = {"component": "mongodb", "section": "5.1.2"}


def docdb_client(configuration: Configuration = None) -> Any:
    """The DocumentDB client of this boto3 session and region (created once: see the module docstring)."""
    return shared_client("docdb", configuration)


def _cluster(cluster_id: str, configuration: Configuration) -> dict[str, Any]:
    if not cluster_id or str(cluster_id).startswith("<"):
        raise HarnessError("no DocumentDB cluster id (configuration docdb_cluster_id)")
    return docdb_client(configuration).describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]


def _writer(cluster: dict[str, Any]) -> str | None:
    return next(
        (m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []) if m.get("IsClusterWriter")), None
    )


def _tags_of(arn: str, configuration: Configuration) -> dict[str, str]:
    return tag_dict(docdb_client(configuration).list_tags_for_resource(ResourceName=arn).get("TagList"))


def plan_docdb_failover(
    cluster_id: str, target_instance: str | None = None, configuration: Configuration = None
) -> FaultPlan:
    cluster = _cluster(cluster_id, configuration)
    if cluster.get("Engine") != "docdb":
        raise HarnessError(f"cluster {cluster_id} is a {cluster.get('Engine')} cluster, not DocumentDB")
    writer = _writer(cluster)
    readers = sorted(
        m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []) if not m.get("IsClusterWriter")
    )
    if writer is None or not readers:
        raise HarnessError(f"DocumentDB cluster {cluster_id}: a failover needs a primary and at least one replica")
    if target_instance is not None and target_instance not in readers:
        raise HarnessError(
            f"DocumentDB cluster {cluster_id}: {target_instance} is not a replica ({', '.join(readers)})"
        )
    promoted = target_instance or readers[0]
    found = docdb_client(configuration).describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}]
    )["DBInstances"]
    az = {i["DBInstanceIdentifier"]: i.get("AvailabilityZone") for i in found}
    tags = _tags_of(cluster["DBClusterArn"], configuration)
    return FaultPlan(
        fault="db-primary-crash",
        summary=f"fail over DocumentDB cluster {cluster_id}: primary {writer} -> {promoted}",
        region=region_of(configuration),
        resources=[
            Resource(kind="docdb-cluster", id=cluster_id, tags=tags, state=cluster.get("Status", ""), acted=False),
            Resource(kind="docdb-instance", id=writer, az=az.get(writer), role="primary -> replica", tags=tags),
            Resource(
                kind="docdb-instance",
                id=promoted,
                az=az.get(promoted),
                role="replica -> primary",
                tags=tags,
                acted=False,
            ),
        ],
        calls=[
            f"docdb:FailoverDBCluster({cluster_id}, TargetDBInstanceIdentifier={promoted})",
            "docdb:DescribeDBClusters (timed until the new primary is the writer and the cluster available)",
        ],
        changes={"cluster": cluster_id, "old_writer": writer, "new_writer": promoted},
        undo_summary=f"none needed ({writer} rejoins as a replica); fail over again with target {writer} to go back",
        undo_record={"kind": "none"},
    )


def failover_and_time(plan: FaultPlan, configuration: Configuration, timeout: float = 600) -> dict[str, Any]:
    c = plan.changes
    poll = float(conf(configuration, "docdb_poll_s", 5))
    started = time.monotonic()
    docdb_client(configuration).failover_db_cluster(
        DBClusterIdentifier=c["cluster"], TargetDBInstanceIdentifier=c["new_writer"]
    )
    while True:
        cluster = _cluster(c["cluster"], configuration)
        if _writer(cluster) == c["new_writer"] and cluster.get("Status") == "available":
            break
        if time.monotonic() - started > float(timeout):
            raise HarnessError(
                f"DocumentDB cluster {c['cluster']}: {c['new_writer']} not the primary after {timeout:g} s"
            )
        time.sleep(poll)
    seconds = round(time.monotonic() - started, 3)
    return {**c, "seconds": seconds, "objective": {**OBJECTIVE, "scenario": "primary-instance-failure"}}


def plan_docdb_point_in_time_restore(
    source_cluster: str,
    target_cluster: str,
    restore_time: str | None = None,
    instance_class: str | None = None,
    configuration: Configuration = None,
) -> FaultPlan:
    src = _cluster(source_cluster, configuration)
    existing = [c["DBClusterIdentifier"] for c in docdb_client(configuration).describe_db_clusters()["DBClusters"]]
    if target_cluster in existing:
        raise HarnessError(f"DocumentDB cluster {target_cluster} already exists: a restore creates a new one")
    if restore_time:
        datetime.fromisoformat(restore_time.replace("Z", "+00:00"))  # a bad time is refused before any call
    members = src.get("DBClusterMembers", [])
    klass = instance_class or conf(configuration, "docdb_instance_class") or "db.r5.large"
    instance = f"{target_cluster}-1"
    when = restore_time or f"latest restorable time ({src.get('LatestRestorableTime', '?')})"
    tags = _tags_of(src["DBClusterArn"], configuration)
    return FaultPlan(
        fault="pitr",
        summary=f"restore DocumentDB cluster {source_cluster} to {when} as new cluster {target_cluster} (plan 4.3.2)",
        region=region_of(configuration),
        resources=[
            Resource(kind="docdb-cluster", id=source_cluster, role="source (read only)", tags=tags, acted=False),
            Resource(kind="docdb-cluster-new", id=target_cluster, role="created"),
            Resource(kind="docdb-instance-new", id=instance, role=f"created ({klass})"),
        ],
        calls=[
            f"docdb:RestoreDBClusterToPointInTime({source_cluster} -> {target_cluster}, {when})",
            f"docdb:CreateDBInstance({instance}, {klass}, cluster {target_cluster})",
        ],
        changes={
            "source": source_cluster,
            "target": target_cluster,
            "instance": instance,
            "class": klass,
            "restore_time": restore_time,
            "source_members": len(members),
            "tags": tags,
        },
        undo_summary=f"delete {instance} and cluster {target_cluster} (only with the drill-restored-from tag)",
        undo_record={"kind": "docdb-delete-restored"},
    )


def _wait(what: str, status_of: Any, timeout: float, poll: float) -> None:
    deadline = time.monotonic() + float(timeout)
    while True:
        status = status_of()
        if status == "available":
            return
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what}: still {status} after {float(timeout):g} s")
        time.sleep(poll)


def restore_and_time(plan: FaultPlan, configuration: Configuration, timeout: float = 3600) -> dict[str, Any]:
    """The plan's two commands, each followed by a wait until available, each timed."""
    c, db = plan.changes, docdb_client(configuration)
    poll = float(conf(configuration, "docdb_poll_s", 10))
    steps = []

    def timed(title: str, fn: Any) -> None:
        started = time.monotonic()
        fn()
        steps.append({"title": title, "seconds": round(time.monotonic() - started, 3)})

    args: dict[str, Any] = {
        "DBClusterIdentifier": c["target"],
        "SourceDBClusterIdentifier": c["source"],
        "Tags": [
            *({"Key": k, "Value": v} for k, v in c["tags"].items() if k != "drill-restored-from"),
            {"Key": "drill-restored-from", "Value": c["source"]},
        ],
    }
    if c["restore_time"]:
        args["RestoreToTime"] = datetime.fromisoformat(c["restore_time"].replace("Z", "+00:00"))
    else:
        args["UseLatestRestorableTime"] = True
    timed("restore-db-cluster-to-point-in-time", lambda: db.restore_db_cluster_to_point_in_time(**args))
    timed(
        "wait for the restored cluster",
        lambda: _wait(c["target"], lambda: _cluster(c["target"], configuration).get("Status"), timeout, poll),
    )
    timed(
        "create-db-instance",
        lambda: db.create_db_instance(
            DBInstanceIdentifier=c["instance"],
            DBInstanceClass=c["class"],
            Engine="docdb",
            DBClusterIdentifier=c["target"],
        ),
    )
    timed(
        "wait for the restored instance",
        lambda: _wait(
            c["instance"],
            lambda: db.describe_db_instances(DBInstanceIdentifier=c["instance"])["DBInstances"][0].get(
                "DBInstanceStatus"
            ),
            timeout,
            poll,
        ),
    )
    return {
        "cluster": c["target"],
        "instance": c["instance"],
        "steps": steps,
        "seconds": round(sum(s["seconds"] for s in steps), 3),
        "objective": {**OBJECTIVE, "scenario": "data-corruption"},
    }


@undo_actions.undo_action("aws_docdb_delete_restored")
def _undo_delete_restored(record: dict[str, Any]) -> str:
    config = undo_config(record)
    db = docdb_client(config)
    try:
        cluster = _cluster(record["cluster"], config)
    except db.exceptions.DBClusterNotFoundFault:
        return f"DocumentDB cluster {record['cluster']} is already gone"
    if "drill-restored-from" not in _tags_of(cluster["DBClusterArn"], config):
        raise HarnessError(f"DocumentDB cluster {record['cluster']} lacks the drill-restored-from tag: not deleting it")
    out = []
    for member in cluster.get("DBClusterMembers", []):
        db.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"])
        out.append(f"deleting instance {member['DBInstanceIdentifier']}")
    db.delete_db_cluster(DBClusterIdentifier=record["cluster"], SkipFinalSnapshot=True)
    out.append(f"deleting cluster {record['cluster']}")
    return "; ".join(out)


PLANNERS = {
    "docdb_failover": plan_docdb_failover,
    "docdb_point_in_time_restore": plan_docdb_point_in_time_restore,
}
