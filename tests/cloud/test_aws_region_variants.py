"""The region drill's variants (issue 17): region-outage through FIS cross-region connectivity, Route 53 failover
records, the ElastiCache Global Datastore and a Kubernetes app tier per region.

moto stands in for AWS (no account can be reached here): its FIS keeps templates and experiments (create,
start, get, list, stop, delete: a state machine, nothing is disrupted), its Route 53 keeps failover records and
health checks. moto has no ElastiCache global replication groups: those calls go through botocore's Stubber with
responses shaped as the ElastiCache API reference documents them. The Kubernetes app tier runs against the API
stand-in (k8s_api_standin.py: no real cluster can run here). Nothing here times a recovery against ground
truth, so these tests are not marked `timing`; the step durations they print are what docs/aws-region.md quotes.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, safety_for, start_standin
from region_world import (
    ACCOUNT,
    DR,
    ENDPOINT,
    ENDPOINT_DR,
    PRIMARY,
    RECORD,
    World,
    failover_roles,
    region_world,
    use_failover_records,
)
from test_aws_region import env_for, literal_region, target_file

from harness import safety
from harness.chaos import aws as chaos_aws
from harness.errors import ConfigError, HarnessError
from harness.faults import aws_region, aws_region_cache, aws_region_dns
from harness.faults.intent import IntentLog

ROLE = f"arn:aws:iam::{ACCOUNT}:role/drill-fis"
CROSS = "aws:network:route-table-disrupt-cross-region-connectivity"
FEATURE = Path(__file__).resolve().parents[2] / "features" / "region_failover.feature"
STAGING = {"Key": "Environment", "Value": "staging"}


class Ctx:
    """What a runbook step gets (harness.recovery.procedure's context): the RegionRun as `lab`, parameters."""

    def __init__(self, run, **params):
        self.lab, self.params = run, params

    def param(self, name, default=None):
        return self.params.get(name, default)


def _timed(step, ctx) -> tuple[str, float]:
    t0 = time.monotonic()
    out = step(ctx)
    return out, time.monotonic() - t0


# -- outage: fis-cross-region ------------------------------------------------------------------------------------
@pytest.fixture
def fis_steps(moto_url):
    """moto's FIS experiment moves one state per GetExperiment (set explicitly, as in test_aws_fis.py)."""
    httpx.post(
        f"{moto_url}/moto-api/state-manager/set-transition",
        json={"model_name": "fis::experiment", "transition": {"progression": "manual", "times": 1}},
        timeout=10,
    ).raise_for_status()


def _subnets(aws, tagged: int, untagged_env: int = 0) -> tuple[list[str], list[str]]:
    """Subnets of the primary region: `tagged` with DisruptSubnet=Allowed + Environment=staging, `untagged_env`
    with DisruptSubnet only, and one other staging subnet the outage must not name."""
    ec2 = aws.client("ec2", region_name=PRIMARY)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    out: tuple[list[str], list[str]] = ([], [])
    for i in range(tagged + untagged_env + 1):
        tags = [STAGING] if i < tagged or i == tagged + untagged_env else []
        if i < tagged + untagged_env:
            tags.append({"Key": "DisruptSubnet", "Value": "Allowed"})
        sub = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.20.{i}.0/24",
            AvailabilityZone=f"{PRIMARY}{'abc'[i % 3]}",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}] if tags else [],
        )["Subnet"]["SubnetId"]
        if i < tagged + untagged_env:
            (out[0] if i < tagged else out[1]).append(sub)
    return out


def _fis_target(tmp_path: Path, world) -> Path:
    path = target_file(tmp_path, world)
    data = yaml.safe_load(path.read_text())
    data["configuration"]["region"]["outage"] = "fis-cross-region"
    data["configuration"]["region"]["fis_role_arn"] = ROLE
    data["configuration"]["region"]["fis_duration"] = "PT20M"
    data["configuration"]["fis_poll_s"] = 0.01
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _templates(aws) -> list[dict]:
    fis = aws.client("fis", region_name=PRIMARY)
    return [
        fis.get_experiment_template(id=t["id"])["experimentTemplate"]
        for t in fis.list_experiment_templates()["experimentTemplates"]
    ]


def test_fis_cross_region_outage_starts_the_experiment_on_the_tagged_subnets_and_undo_stops_and_deletes(
    aws, fis_steps, tmp_path, monkeypatch
):
    from aws_world import CallLog

    from harness import targets
    from harness.dryrun import plan_drill

    world = region_world(aws)
    cut, [untagged] = _subnets(aws, tagged=3, untagged_env=1)
    path = _fis_target(tmp_path, world)
    for key, value in env_for(world, None).items():
        monkeypatch.setenv(key, value)
    target = targets.load(str(path))
    configuration = target.configuration
    target.preflight()
    calls = CallLog()

    # a subnet the outage would name without the allowlist's tag: refused before any template exists
    with pytest.raises(safety.SafetyRefused) as err:
        chaos_aws.region_outage(configuration=configuration)
    assert f"touches resources without tag Environment=staging: subnet {untagged}" in str(err.value)
    assert calls.changing() == [] and _templates(aws) == []
    aws.client("ec2", region_name=PRIMARY).delete_subnet(SubnetId=untagged)

    # drill plan: which outage, exactly what it touches, every call with its undo; read-only
    plan = aws_region.plan_region_outage(configuration)
    assert "this is the rehearsal the target file chose (outage fis-cross-region)" in "\n".join(plan.lines())
    assert f"{CROSS}: 3 subnets of {PRIMARY} cut off from {DR}" in plan.summary
    assert sorted(r.id for r in plan.resources if r.kind == "subnet" and r.acted) == sorted(cut)
    assert not [r for r in plan.resources if r.acted and r.kind != "subnet"]  # nothing else changes
    assert "fis:DeleteExperimentTemplate" in plan.undo_summary
    shown = "\n".join(plan_drill(str(path), features=[str(FEATURE)]).lines())  # what `drill plan` prints
    assert "(outage fis-cross-region)" in shown and all(f"subnet {s}" in shown for s in cut), shown
    assert "call: fis:CreateExperimentTemplate(" in shown and CROSS in shown
    assert calls.changing() == []

    out = chaos_aws.region_outage(configuration=configuration)
    assert calls.changing() == ["fis:CreateExperimentTemplate", "fis:StartExperiment"], calls.changing()
    [template] = _templates(aws)
    [action] = template["actions"].values()
    assert action["actionId"] == CROSS
    assert action["parameters"] == {"region": DR, "duration": "PT20M"} and action["targets"] == {"Subnets": "subnets"}
    arns = template["targets"]["subnets"]["resourceArns"]
    assert template["targets"]["subnets"]["resourceType"] == "aws:ec2:subnet"
    assert sorted(arns) == sorted(f"arn:aws:ec2:{PRIMARY}:{ACCOUNT}:subnet/{s}" for s in cut)
    assert template["tags"]["drill-fault"] == out["id"] and template["tags"]["Environment"] == "staging"
    assert template["roleArn"] == ROLE
    experiment = out["detail"]["experiment_id"]
    assert out["detail"]["state"] == "running"

    # the undo was recorded before the template existed: the intent log's first record for this fault
    log_text = IntentLog().path.read_text()
    assert log_text.index("aws_fis_stop_drill_experiment") < log_text.index(experiment)
    undone = chaos_aws.undo(out["id"])
    [step] = undone["steps"]
    assert f"experiment {experiment} stopped (final state: stopped)" in step["outcome"], step
    assert calls.changing()[-1] == "fis:DeleteExperimentTemplate" and _templates(aws) == []
    fis = aws.client("fis", region_name=PRIMARY)
    assert fis.get_experiment(id=experiment)["experiment"]["state"]["status"] == "stopped"


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({}, "configuration.region.fis_role_arn", "required with outage fis-cross-region"),
        ({"fis_role_arn": ROLE, "fis_duration": "30 minutes"}, "configuration.region.fis_duration", "ISO 8601"),
        ({"fis_role_arn": ROLE, "fis_duration": "PT13H"}, "configuration.region.fis_duration", "12 h"),
        ({"fis_role_arn": ROLE, "outage_subnet_tags": {}}, "configuration.region.outage_subnet_tags", "one tag"),
    ],
)
def test_a_bad_fis_outage_setting_is_one_error_naming_the_field(change, field, problem):
    region = {**literal_region(), "outage": "fis-cross-region", **change}
    with pytest.raises(ConfigError) as err:
        aws_region.region_setup({"region": region}, "t")
    assert err.value.where == field and problem in err.value.problem, str(err.value)


# -- routing: failover records -----------------------------------------------------------------------------------
def _failover_setup(world, **extra) -> aws_region.RegionSetup:
    region = literal_region()
    region["routing"] = "failover"
    region["dns"] = {"zone_id": world.zone_id, "name": RECORD}
    region["primary"]["health_check"] = world.health_checks["primary"]
    region["dr"]["health_check"] = world.health_checks["dr"]
    region["primary"]["app_url"] = None
    region["primary"].pop("dsn")
    region.update(extra)
    return aws_region.region_setup({"region": region}, "t")


def _dns_world(aws) -> World:
    """Only the Route 53 part of region_world (zone, both health checks, failover records): cheaper."""
    r53 = aws.client("route53", region_name=PRIMARY)
    zone = r53.create_hosted_zone(Name="freight.test.", CallerReference=f"drill-{time.time()}")["HostedZone"]["Id"]
    checks = {
        side: r53.create_health_check(
            CallerReference=f"drill-{side}-{time.time()}",
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": fqdn, "Port": 443, "ResourcePath": "/"},
        )["HealthCheck"]["Id"]
        for side, fqdn in (("primary", ENDPOINT), ("dr", ENDPOINT_DR))
    }
    world = World(zone.split("/")[-1], checks, "", "", aws)
    use_failover_records(world)
    return world


def test_failover_records_swap_roles_for_failover_and_back_and_an_outage_undo_does_not_move_traffic(aws, monkeypatch):
    world = _dns_world(aws)
    setup = _failover_setup(world)
    run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, timeout=10, poll=0.01)
    assert aws_region_dns.dns_answer(run)[0] == [ENDPOINT]

    flipped, t_failover = _timed(aws_region.flip_dns_to_dr, Ctx(run))
    assert failover_roles(world) == {"dr": "PRIMARY", "primary": "SECONDARY"}
    assert f"{RECORD} dr PRIMARY / primary SECONDARY" in flipped and f"answers {ENDPOINT_DR}" in flipped, flipped

    # the region-outage rehearsal inverts the primary's health check and its undo puts it back: neither moves
    # traffic away from DR once the roles are swapped (why the failover swaps roles instead of inverting)
    r53 = world.client("route53", PRIMARY)
    for inverted in (True, False):
        r53.update_health_check(HealthCheckId=world.health_checks["primary"], Inverted=inverted)
        assert aws_region_dns.dns_answer(run)[0] == [ENDPOINT_DR]

    canary, _ = _timed(aws_region.canary_weights, Ctx(run, hold_s="0"))
    assert canary.startswith("not applicable to failover records") and failover_roles(world)["dr"] == "PRIMARY"
    monkeypatch.setattr(aws_region, "verify_region", lambda run, side: f"{side} verified")
    back, t_failback = _timed(aws_region.complete_dns_failback, Ctx(run))
    assert failover_roles(world) == {"primary": "PRIMARY", "dr": "SECONDARY"}
    assert f"answers {ENDPOINT}" in back and back.endswith("primary verified"), back
    # the plan says the same calls, and no canary weights
    calls = aws_region.failback_calls(setup)
    assert not [c for c in calls if "=10," in c or "=50," in c]
    assert aws_region_dns.failover_call(setup, "primary") in calls
    assert aws_region_dns.failover_call(setup, "dr") in aws_region.failover_calls(setup)
    print(f"\nfailover records: DNS failover step {t_failover:.3f} s, failback DNS step {t_failback:.3f} s (moto)")


def test_failover_routing_needs_both_health_checks():
    region = {**literal_region(), "routing": "failover"}
    region["dns"] = {"zone_id": "Z1", "name": RECORD}
    with pytest.raises(ConfigError) as err:
        aws_region.region_setup({"region": region}, "t")
    assert err.value.where == "configuration.region.primary.health_check"


# -- ElastiCache Global Datastore: through botocore's Stubber ------------------------------------------------------
GDS = "ldgnf-freight-staging-cache"


def _gds(primary_role: str, dr_role: str, status: str = "available", dr_status: str = "associated") -> dict:
    """DescribeGlobalReplicationGroups' response, shaped as the ElastiCache API reference documents it."""
    return {
        "GlobalReplicationGroups": [
            {
                "GlobalReplicationGroupId": GDS,
                "Status": status,
                "Engine": "redis",
                "Members": [
                    {
                        "ReplicationGroupId": "freight-staging-cache",
                        "ReplicationGroupRegion": PRIMARY,
                        "Role": primary_role,
                        "AutomaticFailover": "enabled",
                        "Status": "associated",
                    },
                    {
                        "ReplicationGroupId": "freight-staging-cache-dr",
                        "ReplicationGroupRegion": DR,
                        "Role": dr_role,
                        "AutomaticFailover": "enabled",
                        "Status": dr_status,
                    },
                ],
                "ClusterEnabled": False,
                "ARN": f"arn:aws:elasticache::{ACCOUNT}:globalreplicationgroup:{GDS}",
            }
        ]
    }


def _gds_setup():
    """The literal region section with a Global Datastore (its two member groups), typed."""
    region = literal_region()
    region["cache"] = {
        "global_datastore": GDS,
        "primary_group": "freight-staging-cache",
        "dr_group": "freight-staging-cache-dr",
    }
    return aws_region.region_setup({"region": region}, "t")


def test_global_datastore_check_failover_and_failback_through_the_stubber():
    import boto3
    from botocore.stub import Stubber

    setup = _gds_setup()
    sess = boto3.session.Session(aws_access_key_id="stub", aws_secret_access_key="stub")
    clients = {("elasticache", r): sess.client("elasticache", region_name=r) for r in (PRIMARY, DR)}
    run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, clients=clients, timeout=5, poll=0.01)
    describe = {"GlobalReplicationGroupId": GDS, "ShowMemberInfo": True}
    with Stubber(clients[("elasticache", DR)]) as dr, Stubber(clients[("elasticache", PRIMARY)]) as primary:
        dr.add_response("describe_global_replication_groups", _gds("PRIMARY", "SECONDARY"), describe)
        dr.add_response(
            "failover_global_replication_group",
            {"GlobalReplicationGroup": {"GlobalReplicationGroupId": GDS, "Status": "modifying"}},
            {
                "GlobalReplicationGroupId": GDS,
                "PrimaryRegion": DR,
                "PrimaryReplicationGroupId": "freight-staging-cache-dr",
            },
        )
        dr.add_response("describe_global_replication_groups", _gds("PRIMARY", "SECONDARY", "modifying"), describe)
        dr.add_response("describe_global_replication_groups", _gds("SECONDARY", "PRIMARY"), describe)
        primary.add_response(
            "failover_global_replication_group",
            {"GlobalReplicationGroup": {"GlobalReplicationGroupId": GDS, "Status": "modifying"}},
            {
                "GlobalReplicationGroupId": GDS,
                "PrimaryRegion": PRIMARY,
                "PrimaryReplicationGroupId": "freight-staging-cache",
            },
        )
        primary.add_response("describe_global_replication_groups", _gds("PRIMARY", "SECONDARY"), describe)

        steps = {t: a for t, a, _ in aws_region.failover_steps(setup)}
        checked = steps["confirm the cache Global Datastore's replication (plan 3.3 step 2)"](Ctx(run))
        assert "freight-staging-cache-dr (eu-central-1) SECONDARY associated" in checked, checked
        over = steps["fail the cache Global Datastore over to DR (plan 3.3 step 3)"](Ctx(run))
        assert over.startswith("FailoverGlobalReplicationGroup -> freight-staging-cache-dr (eu-central-1)")
        assert "freight-staging-cache-dr (eu-central-1) PRIMARY" in over
        back = {t: a for t, a, _ in aws_region.failback_steps(setup)}
        out = back["switch the cache Global Datastore back to the primary region"](Ctx(run))
        assert "freight-staging-cache (eu-west-1) PRIMARY" in out
        dr.assert_no_pending_responses()
        primary.assert_no_pending_responses()
    titles = [t for t, _, _ in aws_region.failover_steps(setup)]
    assert titles.index("fail the cache Global Datastore over to DR (plan 3.3 step 3)") == (
        titles.index("promote the DR database (plan 3.3 step 3)") + 1
    )
    assert aws_region_cache.calls(setup, "dr")[0] in aws_region.failover_calls(setup)


def test_global_datastore_members_are_tag_checked_before_anything():
    """The two member replication groups, each described in its own region with its tags (Stubber: moto's
    ElastiCache has no global replication groups); a member without the allowlist's tag refuses the drill."""
    import boto3
    from botocore.stub import Stubber

    setup = _gds_setup()
    sess = boto3.session.Session(aws_access_key_id="stub", aws_secret_access_key="stub")
    clients = {("elasticache", r): sess.client("elasticache", region_name=r) for r in (PRIMARY, DR)}
    run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, clients=clients)
    with Stubber(clients[("elasticache", PRIMARY)]) as p, Stubber(clients[("elasticache", DR)]) as d:
        for stub, ident, reg, tags in (
            (p, "freight-staging-cache", PRIMARY, [STAGING]),
            (d, "freight-staging-cache-dr", DR, [{"Key": "Environment", "Value": "prod"}]),
        ):
            arn = f"arn:aws:elasticache:{reg}:{ACCOUNT}:replicationgroup:{ident}"
            stub.add_response(
                "describe_replication_groups",
                {"ReplicationGroups": [{"ReplicationGroupId": ident, "Status": "available", "ARN": arn}]},
                {"ReplicationGroupId": ident},
            )
            stub.add_response("list_tags_for_resource", {"TagList": tags}, {"ResourceName": arn})
        found = aws_region_cache.resources(run, acted=True)
    assert [(r.id, r.tags["Environment"]) for r in found] == [
        ("freight-staging-cache", "staging"),
        ("freight-staging-cache-dr", "prod"),
    ]
    with pytest.raises(
        safety.SafetyRefused,
        match="without tag Environment=staging: elasticache-replication-group freight-staging-cache-dr",
    ):
        safety.check_blast("region-failover", found, safety.Limits(), {"Environment": "staging"})


def test_global_datastore_check_refuses_a_dr_member_not_associated():
    import boto3
    from botocore.stub import Stubber

    setup = _gds_setup()
    client = boto3.session.Session(aws_access_key_id="stub", aws_secret_access_key="stub").client(
        "elasticache", region_name=DR
    )
    run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, clients={("elasticache", DR): client})
    with Stubber(client) as stub:
        stub.add_response(
            "describe_global_replication_groups",
            _gds("PRIMARY", "SECONDARY", dr_status="associating"),
            {"GlobalReplicationGroupId": GDS, "ShowMemberInfo": True},
        )
        with pytest.raises(HarnessError, match="freight-staging-cache-dr is not an associated SECONDARY"):
            aws_region_cache.check(run)


# -- a Kubernetes app tier per region: against the API stand-in ----------------------------------------------------
APP_SEED = {
    "namespaces": [NAMESPACE, "payments"],
    "nodes": [{"name": "node-a1", "zone": "zone-a"}, {"name": "node-b1", "zone": "zone-b"}],
    "deployments": [
        {"namespace": NAMESPACE, "name": "freight-api", "replicas": 3, "image": "registry.example/freight-api:1.0"},
        {"namespace": NAMESPACE, "name": "freight-api-dr", "replicas": 0, "image": "registry.example/freight-api:1.0"},
        {"namespace": "payments", "name": "freight-api-pay", "replicas": 0, "image": "registry.example/p:1"},
    ],
}


@pytest.fixture
def k8s_standin(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    srv = start_standin(tmp_path, APP_SEED)
    try:
        yield srv
    finally:
        srv.stop()


def _k8s_setup(standin, dr_namespace: str = NAMESPACE) -> aws_region.RegionSetup:
    region = literal_region()
    for side, deployment, ns in (("primary", "freight-api", NAMESPACE), ("dr", "freight-api-dr", dr_namespace)):
        region[side].pop("asg")
        region[side]["kubernetes"] = {
            "context": ALLOWED_CONTEXT,
            "namespace": ns,
            "deployment": deployment,
            "kubeconfig": str(standin.kubeconfig),
        }
    region["outage"] = "fis-cross-region"
    region["fis_role_arn"] = ROLE
    return aws_region.region_setup({"region": region}, "t")


def _replicas(standin, name: str, ns: str = NAMESPACE) -> tuple[int, int]:
    dep = standin.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    return dep["spec"]["replicas"], dep.get("status", {}).get("readyReplicas") or 0


def test_kubernetes_app_tier_scales_dr_up_for_failover_and_back_down_for_failback(k8s_standin):
    from harness.faults import aws_region_apptier

    setup = _k8s_setup(k8s_standin)
    run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, timeout=10, poll=0.02, safety=safety_for().safety)
    [primary, dr] = [aws_region_apptier.resource(run, side, side == "dr") for side in ("primary", "dr")]
    assert (primary.kind, primary.id, primary.tags, dr.acted) == ("k8s-deployment", "freight-api", None, True)
    assert dr.state == "replicas 0 (0 ready)"

    up, t_up = _timed(aws_region.scale_dr_app, Ctx(run))
    assert _replicas(k8s_standin, "freight-api-dr") == (2, 2)
    assert "freight-api-dr" in up and "replicas 0 -> 2; 2 ready" in up, up
    assert aws_region_apptier.healthy(run, "dr") and aws_region_apptier.ready_replicas(run, "primary") == 3
    t0 = time.monotonic()
    down = aws_region_apptier.scale_dr_down(run)
    t_down = time.monotonic() - t0
    assert _replicas(k8s_standin, "freight-api-dr")[0] == 0 and down == "deployment freight-api-dr back to 0 replicas"
    assert not k8s_standin.pods(NAMESPACE, "app=freight-api-dr")
    assert _replicas(k8s_standin, "freight-api") == (3, 3)  # the primary region's app tier is not touched
    writes = [(w["method"], w["path"]) for w in k8s_standin.writes()]
    assert writes and all(p.endswith("/deployments/freight-api-dr/scale") for _, p in writes), writes
    assert k8s_standin.users() <= {"drill"}
    assert aws_region_apptier.scale_call(setup, "dr", 2) in aws_region.failover_calls(setup)
    print(f"\nk8s app tier: failover scale-up step {t_up:.3f} s, failback scale-down {t_down:.3f} s (stand-in)")


def test_kubernetes_app_tier_outside_the_namespace_allowlist_is_refused_before_any_request(k8s_standin):
    from harness.faults import aws_region_apptier

    setup = _k8s_setup(k8s_standin, dr_namespace="payments")
    run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, timeout=5, poll=0.02, safety=safety_for().safety)
    before = len(k8s_standin.requests())
    with pytest.raises(safety.SafetyRefused, match="namespace 'payments' is not on this target's allowlist"):
        aws_region.scale_dr_app(Ctx(run))
    assert len(k8s_standin.requests()) == before  # not one request, let alone a write
    no_allowlist = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, safety=safety.SafetySection())
    with pytest.raises(safety.SafetyRefused, match="no safety.kubernetes allowlist"):
        aws_region_apptier.cluster(no_allowlist, "primary")
    assert _replicas(k8s_standin, "freight-api-pay", "payments") == (0, 0)


def test_an_app_tier_is_an_asg_or_a_kubernetes_deployment_not_both():
    region = literal_region()
    region["dr"]["kubernetes"] = {"context": "c", "namespace": "n", "deployment": "d"}
    with pytest.raises(ConfigError) as err:
        aws_region.region_setup({"region": region}, "t")
    assert err.value.where == "configuration.region.dr" and "exactly one of asg or kubernetes" in err.value.problem
    region["dr"].pop("asg")
    region["primary"].pop("asg")
    region["primary"]["kubernetes"] = {"context": "c", "namespace": "n", "deployment": "d"}
    with pytest.raises(ConfigError) as err:  # asg-and-dns scales the primary ASG: there is none
        aws_region.region_setup({"region": region}, "t")
    assert err.value.where == "configuration.region.outage"
