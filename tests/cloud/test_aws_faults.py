"""AWS faults against a moto server on 127.0.0.1. moto stands in for AWS because no real account can be used
here: the requests are real boto3/chaostoolkit-aws HTTP calls, the state changes are moto's."""

from __future__ import annotations

import pytest
from aws_world import CLUSTER, REGION, CallLog, aurora_cluster, clear, instances, states
from standin_app import ReconnectingApp

from harness.chaos import aws as chaos_aws
from harness.faults import aws as faults
from harness.measure import Measurement, parse_probe_spec

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = pytest.mark.timing

RECONNECT_S = 1.0  # the stand-in app's known outage after its database writer changes (ground truth)


class WriterBoundApp(ReconnectingApp):
    """The stand-in app bound to the Aurora writer: 503 for exactly RECONNECT_S after the writer changes."""

    def __init__(self, session):
        rds = session.client("rds", region_name=REGION)

        def writer() -> str:
            members = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["DBClusterMembers"]
            return next(m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"])

        super().__init__(writer, RECONNECT_S, path="/health")


def test_aurora_cluster_failover_flips_the_writer_and_the_outage_is_measured(aws, tmp_path):
    # moto stands in for AWS (no real account here); it flips the writer at once, the app's reconnect is the outage
    cluster = aurora_cluster(aws)
    clear({"max_azs": 1, "max_instances": 2, "resources": ["freight-staging*"]}, tags={"Environment": "staging"})
    app = WriterBoundApp(aws)
    try:
        with Measurement(
            probes=[parse_probe_spec(f"app@http={app.url}")], interval=0.05, stable=1.0, out_dir=tmp_path / "m"
        ) as m:
            m.start()
            m.baseline(0.5)
            m.mark_inject("rds_cluster_failover")
            out = chaos_aws.rds_cluster_failover(CLUSTER, configuration={"aws_region": REGION})
            assert m.wait_recovered(30)
            result = m.stop()
    finally:
        app.close()
    assert out["detail"] == {"cluster": CLUSTER, "old_writer": cluster["writer"], "new_writer": cluster["reader"]}
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["reader"]
    assert [r["id"] for r in out["blast"]["resources"] if r["acted"]] == [cluster["writer"]]
    assert not result.no_outage_observed and result.recovered
    # RTO = time to the first failed sample (<= one interval) + the known 1.0 s reconnect
    assert RECONNECT_S - result.uncertainty_s <= result.rto_s <= RECONNECT_S + 2 * result.uncertainty_s + 1.0
    assert chaos_aws.undo(out["id"])["undone"] is False  # a failover's undo is "none needed"


def test_az_stop_touches_only_that_az_and_undo_starts_exactly_those(aws):
    # moto stands in for AWS (no real account here)
    staged = instances(aws, {"eu-west-1a": 3, "eu-west-1b": 2, "eu-west-1c": 1})
    untagged = instances(aws, {"eu-west-1a": 1}, tags=[{"Key": "Environment", "Value": "production"}])
    clear({"max_azs": 1, "max_instances": 3}, tags={"Environment": "staging"})
    calls = CallLog()
    config = {"aws_region": REGION, "zones": {"az-a": "eu-west-1a", "az-b": "eu-west-1b", "az-c": "eu-west-1c"}}
    out = chaos_aws.ec2_az_outage("az-a", tags={"Environment": "staging"}, configuration=config)
    every = [i for ids in staged.values() for i in ids] + untagged["eu-west-1a"]
    now = states(aws, every)
    assert {i: now[i] for i in staged["eu-west-1a"]} == {i: "stopped" for i in staged["eu-west-1a"]}
    assert all(now[i] == "running" for i in staged["eu-west-1b"] + staged["eu-west-1c"] + untagged["eu-west-1a"])
    assert calls.changing() == ["ec2:StopInstances"]
    stop_params = next(p for n, p in calls.calls if n == "ec2:StopInstances")
    assert sorted(stop_params["InstanceIds"]) == staged["eu-west-1a"]
    assert faults.ec2_instance_states("eu-west-1a", {"Environment": "staging"}, config) == {
        "eu-west-1a": {"stopped": 3}
    }
    chaos_aws.undo(out["id"], configuration=config)
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"running"}
    assert chaos_aws.undo(out["id"])["why"] == "already undone"


def test_asg_terminate_in_one_az_keeps_capacity(aws):
    # moto stands in for AWS (no real account here)
    ec2, asg = aws.client("ec2"), aws.client("autoscaling")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="freight-staging-app",
        LaunchConfigurationName="lc",
        MinSize=3,
        MaxSize=3,
        DesiredCapacity=3,
        AvailabilityZones=["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        Tags=[{"Key": "Environment", "Value": "staging", "PropagateAtLaunch": True}],
    )
    before = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]
    zone = before[0]["AvailabilityZone"]  # moto places the group's instances itself
    in_a = sorted(i["InstanceId"] for i in before if i["AvailabilityZone"] == zone)
    clear({"max_azs": 1, "max_instances": 3, "resources": ["freight-staging-*"]}, tags={"Environment": "staging"})
    out = chaos_aws.asg_terminate(
        ["freight-staging-app"], replica="all", zone=zone, configuration={"aws_region": REGION}
    )
    assert [r["id"] for r in out["blast"]["resources"] if r["acted"]] == in_a
    group = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 3
    assert not set(in_a) & {i["InstanceId"] for i in group["Instances"]}


def test_alb_loses_one_az_and_gets_it_back(aws):
    # moto stands in for AWS (no real account here)
    ec2, elb = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {
        az: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for n, az in enumerate(("eu-west-1a", "eu-west-1b", "eu-west-1c"))
    }
    elb.create_load_balancer(
        Name="freight-staging-alb",
        Subnets=list(subnets.values()),
        Type="application",
        Tags=[{"Key": "Environment", "Value": "staging"}],
    )
    clear({"max_azs": 1, "resources": ["freight-staging-*"]}, tags={"Environment": "staging"})
    out = chaos_aws.alb_remove_az("freight-staging-alb", "eu-west-1b", configuration={"aws_region": REGION})

    def zones():
        lb = elb.describe_load_balancers(Names=["freight-staging-alb"])["LoadBalancers"][0]
        return sorted(z["ZoneName"] for z in lb["AvailabilityZones"])

    assert zones() == ["eu-west-1a", "eu-west-1c"]
    chaos_aws.undo(out["id"])
    assert zones() == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_s3_object_deleted_then_restored_from_versioning(aws):
    # moto stands in for AWS (no real account here)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="freight-staging-docs", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(
        Bucket="freight-staging-docs", Tagging={"TagSet": [{"Key": "Environment", "Value": "staging"}]}
    )
    s3.put_bucket_versioning(Bucket="freight-staging-docs", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="freight-staging-docs", Key="bol/42.pdf", Body=b"bill of lading 42")
    clear({"resources": ["freight-staging-*"]}, tags={"Environment": "staging"})
    out = chaos_aws.s3_delete_object("freight-staging-docs", "bol/42.pdf", configuration={"aws_region": REGION})
    with pytest.raises(Exception):
        s3.head_object(Bucket="freight-staging-docs", Key="bol/42.pdf")
    chaos_aws.undo(out["id"])
    assert s3.get_object(Bucket="freight-staging-docs", Key="bol/42.pdf")["Body"].read() == b"bill of lading 42"


def test_s3_delete_is_refused_on_an_unversioned_bucket(aws):
    # moto stands in for AWS (no real account here)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="freight-staging-tmp", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="freight-staging-tmp", Key="k", Body=b"x")
    clear()
    with pytest.raises(Exception, match="versioning is off"):
        chaos_aws.s3_delete_object("freight-staging-tmp", "k", configuration={"aws_region": REGION})
    assert s3.get_object(Bucket="freight-staging-tmp", Key="k")["Body"].read() == b"x"


def test_point_in_time_restore_creates_a_new_instance_and_undo_deletes_only_it(aws):
    # moto stands in for AWS (no real account here); it accepts the restore but restores no data
    rds = aws.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="freight-staging-pg",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MultiAZ=True,
        AllocatedStorage=20,
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        Tags=[{"Key": "Environment", "Value": "staging"}],
    )
    clear({"resources": ["freight-staging-*"]}, tags={"Environment": "staging"})
    out = chaos_aws.rds_point_in_time_restore(
        "freight-staging-pg", "freight-staging-pg-pitr", configuration={"aws_region": REGION}
    )
    restored = rds.describe_db_instances(DBInstanceIdentifier="freight-staging-pg-pitr")["DBInstances"][0]
    assert {"Key": "drill-restored-from", "Value": "freight-staging-pg"} in restored["TagList"]
    with pytest.raises(Exception, match="already exists"):
        faults.plan_rds_point_in_time_restore(
            "freight-staging-pg", "freight-staging-pg-pitr", configuration={"aws_region": REGION}
        )
    chaos_aws.undo(out["id"])
    names = {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}
    assert "freight-staging-pg" in names and "freight-staging-pg-pitr" not in names


def test_multi_az_reboot_with_failover_sends_force_failover(aws):
    # moto stands in for AWS (no real account here); it accepts the reboot but moves no standby
    rds = aws.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="freight-staging-pg",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MultiAZ=True,
        AllocatedStorage=20,
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        Tags=[{"Key": "Environment", "Value": "staging"}],
    )
    clear({"resources": ["freight-staging-*"]}, tags={"Environment": "staging"})
    calls = CallLog()
    chaos_aws.rds_instance_failover("freight-staging-pg", configuration={"aws_region": REGION})
    assert calls.changing() == ["rds:RebootDBInstance"]
    assert next(p for n, p in calls.calls if n == "rds:RebootDBInstance")["ForceFailover"] is True


def test_elasticache_failover_request(aws, monkeypatch):
    # moto stands in for AWS (no real account here). moto does NOT implement ElastiCache TestFailover (it answers
    # HTTP 500): the plan runs against moto's replication group for real, and for the failover itself we check
    # the exact request the harness sends (recorded by a botocore before-call hook), then moto's refusal.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ec = aws.client("elasticache")
    ec.create_replication_group(
        ReplicationGroupId="freight-staging-cache",
        ReplicationGroupDescription="cache",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
        AutomaticFailoverEnabled=True,
    )
    clear({"resources": ["freight-staging-*"]})
    plan = faults.plan_elasticache_failover("freight-staging-cache", "0001", {"aws_region": REGION})
    assert [r.id for r in plan.resources if r.acted and r.kind == "cache-node"] == ["freight-staging-cache-001"]
    calls = CallLog()
    with pytest.raises(Exception):
        chaos_aws.elasticache_failover("freight-staging-cache", "0001", configuration={"aws_region": REGION})
    assert calls.changing() == ["elasticache:TestFailover"]
    assert calls.calls[-1][1] == {"ReplicationGroupId": "freight-staging-cache", "NodeGroupId": "0001"}


def test_fis_az_power_interruption_template_targets_only_that_az(aws):
    # moto stands in for AWS (no real account here). moto stores the FIS template and a started experiment but
    # executes nothing: we check the template chaostoolkit-aws created through the harness (moto's state), and
    # the plan's list of what the scenario's tags select.
    tagged = instances(
        aws,
        {"eu-west-1a": 2, "eu-west-1b": 1},
        tags=[{"Key": "Environment", "Value": "staging"}, {"Key": "AzImpairmentPower", "Value": "StopInstances"}],
    )
    clear({"max_azs": 1, "max_instances": 2}, tags={"Environment": "staging"})
    out = chaos_aws.fis_az_power_interruption(
        "eu-west-1a",
        role_arn="arn:aws:iam::123456789012:role/fis",
        duration="PT5M",
        tags={"drill": "az-outage"},
        configuration={"aws_region": REGION},
    )
    acted = sorted(r["id"] for r in out["blast"]["resources"] if r["acted"] and r["kind"] == "ec2-instance")
    assert acted == tagged["eu-west-1a"]
    fis = aws.client("fis")
    templates = fis.list_experiment_templates()["experimentTemplates"]
    assert len(templates) == 1
    template = fis.get_experiment_template(id=templates[0]["id"])["experimentTemplate"]
    filters = [
        f
        for t in template["targets"].values()
        for f in t.get("filters", [])
        if f["path"] == "Placement.AvailabilityZone"
    ]
    assert filters and all(f["values"] == ["eu-west-1a"] for f in filters)
    assert template["roleArn"] == "arn:aws:iam::123456789012:role/fis"
