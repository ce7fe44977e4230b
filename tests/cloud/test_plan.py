"""`drill plan` (dry run) on the AWS example target against a moto server on 127.0.0.1 (moto stands in for AWS
because no real account can be used here): every fault of the smoke drills with its concrete targets, undo,
blast-radius verdict and guard — and not one request that changes anything."""

from __future__ import annotations

from aws_world import CLUSTER, REGION, CallLog, aurora_cluster, instances

from harness.dryrun import plan_drill
from harness.faults import aws as faults

FIS_STOP = [{"Key": "Environment", "Value": "staging"}, {"Key": "AzImpairmentPower", "Value": "StopInstances"}]


def staging_world(s, monkeypatch):
    cluster = aurora_cluster(s)
    fis_targets = instances(s, {"eu-west-1a": 2, "eu-west-1b": 2}, tags=FIS_STOP)
    s.client("elasticache").create_replication_group(
        ReplicationGroupId="freight-staging-cache",
        ReplicationGroupDescription="cache",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
        AutomaticFailoverEnabled=True,
    )
    ec2, elb = s.client("ec2"), s.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for n, az in enumerate(("eu-west-1a", "eu-west-1b", "eu-west-1c"))
    ]
    elb.create_load_balancer(
        Name="freight-staging-alb",
        Subnets=subnets,
        Type="application",
        Tags=[{"Key": "Environment", "Value": "staging"}],
    )
    for key, value in (
        ("RDS_CLUSTER_ID", CLUSTER),
        ("ELASTICACHE_GROUP_ID", "freight-staging-cache"),
        ("APP_ALB_NAME", "freight-staging-alb"),
        ("APP_ASG_NAME", "freight-staging-app"),
        ("FIS_ROLE_ARN", "arn:aws:iam::123456789012:role/fis"),
    ):
        monkeypatch.setenv(key, value)
    return cluster, fis_targets


def test_plan_of_the_smoke_drills_on_aws_shows_concrete_targets_and_changes_nothing(aws, monkeypatch):
    # moto stands in for AWS (no real account here)
    cluster, fis_targets = staging_world(aws, monkeypatch)
    calls = CallLog()
    view = plan_drill("aws-staging.example", tags="smoke")
    text = "\n".join(view.lines())
    assert calls.changing() == [], calls.changing()
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["writer"]
    by_name = {s.name: s for s in view.steps}
    assert set(by_name) >= {"az-outage", "db-primary-crash", "cache-primary-crash", "network-partition"}
    # @primary-zone resolved from the cluster writer's AZ (eu-west-1a): the FIS plan lists exactly those instances
    az = by_name["az-outage"]
    assert all(i in text for i in fis_targets["eu-west-1a"]) and not any(i in text for i in fis_targets["eu-west-1b"])
    assert az.activity == "harness.chaos.aws:fis_az_power_interruption" and az.blast == "within limits"
    crash = by_name["db-primary-crash"]
    assert any(cluster["writer"] in t and t.startswith("touches:") for t in crash.touches)
    assert crash.calls == [f"rds:FailoverDBCluster({CLUSTER}, target={cluster['reader']})"]
    assert "rejoins as a reader" in crash.undo
    assert "guard app error rate > 0.5 over 10 s for 60 s" in crash.guards
    # the example's allowlist holds a placeholder account: the plan says drill run would be refused
    assert any("WOULD BE REFUSED" in a and "123456789012" in a for a in view.allowlist)


def test_plan_shows_a_fault_over_the_limit_as_refused(aws, monkeypatch, tmp_path):
    # moto stands in for AWS (no real account here)
    staging_world(aws, monkeypatch)
    instances(aws, {"eu-west-1a": 6}, tags=FIS_STOP)  # 8 instances in the writer's AZ, limit max_instances=6
    view = plan_drill("aws-staging.example", tags="smoke")
    az = next(s for s in view.steps if s.name == "az-outage")
    assert az.blast.startswith("WOULD BE REFUSED") and "touches 8 instances, limit max_instances=6" in az.blast


# -- offline: no cluster, no account -------------------------------------------------------------------------
LAB_WORDS = ("pg-", "redis-", "sentinel", "haproxy", "etcd", "lab:", "running lab", "lab component")


def test_plan_on_the_kubernetes_example_shows_cluster_resources_and_no_lab_component(monkeypatch):
    # No cluster is needed: the plan is read from the file (namespace, selectors, the objects it would touch).
    monkeypatch.setenv("K8S_NAMESPACE", "freight")
    view = plan_drill("k8s-staging.example")
    text = "\n".join(view.lines())
    assert view.provider == "kubernetes" and "kubernetes contexts" in view.allowlist[0]
    by_name = {s.name: s for s in view.steps if s.kind == "fault"}
    crash = by_name["app-crash"]
    assert crash.activity == "harness.chaos.k8s:chaos_terminate_pods"
    assert "namespace: freight (context not set)" in crash.touches
    assert any("pods in namespace freight matching app=freight-api" in t for t in crash.touches)
    assert any("DELETE pod" in c for c in crash.calls)
    drain = by_name["az-outage"]
    assert any("nodes labelled topology.kubernetes.io/zone=" in t for t in drain.touches)
    assert any("CREATE pod eviction" in c for c in drain.calls) and "uncordon" in drain.undo
    deny = by_name["dependency-failure"]
    assert any("CREATE NetworkPolicy freight/drill-deny-egress-" in c for c in deny.calls)
    assert by_name["db-primary-freeze"].problem.startswith("unsupported on target k8s-staging")
    assert not any(word in text for word in LAB_WORDS), text


def test_plan_on_the_aws_example_offline_names_aws_resources_and_no_lab_component(monkeypatch):
    # No account is needed: without one the describe calls fail, and the plan still names what it would act on.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("RDS_CLUSTER_ID", "freight-staging")
    view = plan_drill("aws-staging.example", tags="smoke")
    text = "\n".join(view.lines())
    assert view.provider == "aws" and view.allowlist[0].startswith("aws accounts")
    crash = next(s for s in view.steps if s.name == "db-primary-crash")
    assert crash.activity == "harness.chaos.aws:rds_cluster_failover"
    assert "acts on: cluster_id=freight-staging" in crash.touches and crash.problem
    assert not any(word in text for word in LAB_WORDS), text


def test_plan_knows_a_steps_fault_from_its_needs_declaration():
    from harness.dryrun import step_to_faults

    assert step_to_faults("the availability zone of the database primary fails") == [
        ("fault", "az-outage", {"zone": "@primary-zone"})
    ]
    assert step_to_faults('the fault "cache-flush" is injected with mode=all') == [
        ("fault", "cache-flush", {"mode": "all"})
    ]
    assert step_to_faults("the database primary freezes for 5 seconds") == [
        ("fault", "db-primary-freeze", {"seconds": "5"})
    ]
    assert step_to_faults("3 seconds pass") == []  # injects nothing: not a fault
    assert step_to_faults("the faults are undone") == []
    assert step_to_faults("something nobody wrote a step for") is None
