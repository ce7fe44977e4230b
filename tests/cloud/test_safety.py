"""Safety: allowlist, approval, blast radius, abort guards. AWS checks run against a moto server on 127.0.0.1
(moto stands in for AWS because no real account can be used here); the guards judge real samples of a real
local HTTP server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aws_world import CLUSTER, MOTO_ACCOUNT, REGION, CallLog, aurora_cluster, clear, instances, states

from harness import safety
from harness.chaos import aws as chaos_aws
from harness.errors import ConfigError
from harness.faults import aws as faults
from harness.measure import Measurement, parse_probe_spec

CONFIG = {"aws_region": REGION}


def test_an_account_outside_the_allowlist_is_refused_before_any_change(aws):
    # moto stands in for AWS (no real account here); its STS says we are account 123456789012
    cluster = aurora_cluster(aws)
    calls = CallLog()
    with pytest.raises(safety.SafetyRefused) as err:
        clear(accounts=("210987654321",))
    assert f"AWS account {MOTO_ACCOUNT}" in str(err.value) and "210987654321" in str(err.value)
    with pytest.raises(safety.SafetyRefused, match="no safety preflight"):
        chaos_aws.rds_cluster_failover(CLUSTER, configuration=CONFIG)
    assert calls.changing() == [] and "sts:GetCallerIdentity" in calls.names()
    assert faults.rds_cluster_writer(CLUSTER, CONFIG) == cluster["writer"]


def test_a_region_outside_the_allowlist_is_refused(aws):
    section = safety.validate_section(
        "staging", {"aws": {"account_ids": [MOTO_ACCOUNT], "regions": ["eu-central-1"]}}, "t.yaml"
    )
    with pytest.raises(safety.SafetyRefused, match="region eu-west-1 is not on this target's allowlist"):
        safety.preflight(section, region=REGION)


def test_a_fault_over_the_blast_radius_is_refused_and_names_what_it_would_touch(aws):
    # moto stands in for AWS (no real account here)
    staged = instances(aws, {"eu-west-1a": 3})
    clear({"max_azs": 1, "max_instances": 2})
    calls = CallLog()
    with pytest.raises(safety.SafetyRefused) as err:
        chaos_aws.ec2_az_outage("eu-west-1a", configuration=CONFIG)
    msg = str(err.value)
    assert "touches 3 instances, limit max_instances=2" in msg
    assert all(i in msg for i in staged["eu-west-1a"])
    assert calls.changing() == []
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"running"}


def test_unnamed_or_untagged_resources_are_refused(aws):
    # moto stands in for AWS (no real account here)
    aurora_cluster(aws, tags=[{"Key": "Environment", "Value": "production"}])
    clear({"resources": ["freight-staging*"]}, tags={"Environment": "staging"})
    with pytest.raises(safety.SafetyRefused, match="without tag Environment=staging: rds-cluster freight-staging"):
        chaos_aws.rds_cluster_failover(CLUSTER, configuration=CONFIG)
    clear({"resources": ["billing-*"]})
    with pytest.raises(
        safety.SafetyRefused, match=r"outside limits.resources \(billing-\*\): rds-cluster freight-staging"
    ):
        chaos_aws.rds_cluster_failover(CLUSTER, configuration=CONFIG)


def test_acting_in_another_region_than_the_checked_one_is_refused(aws):
    aurora_cluster(aws)
    clear()
    with pytest.raises(safety.SafetyRefused, match="region us-east-1 is not the region preflight checked"):
        chaos_aws.rds_cluster_failover(CLUSTER, configuration={"aws_region": "us-east-1"})


def test_production_needs_an_approval_and_it_is_recorded(aws):
    section = safety.validate_section(
        "production", {"aws": {"account_ids": [MOTO_ACCOUNT], "regions": [REGION]}}, "prod.yaml"
    )
    with pytest.raises(safety.SafetyRefused, match="production: a drill needs an approval"):
        safety.preflight(section)
    with pytest.raises(safety.SafetyRefused, match="go together"):
        safety.preflight(section, approval="CHG-7")
    granted = safety.preflight(section, approval="CHG-7", approver="dr-lead")
    assert granted.approval["ticket"] == "CHG-7" and granted.approval["approver"] == "dr-lead"
    assert granted.identity.account == MOTO_ACCOUNT and safety.current() is granted


@pytest.mark.parametrize(
    "env, raw, field",
    [
        ("aws", {}, "environment"),
        ("staging", {}, "safety"),
        ("staging", {"aws": {"account_ids": ["1234"], "regions": ["eu-west-1"]}}, "safety.aws.account_ids"),
        ("staging", {"aws": {"account_ids": [MOTO_ACCOUNT], "regions": ["mars"]}}, "safety.aws.regions"),
        ("staging", {"kubernetes": {"contexts": [], "namespaces": ["a"]}}, "safety.kubernetes.contexts"),
        ("lab", {"limits": {"max_azs": 0}}, "safety.limits.max_azs"),
    ],
)
def test_a_bad_safety_section_is_one_error_naming_the_field(env, raw, field):
    with pytest.raises(ConfigError) as err:
        safety.validate_section(env, raw, "targets/x.yaml")
    assert str(err.value).startswith(f"targets/x.yaml: {field}")


def test_the_shipped_example_target_validates():
    from harness.targets import load_target

    guard = safety.target_safety(load_target("aws-staging.example"))
    assert guard.environment == "staging" and guard.provider == "aws"
    assert guard.safety.limits.max_azs == 1 and guard.safety.guards[0].probe == "app"


# -- abort guards on real samples -----------------------------------------------------------------------------
class ToggleApp:
    """A real HTTP server on 127.0.0.1 whose /health answers 200 or 500 as the test says."""

    def __init__(self):
        self.ok = True
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200 if app.ok else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def toggle_app():
    app = ToggleApp()
    yield app
    app.close()


def test_a_guard_breached_past_its_grace_aborts_the_method_and_rollbacks_run(toggle_app, tmp_path):
    guard = safety.AbortGuard(probe="app", max_error_rate=0.5, window_s=1.0, grace_s=1.0)
    with Measurement(probes=[parse_probe_spec(f"app@http={toggle_app.url}")], interval=0.05, out_dir=tmp_path) as m:
        m.start()
        m.baseline(0.3)
        aborted = []
        watch = safety.GuardWatch(m, [guard], on_abort=aborted.append, poll_s=0.1)
        steps = [
            ("break the app", lambda: setattr(toggle_app, "ok", False)),
            ("hold the fault 30 s", lambda: safety.wait_unless_aborted(watch, 30)),
            ("never reached", lambda: pytest.fail("the method went on after the abort")),
        ]
        record = safety.run_guarded(
            steps, [("heal the app", lambda: setattr(toggle_app, "ok", True))], watch, since=m.mark_inject("break")
        )
        m.close()
    assert record["aborted"]["by"] == "guard:app" and "grace 1 s" in record["aborted"]["reason"]
    assert [s["name"] for s in record["steps"]] == ["break the app", "hold the fault 30 s"]
    assert record["rollbacks"] == [{"name": "heal the app", "ok": True}] and toggle_app.ok
    assert aborted and aborted[0].by == "guard:app"
    # the decision came after the grace: judge the same real samples again at the decision time
    state = guard.evaluate(m.samples()["app"], now=aborted[0].t, since=m.t_inject)
    assert state.abort and aborted[0].t - state.breached_since >= 1.0


def test_a_blip_shorter_than_the_grace_does_not_abort(toggle_app, tmp_path):
    guard = safety.AbortGuard(probe="app", max_error_rate=0.5, window_s=0.5, grace_s=2.0)
    with Measurement(probes=[parse_probe_spec(f"app@http={toggle_app.url}")], interval=0.05, out_dir=tmp_path) as m:
        m.start()
        m.baseline(0.3)
        watch = safety.GuardWatch(m, [guard], on_abort=lambda d: None, poll_s=0.1).start()
        toggle_app.ok = False
        safety.wait_unless_aborted(watch, 0.6)
        toggle_app.ok = True
        safety.wait_unless_aborted(watch, 2.5)
        decision = watch.stop()
        samples = m.samples()["app"]
        m.close()
    assert decision is None
    assert any(not s.ok for s in samples)  # the blip was real and sampled
    assert not guard.evaluate(samples).breached
