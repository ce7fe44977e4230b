"""Network faults on AWS through FIS (harness/faults/aws_fis.py), against moto's FIS, EC2 and STS on 127.0.0.1:
moto stands in for AWS (no real account can be used here). moto implements FIS templates and experiments
(create, start, get, list, stop, delete) with a state machine pending -> initiating -> running, stopping ->
stopped; it does not run the SSM documents or touch network ACLs, so these tests prove the calls, the
template, the lifecycle and the undo, not the latency on a real instance."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from aws_world import MOTO_ACCOUNT, REGION, CallLog, clear, instances

from harness import safety
from harness.chaos import aws as chaos_aws
from harness.errors import HarnessError
from harness.faults import aws_fis
from harness.faults.intent import IntentLog
from harness.measure import Measurement, parse_probe_spec

ROLE = f"arn:aws:iam::{MOTO_ACCOUNT}:role/drill-fis"
CONFIG = {
    "aws_region": REGION,
    "instance_targets": {"app": {"tags": {"Role": "app"}, "port": 8080}},
    "dependencies": {"db": {"scope": "prefix-list", "prefix_list_id": "pl-0123456789abcdef0"}},
    "app_subnet_tags": {"Tier": "app"},
    "fis_poll_s": 0.01,
}
APP = [{"Key": "Environment", "Value": "staging"}, {"Key": "Role", "Value": "app"}]


@pytest.fixture(autouse=True)
def fis_steps_on_every_get(moto_url):
    """moto's FIS experiment moves one state per GetExperiment (its default); set explicitly so the test does
    not depend on another test's setting."""
    httpx.post(
        f"{moto_url}/moto-api/state-manager/set-transition",
        json={"model_name": "fis::experiment", "transition": {"progression": "manual", "times": 1}},
        timeout=10,
    ).raise_for_status()


def _templates(aws) -> list[dict]:
    fis = aws.client("fis")
    return [
        fis.get_experiment_template(id=t["id"])["experimentTemplate"]
        for t in fis.list_experiment_templates()["experimentTemplates"]
    ]


def _listed_state(aws, experiment: str) -> str:
    """The state through ListExperiments: moto moves an experiment one state per GetExperiment (so a running
    one would 'complete' when probed); listing leaves it where it is."""
    found = aws.client("fis").list_experiments()["experiments"]
    return next(e["state"]["status"] for e in found if e["id"] == experiment)


def test_latency_creates_a_tagged_template_on_exactly_the_planned_instances_and_undo_stops_and_deletes(aws):
    app = instances(aws, {"eu-west-1a": 2}, tags=APP)["eu-west-1a"]
    other = instances(aws, {"eu-west-1a": 1})["eu-west-1a"]  # staging, not the app: untouched
    clear({"max_instances": 2}, tags={"Environment": "staging"})
    calls = CallLog()
    out = chaos_aws.fis_network_latency("app", ROLE, 250, configuration=CONFIG)
    assert calls.changing() == ["fis:CreateExperimentTemplate", "fis:StartExperiment"]
    [template] = _templates(aws)
    assert template["tags"]["drill-fault"] == out["id"] and template["tags"]["Environment"] == "staging"
    assert out["id"] in template["description"]
    [action] = template["actions"].values()
    assert action["actionId"] == "aws:ssm:send-command"
    assert action["parameters"]["documentArn"] == f"arn:aws:ssm:{REGION}::document/AWSFIS-Run-Network-Latency"
    assert json.loads(action["parameters"]["documentParameters"])["DelayMilliseconds"] == "250"
    arns = template["targets"]["instances"]["resourceArns"]
    assert sorted(a.rsplit("/", 1)[1] for a in arns) == app and not set(other) & {a.rsplit("/", 1)[1] for a in arns}
    experiment = out["detail"]["experiment_id"]
    assert out["detail"]["state"] == "running" and _listed_state(aws, experiment) == "running"

    undone = chaos_aws.undo(out["id"])
    [step] = undone["steps"]
    assert step["kind"] == "aws_fis_stop_drill_experiment"
    assert f"experiment {experiment} stopped (final state: stopped)" in step["outcome"]
    assert "fis:StopExperiment" in calls.changing() and calls.changing()[-1] == "fis:DeleteExperimentTemplate"
    assert aws.client("fis").get_experiment(id=experiment)["experiment"]["state"]["status"] == "stopped"
    assert _templates(aws) == []
    assert chaos_aws.undo(out["id"])["why"] == "already undone"
    # the intent log keeps the experiment id (injected detail) and its final state (the undo's outcome)
    log = IntentLog()
    [intent] = log.intents().values()
    assert intent.detail["result"]["experiment_id"] == experiment
    assert f"experiment {experiment} stopped (final state: stopped)" in log.path.read_text()


def test_blackhole_uses_the_port_document_and_the_targets_port(aws):
    instances(aws, {"eu-west-1b": 1}, tags=APP)
    clear(tags={"Environment": "staging"})
    out = chaos_aws.fis_network_blackhole("app", ROLE, configuration=CONFIG)
    [template] = _templates(aws)
    [action] = template["actions"].values()
    assert action["parameters"]["documentArn"].endswith("document/AWSFIS-Run-Network-Blackhole-Port")
    params = json.loads(action["parameters"]["documentParameters"])
    assert (params["Port"], params["Protocol"], params["TrafficType"]) == ("8080", "tcp", "ingress")
    chaos_aws.undo(out["id"])
    assert _templates(aws) == []


def test_dependency_failure_disrupts_the_app_subnets_towards_the_dependency_prefix_list(aws):
    ec2 = aws.client("ec2")
    subnets = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"])[:2]
    ec2.create_tags(Resources=subnets, Tags=[{"Key": "Tier", "Value": "app"}, *APP[:1]])
    clear({"max_azs": 3}, tags={"Environment": "staging"})
    out = chaos_aws.fis_disrupt_connectivity("db", ROLE, duration="PT5M", configuration=CONFIG)
    [template] = _templates(aws)
    [action] = template["actions"].values()
    assert action["actionId"] == "aws:network:disrupt-connectivity"
    assert action["parameters"] == {
        "duration": "PT5M",
        "scope": "prefix-list",
        "prefixListIdentifier": "pl-0123456789abcdef0",
    }
    assert sorted(a.rsplit("/", 1)[1] for a in template["targets"]["subnets"]["resourceArns"]) == subnets
    chaos_aws.undo(out["id"])
    assert _templates(aws) == []


def test_an_instance_without_the_allowlisted_tag_refuses_before_any_template(aws):
    instances(aws, {"eu-west-1a": 1}, tags=[{"Key": "Role", "Value": "app"}])  # no Environment=staging
    clear(tags={"Environment": "staging"})
    calls = CallLog()
    with pytest.raises(safety.SafetyRefused, match="without tag Environment=staging"):
        chaos_aws.fis_network_latency("app", ROLE, 100, configuration=CONFIG)
    assert calls.changing() == [] and _templates(aws) == [] and IntentLog().pending() == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: aws_fis.plan_fis_network_latency("app", ROLE, 100, jitter=20, configuration=CONFIG), "jitter"),
        (lambda: aws_fis.plan_fis_network_latency("web", ROLE, 100, configuration=CONFIG), "instance_targets"),
        (lambda: aws_fis.plan_fis_network_latency("app", "<FIS_ROLE_ARN>", 100, configuration=CONFIG), "role_arn"),
        (lambda: aws_fis.plan_fis_network_latency("app", ROLE, 100, duration="PT0S", configuration=CONFIG), "duration"),
        (lambda: aws_fis.plan_fis_disrupt_connectivity("cache", ROLE, configuration=CONFIG), "dependencies"),
    ],
)
def test_bad_arguments_are_one_clear_error(aws, call, message):
    calls = CallLog()
    with pytest.raises(HarnessError, match=message):
        call()
    assert calls.changing() == []


class ExperimentHurtsApp:
    """The ground truth of the guard test: /health is 503 while any FIS experiment is running (what a latency
    fault does to a real app). It reads ListExperiments, which does not move moto's state machine."""

    def __init__(self, session):
        fis = session.client("fis", region_name=REGION)
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                running = any(e["state"]["status"] == "running" for e in fis.list_experiments()["experiments"])
                app.seen_running = app.seen_running or running
                self.send_response(503 if running else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.seen_running = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_abort_guard_stops_the_fis_experiment(aws, tmp_path):
    instances(aws, {"eu-west-1a": 1}, tags=APP)
    clear(tags={"Environment": "staging"})
    app = ExperimentHurtsApp(aws)
    guard = safety.AbortGuard(probe="app", max_error_rate=0.5, window_s=0.5, grace_s=0.5)
    injected: dict = {}
    try:
        with Measurement(
            probes=[parse_probe_spec(f"app@http={app.url}")], interval=0.05, stable=0.3, out_dir=tmp_path
        ) as m:
            m.start()
            m.baseline(0.3)
            watch = safety.GuardWatch(m, [guard], on_abort=lambda d: None, poll_s=0.05)
            steps = [
                (
                    "latency",
                    lambda: injected.update(chaos_aws.fis_network_latency("app", ROLE, 500, configuration=CONFIG)),
                ),
                ("hold 30 s", lambda: safety.wait_unless_aborted(watch, 30)),
            ]
            record = safety.run_guarded(
                steps, [("undo", lambda: chaos_aws.undo(injected["id"]))], watch, since=m.mark_inject("latency")
            )
            assert m.wait_recovered(10)
            m.close()
    finally:
        app.close()
    assert app.seen_running and record["aborted"]["by"] == "guard:app"
    assert record["rollbacks"] == [{"name": "undo", "ok": True}]
    experiment = injected["detail"]["experiment_id"]
    assert aws.client("fis").get_experiment(id=experiment)["experiment"]["state"]["status"] == "stopped"
    assert _templates(aws) == [] and IntentLog().pending() == []


def test_a_start_that_fails_after_the_template_exists_deletes_the_template(aws):
    # the undo is recorded before CreateExperimentTemplate: a failure between create and start leaves nothing
    import boto3

    instances(aws, {"eu-west-1a": 1}, tags=APP)
    clear(tags={"Environment": "staging"})
    calls = CallLog()

    def refuse_start(**_):
        raise RuntimeError("StartExperiment refused (the test's stand-in for a throttled or denied call)")

    boto3.DEFAULT_SESSION.events.register("before-call.fis.StartExperiment", refuse_start)
    try:
        with pytest.raises(RuntimeError, match="StartExperiment refused"):
            chaos_aws.fis_network_latency("app", ROLE, 100, configuration=CONFIG)
    finally:
        boto3.DEFAULT_SESSION.events.unregister("before-call.fis.StartExperiment", refuse_start)
    assert "fis:CreateExperimentTemplate" in calls.changing()
    assert calls.changing()[-1] == "fis:DeleteExperimentTemplate"
    assert _templates(aws) == [] and IntentLog().pending() == []
