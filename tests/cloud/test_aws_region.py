"""The region drill on AWS (issue 17): `drill run --target <aws file> features/region_failover.feature` against
moto, end to end; its refusals; `drill plan`; the Aurora global calls moto lacks, through botocore's Stubber.

moto stands in for AWS (no account can be reached here) in its server mode, with one fix (moto_promote_fix.py:
a promoted replica stops naming its source, as on AWS). What moto does not do (databases behind RDS, S3
replication, CloudWatch metrics, DNS answers) the region stand-in does (region_world.py), with two real
PostgreSQL servers as the two regions' databases: the writer's ledger is read back from the promoted one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from moto_server import moto_server
from region_world import (
    ACCOUNT,
    ASG,
    ASG_DR,
    BUCKET,
    BUCKET_DR,
    DB,
    DB_DR,
    DR,
    ENDPOINT,
    ENDPOINT_DR,
    PRIMARY,
    RECORD,
    RegionStandIn,
    region_world,
    status_messages,
)

from harness import safety
from harness.errors import ConfigError
from harness.faults import aws_region

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "measure"))
from measure_helpers import start_postgres, stop_postgres  # noqa: E402

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = pytest.mark.timing

ROOT = Path(__file__).resolve().parents[2]
DRILL = str(Path(sys.executable).with_name("drill"))
FEATURE = ROOT / "features" / "region_failover.feature"
LAG_S = 1.5  # the DR replica's lag: the writes of the last LAG_S before the outage are lost
RATE = 20.0  # the feature's writer, writes/s


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    """This module's own moto server (moto_promote_fix.py), shared by its tests."""
    fix = Path(__file__).with_name("moto_promote_fix.py")
    with moto_server(tmp_path_factory.mktemp("moto-region"), [sys.executable, str(fix)]) as url:
        yield url


@pytest.fixture(scope="module")
def databases():
    """The two regions' databases: two real PostgreSQL servers for the module."""
    a = start_postgres()
    try:
        b = start_postgres()
        try:
            yield a, b
        finally:
            stop_postgres(b)
    finally:
        stop_postgres(a)


def target_file(tmp_path: Path, world, *, regions=(PRIMARY, DR), resources=None, hold_s: float = 0.5) -> Path:
    """targets/aws-staging.example.yaml for the rehearsal: moto's account, both regions allowed, the region
    drill's resources named in the limits, short waits; the region section's values come from the environment
    exactly as the example names them (env_for)."""
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    data["name"] = "aws-region-rehearsal"
    data["safety"]["aws"]["account_ids"] = [ACCOUNT]
    data["safety"]["aws"]["regions"] = list(regions)
    data["safety"]["limits"]["resources"] = resources or [
        "freight-staging*",
        world.zone_id,
        *world.health_checks.values(),
        "arn:aws:sns:*:freight-staging*",
    ]
    data["configuration"]["aws_region"] = PRIMARY
    data["procedures"]["region-failover"]["action"]["arguments"] = {"timeout": 60, "poll": 0.2}
    data["procedures"]["region-failback"]["action"]["arguments"] = {"timeout": 60, "poll": 0.2, "hold_s": hold_s}
    data["measure"] = {"probes": ["app"], "writers": ["postgres"], "interval": 0.1, "stable": 1.0}
    path = tmp_path / "aws-region-rehearsal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def env_for(world, standin: RegionStandIn | None, bucket: str = BUCKET) -> dict[str, str]:
    app = standin.app.url if standin else "http://127.0.0.1:9"
    return {
        "AWS_REGION": PRIMARY,
        "DR_REGION": DR,
        "RDS_PRIMARY_ID": DB,
        "RDS_DR_ID": DB_DR,
        "APP_ASG_NAME": ASG,
        "DR_ASG_NAME": ASG_DR,
        "S3_PRIMARY_BUCKET": bucket,
        "S3_DR_BUCKET": BUCKET_DR,
        "PRIMARY_ENDPOINT": ENDPOINT,
        "DR_ENDPOINT": ENDPOINT_DR,
        "PRIMARY_HEALTH_CHECK_ID": world.health_checks["primary"],
        "DR_HEALTH_CHECK_ID": world.health_checks["dr"],
        "PRIMARY_APP_URL": f"{app}/primary/health",
        "DR_APP_URL": f"{app}/dr/health",
        "PRIMARY_PG_DSN": standin.dsn("primary") if standin else "postgresql://drill@127.0.0.1:9/postgres",
        "DR_PG_DSN": standin.dsn("dr") if standin else "postgresql://drill@127.0.0.1:9/postgres",
        "ROUTE53_ZONE_ID": world.zone_id,
        "APP_DNS_NAME": RECORD,
        "DR_SNS_TOPIC_ARN": world.topic_arn,
        "APP_URL": app,
        "PG_DSN": standin.dsn() if standin else "postgresql://drill@127.0.0.1:9/postgres",
    }


def literal_region() -> dict:
    """A filled-in region section (no environment), for the in-process tests."""
    side = {"asg": ASG, "set_identifier": "primary", "endpoint": ENDPOINT, "bucket": BUCKET}
    return {
        "primary": {**side, "region": PRIMARY, "database": DB, "dsn": "postgresql://drill@127.0.0.1:9/postgres"},
        "dr": {
            **side,
            "region": DR,
            "database": DB_DR,
            "asg": ASG_DR,
            "bucket": BUCKET_DR,
            "set_identifier": "dr",
            "endpoint": ENDPOINT_DR,
            "dsn": "postgresql://drill@127.0.0.1:9/postgres",
        },
        "dns": {"zone_id": "Z1", "name": RECORD},
        "sns_topic_arn": f"arn:aws:sns:{DR}:{ACCOUNT}:freight-staging-dr-status",
    }


def drill(tmp_path: Path, target: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            DRILL,
            *args,
            "--target",
            str(target),
            *(["--yes", "--reports", str(tmp_path / "reports")] if args[0] == "run" else []),
            str(FEATURE),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, **env},
    )


def moto_state(world) -> dict:
    """What a drill would change: the databases' roles, the app tiers, the health checks, the weights, the
    buckets' objects and the topic's messages."""
    out = {}
    for region, _ident in ((PRIMARY, DB), (DR, DB_DR)):
        dbs = world.client("rds", region).describe_db_instances()["DBInstances"]
        out[region] = sorted((d["DBInstanceIdentifier"], d.get("ReadReplicaSourceDBInstanceIdentifier")) for d in dbs)
    for region, name in ((PRIMARY, ASG), (DR, ASG_DR)):
        g = world.client("autoscaling", region).describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        out[name] = g["AutoScalingGroups"][0]["DesiredCapacity"]
    r53 = world.client("route53", PRIMARY)
    out["inverted"] = [
        r53.get_health_check(HealthCheckId=h)["HealthCheck"]["HealthCheckConfig"].get("Inverted")
        for h in world.health_checks.values()
    ]
    sets = r53.list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]
    out["weights"] = sorted((r["SetIdentifier"], r["Weight"]) for r in sets if "SetIdentifier" in r)
    for region, bucket in ((PRIMARY, BUCKET), (DR, BUCKET_DR)):
        listing = world.client("s3", region).list_object_versions(Bucket=bucket)
        out[bucket] = len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))
    out["messages"] = len(status_messages(world))
    return out


# -- the whole drill ---------------------------------------------------------------------------------------------
def test_the_region_drill_runs_end_to_end_on_aws_with_every_step_timed(aws, databases, tmp_path):
    world = region_world(aws)
    pg_primary, pg_dr = databases
    standin = RegionStandIn(world, pg_primary, pg_dr, lag_s=LAG_S)
    target = target_file(tmp_path, world)
    try:
        done = drill(tmp_path, target, env_for(world, standin), "run")
    finally:
        truth = standin.close()
    out = done.stdout + done.stderr
    assert truth.error is None, truth.error
    assert done.returncode == 0, out[-6000:]
    assert len(truth.dark_at) == 2  # one region outage per scenario

    [run_dir] = (tmp_path / "reports" / "runs").iterdir()
    scenarios = {json.loads((d / "drill.json").read_text())["name"]: d for d in (run_dir / "scenarios").iterdir()}
    first = json.loads((scenarios["The primary region fails and the DR region takes over"] / "drill.json").read_text())
    titles = {
        "region-failover": [t for t, _, _ in aws_region.FAILOVER_STEPS],
        "region-failback": [t for t, _, _ in aws_region.FAILBACK_STEPS],
    }
    procs = {p["procedure"]: p for p in first["procedures"]}
    for name, expected in titles.items():
        steps = procs[name]["steps"]
        assert [s["title"] for s in steps] == expected and all(s["ok"] for s in steps), steps
        assert all(s["duration_s"] >= 0 for s in steps) and steps[0]["confirmed_by"] == "auto-confirmed (--yes)"
    failover = {s["title"]: s["outcome"] for s in procs["region-failover"]["steps"]}
    assert (
        f"expected RPO {LAG_S:g} s (CloudWatch replica lag) within the RPO target 900 s"
        in failover[titles["region-failover"][1]]
    )
    assert "replicated" in failover[titles["region-failover"][3]] and truth.s3_copied
    assert f"answers {ENDPOINT_DR}" in failover[titles["region-failover"][6]]
    assert "canary write" in failover[titles["region-failover"][7]]

    # the RPO comes from the ledger read back from the promoted DR database: exactly the writes not copied to it
    m = first["measurement"]
    [w] = m["writers"]
    t_inject = datetime.fromisoformat(m["t_inject_wall"]).timestamp()
    promoted = next(t for t, side in truth.routes if side == "dr" and t > t_inject)  # writes reach the DR database
    on_dr = {seq for t, run, seq in truth.copied["dr"] if run == m["run_id"] and t < promoted}
    assert w["lost_seqs"] and not set(w["lost_seqs"]) & on_dr and w["unexpected_writes"] == 0, w
    assert set(range(1, max(w["lost_seqs"]) + 1)) - set(w["lost_seqs"]) <= on_dr  # every other acked write is there
    # the writes of the last lag_s before the region went dark are lost. RPO = t_inject - the ack of the last
    # write replicated: positive when the outage's read-only describe calls took less than the lag, else 0
    dark = next(t for t in truth.dark_at if t > t_inject)
    assert abs(m["lost_writes"] - LAG_S * RATE) <= 0.25 * LAG_S * RATE + 2, m["lost_writes"]
    rpo_truth = max(0.0, t_inject - (dark - LAG_S))
    assert abs(m["rpo_s"] - rpo_truth) <= m["uncertainty_s"] + 1 / RATE + 0.1, (m["rpo_s"], rpo_truth)
    assert m["recovered"] and m["verdict"]["passed"] is True
    assert {c["what"]: c["ok"] for c in first["checks"]} == {"rto": True, "rpo": True, "target_healthy": True}

    # every step, timed, in the Allure result too (the procedure's steps attachment of each scenario)
    [allure_dir] = (tmp_path / "reports").rglob("allure-results")
    logs = {}
    for result in allure_dir.glob("*-result.json"):
        text = result.read_text()
        for source in re.findall(r'"name": "recovery procedure (region-fail\w+): steps", "source": "([^"]+)"', text):
            logs.setdefault(source[0], []).append((allure_dir / source[1]).read_text())
    for name, expected in titles.items():
        assert len(logs[name]) == 2, logs.keys()  # both scenarios
        for title in expected:
            assert re.search(r"ok +\d+\.\d\ds  " + re.escape(title) + ": ", logs[name][0]), (title, logs[name][0])

    # the plan's status updates (step 7 and the failback's), through the topic's SQS subscription
    statuses = [m["status"] for m in status_messages(world)]
    assert len(statuses) == 4 and sum("DR region" in t and "runs in" in t for t in statuses) == 2, statuses
    # the end state: the primary region serves, DR is a replica again
    state = moto_state(world)
    assert (DB_DR, f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:{DB}") in state[DR]
    assert state[ASG] == 2  # the outage's undo put the primary app tier back
    assert state[ASG_DR] == 0 and state["weights"] == [("dr", 0), ("primary", 100)]
    assert state["inverted"] == [False, False]
    assert state[BUCKET] == state[BUCKET_DR] == 2 * 2  # each canary: one version and its delete marker per run
    print(
        f"\nregion drill: rto {m['rto_s']:.2f} s, lost {m['lost_writes']} writes, rpo {m['rpo_s']:.3f} s "
        f"(±{m['uncertainty_s']}); failover steps "
        + ", ".join(f"{s['duration_s']:.2f}" for s in procs["region-failover"]["steps"])
    )


# -- refusals: before anything is touched, exit 2, moto unchanged --------------------------------------------------
def test_an_untagged_resource_refuses_the_drill_run_with_exit_2_and_nothing_changes(aws, tmp_path):
    world = region_world(aws, untagged=ASG_DR)
    target = target_file(tmp_path, world)
    before = moto_state(world)
    done = drill(tmp_path, target, env_for(world, None), "run")
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-4000:]
    assert f"touches resources without tag Environment=staging: autoscaling-group {ASG_DR}" in out, out[-3000:]
    assert moto_state(world) == before
    assert not list((tmp_path / "reports").rglob("drill.json"))  # no scenario started


@pytest.mark.parametrize("case", ["DR region off the allowlist", "bucket not named in the limits"])
def test_the_region_preflight_refuses_before_any_change(aws, tmp_path, monkeypatch, case):
    """The preflight `drill run` makes (AwsTarget.preflight), in process: SafetyRefused, not one changing call."""
    from aws_world import CallLog

    from harness import targets

    world = region_world(aws)
    regions = (PRIMARY,) if "allowlist" in case else (PRIMARY, DR)
    resources = None
    if case.startswith("bucket"):
        resources = ["freight-staging-db*", "freight-staging-app*", BUCKET_DR, world.zone_id]
        resources += [*world.health_checks.values(), "arn:aws:sns:*:freight-staging*"]
    target = target_file(tmp_path, world, regions=regions, resources=resources)
    for key, value in env_for(world, None).items():
        monkeypatch.setenv(key, value)
    before = moto_state(world)
    calls = CallLog()
    with pytest.raises(safety.SafetyRefused) as err:
        targets.load(str(target)).preflight()
    assert calls.changing() == [] and moto_state(world) == before
    expected = {
        "DR region off the allowlist": f"the dr region {DR} (configuration.region.dr.region) is not on this "
        f"target's allowlist (safety.aws.regions: {PRIMARY}); nothing was touched",
        "bucket not named in the limits": f"names resources outside limits.resources (freight-staging-db*, "
        f"freight-staging-app*, {BUCKET_DR}",
    }[case]
    assert expected in str(err.value), str(err.value)
    assert case.startswith("DR") or f"s3-bucket {BUCKET}" in str(err.value)
    assert safety.current() is None  # a refused preflight leaves no clearance behind


# -- drill plan: every AWS call, in order, with its undo -----------------------------------------------------------
def test_drill_plan_lists_every_aws_call_of_the_region_drill_in_order_with_its_undo(aws, tmp_path, monkeypatch):
    from aws_world import CallLog

    from harness.dryrun import plan_drill

    world = region_world(aws)
    target = target_file(tmp_path, world)
    for key, value in env_for(world, None).items():
        monkeypatch.setenv(key, value)
    before = moto_state(world)
    calls = CallLog()
    text = "\n".join(plan_drill(str(target), features=[str(FEATURE)]).lines())
    assert calls.changing() == [], calls.changing()
    assert moto_state(world) == before
    setup = aws_region.region_setup(yaml.safe_load(target.read_text())["configuration"], "t")
    for expected in (
        aws_region.outage_calls(setup, "min 0, desired 2"),
        aws_region.failover_calls(setup),
        aws_region.failback_calls(setup),
    ):
        shown = iter(
            line.strip().removeprefix("call: ") for line in text.splitlines() if line.strip().startswith("call: ")
        )
        missing = [c for c in expected if not any(c == line for line in shown)]  # in this order, each after the last
        assert missing == [], (missing, text)
    assert (
        f"undo: {ASG} back to min 0 / desired 2, health check {world.health_checks['primary']} Inverted=false" in text
    )
    assert "this is the rehearsal the target file chose (outage asg-and-dns)" in text
    assert f"touches: autoscaling-group {ASG} | primary app tier" in text


# -- the region section: precise errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda r: r["dr"].update(region="Frankfurt"), "configuration.region.dr.region", "not an AWS region name"),
        (lambda r: r.pop("dns"), "configuration.region.dns", "Field required"),
        (lambda r: r.update(canary_prefix="assets/"), "configuration.region.canary_prefix", "its own prefix"),
        (lambda r: r.update(canary_weights=[50, 10, 100]), "configuration.region.canary_weights", "ending at 100"),
        (lambda r: r["primary"].update(bucket_name="x"), "configuration.region.primary.bucket_name", "Extra inputs"),
        (
            lambda r: r["database"].update(mode="aurora-global"),
            "configuration.region.database.global_cluster",
            "required",
        ),
    ],
)
def test_a_bad_region_section_is_one_error_naming_the_field(tmp_path, change, field, problem):
    from harness import targets

    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    change(data["configuration"]["region"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        targets.load(str(path))
    assert err.value.where == field and problem in err.value.problem, str(err.value)


def test_a_placeholder_names_its_environment_variable(monkeypatch):
    monkeypatch.delenv("DR_REGION", raising=False)
    config = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())["configuration"]
    with pytest.raises(ConfigError, match=r"configuration\.region\.primary\.region: .*set AWS_REGION") as err:
        monkeypatch.delenv("AWS_REGION", raising=False)
        aws_region.region_setup(config, "example")
    assert err.value.path == "example"


# -- Aurora global database: the calls moto lacks, through botocore's Stubber --------------------------------------
def test_aurora_global_failover_through_the_stubber(aws):
    """moto has no FailoverGlobalCluster / SwitchoverGlobalCluster / DescribeGlobalClusters: the responses are
    shaped as the RDS API reference documents them."""
    from botocore.stub import Stubber

    region = literal_region()
    region["database"] = {"mode": "aurora-global", "global_cluster": "freight-staging-global"}
    region["primary"]["database"], region["dr"]["database"] = "freight-staging-eu", "freight-staging-dr"
    del region["dr"]["dsn"]
    setup = aws_region.region_setup({"region": region}, "test")
    rds = aws.client("rds", region_name=DR)
    arn = f"arn:aws:rds:{DR}:{ACCOUNT}:cluster:freight-staging-dr"
    primary_arn = f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:cluster:freight-staging-eu"
    with Stubber(rds) as stub:
        stub.add_response(
            "describe_db_clusters",
            {"DBClusters": [{"DBClusterIdentifier": "freight-staging-dr", "DBClusterArn": arn, "Status": "available"}]},
            {"DBClusterIdentifier": "freight-staging-dr"},
        )
        stub.add_response(
            "failover_global_cluster",
            {"GlobalCluster": {"GlobalClusterIdentifier": "freight-staging-global", "Status": "failing-over"}},
            {
                "GlobalClusterIdentifier": "freight-staging-global",
                "TargetDbClusterIdentifier": arn,
                "AllowDataLoss": True,
            },
        )
        for writer in (primary_arn, arn):
            stub.add_response(
                "describe_global_clusters",
                {
                    "GlobalClusters": [
                        {
                            "GlobalClusterIdentifier": "freight-staging-global",
                            "GlobalClusterMembers": [
                                {"DBClusterArn": primary_arn, "IsWriter": writer == primary_arn},
                                {"DBClusterArn": arn, "IsWriter": writer == arn},
                            ],
                        }
                    ]
                },
                {"GlobalClusterIdentifier": "freight-staging-global"},
            )
        run = aws_region.RegionRun(setup, {"aws_region": PRIMARY}, clients={("rds", DR): rds}, timeout=5, poll=0.01)
        ctx = type("Ctx", (), {"lab": run, "params": {}, "param": lambda self, n, d=None: d})()
        outcome = aws_region.promote_dr_database(ctx)
        stub.assert_no_pending_responses()
    assert outcome.startswith("FailoverGlobalCluster -> freight-staging-dr: available in eu-central-1")
