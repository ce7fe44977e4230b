"""Safety wired into the paths users run: the target loader validates `environment`/`safety`; `drill run
--target` and the measurement control of `chaos run` preflight (who we are against the allowlist, approval)
before the first fault, and a refusal injects nothing. moto stands in for AWS (no real account can be used
here): its STS answers with account 123456789012."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from aws_world import MOTO_ACCOUNT, REGION, instances, states

from harness.errors import ConfigError
from harness.faults.intent import IntentLog
from harness.targets import load_target

ROOT = Path(__file__).resolve().parents[2]
DRILL = str(Path(sys.executable).with_name("drill"))
CHAOS = str(Path(sys.executable).with_name("chaos"))
OTHER_ACCOUNT = "999999999999"


def aws_target(tmp_path: Path, account: str, environment: str = "staging", name: str = "aws-rehearsal") -> Path:
    """The AWS example target with its allowlist pointed at `account` and the rehearsal region."""
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    data["name"], data["environment"] = name, environment
    data["safety"]["aws"]["account_ids"] = [account]
    data["safety"]["limits"] = {"max_azs": 1, "max_instances": 3}
    data["configuration"]["aws_region"] = REGION
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# -- 1. the loader ---------------------------------------------------------------------------------------------
def test_both_example_targets_load_with_a_valid_environment():
    assert load_target("aws-staging.example").environment == "staging"
    assert load_target("k8s-staging.example").environment == "staging"
    assert load_target("local").environment == "lab"


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda d: d["safety"]["aws"].update(account_ids=["1234"]), "safety.aws.account_ids", "not an AWS account id"),
        (lambda d: d["safety"]["aws"].update(regions=["mars"]), "safety.aws.regions", "not an AWS region"),
        (lambda d: d["safety"]["limits"].update(max_azz=1), "safety.limits.max_azz", "Extra inputs"),
        (lambda d: d["safety"].pop("aws"), "safety", "needs an allowlist"),
        (lambda d: d.update(environment="qa"), "environment", "'lab', 'staging' or 'production'"),
    ],
)
def test_a_bad_safety_section_is_one_config_error_naming_file_and_field(tmp_path, change, field, words):
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_target(str(path))
    assert str(path) in str(err.value) or "bad.yaml" in str(err.value)
    assert field in str(err.value) and words in str(err.value)


# -- 3. drill run --target -------------------------------------------------------------------------------------
def _drill_run(tmp_path: Path, target: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DRILL, "run", "--target", str(target), "--reports", str(tmp_path / "reports"), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=os.environ.copy(),
    )


def test_drill_run_refuses_an_account_off_the_allowlist_before_anything(aws, tmp_path):
    staged = instances(aws, {"eu-west-1a": 2})
    done = _drill_run(tmp_path, aws_target(tmp_path, OTHER_ACCOUNT))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"AWS account {MOTO_ACCOUNT}" in done.stderr and OTHER_ACCOUNT in done.stderr
    assert "nothing was touched" in done.stderr
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"running"}
    assert IntentLog().pending() == []
    assert not (tmp_path / "reports" / "runs").exists()  # refused before a run folder or a record


def test_drill_run_on_production_needs_an_approval(aws, tmp_path):
    target = aws_target(tmp_path, MOTO_ACCOUNT, environment="production")
    done = _drill_run(tmp_path, target)
    assert done.returncode == 2 and "needs an approval" in done.stderr, done.stderr


def test_drill_run_cleared_aws_target_without_its_endpoints_says_which_variable_is_missing(aws, tmp_path, monkeypatch):
    monkeypatch.delenv("APP_URL", raising=False)
    done = _drill_run(tmp_path, aws_target(tmp_path, MOTO_ACCOUNT))
    assert done.returncode == 2, done.stdout + done.stderr
    text = " ".join(done.stderr.split())
    assert "probes.app: environment variable APP_URL is not set" in text, text


# -- 3. the measurement control of chaos run -------------------------------------------------------------------
class _Health:
    """A stand-in app on 127.0.0.1 that is always healthy (the control's probe needs something to measure)."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _experiment(tmp_path: Path, target: Path, app_url: str) -> Path:
    exp = {
        "version": "1.0.0",
        "title": "one AZ of the app tier stops",
        "description": "preflight wiring",
        "configuration": {"aws_region": REGION, "drill_target": str(target)},
        "controls": [
            {
                "name": "drill-measure",
                "provider": {
                    "type": "python",
                    "module": "harness.chaos.control",
                    "arguments": {
                        "probes": [f"app@http={app_url}"],
                        "writers": [],
                        "interval": 0.1,
                        "baseline": 0.5,
                        "stable": 0.5,
                        "deadline": 30,
                        "out_dir": str(tmp_path / "m"),
                    },
                },
            }
        ],
        "method": [
            {
                "type": "action",
                "name": "stop az a",
                "provider": {
                    "type": "python",
                    "module": "harness.chaos.aws",
                    "func": "ec2_az_outage",
                    "arguments": {"zone": f"{REGION}a", "tags": {"Environment": "staging"}},
                },
            }
        ],
        "rollbacks": [],
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(exp))
    return path


def _chaos_run(tmp_path: Path, experiment: Path) -> tuple[subprocess.CompletedProcess, dict]:
    journal = tmp_path / "journal.json"
    done = subprocess.run(
        [CHAOS, "--no-log-file", "run", "--journal-path", str(journal), str(experiment)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=os.environ.copy(),
    )
    return done, json.loads(journal.read_text())


def test_chaos_run_with_a_drill_target_off_the_allowlist_is_interrupted_before_the_method(aws, tmp_path):
    staged = instances(aws, {"eu-west-1a": 2})
    app = _Health()
    try:
        done, journal = _chaos_run(tmp_path, _experiment(tmp_path, aws_target(tmp_path, OTHER_ACCOUNT), app.url))
    finally:
        app.close()
    assert done.returncode != 0
    assert journal["status"] != "completed" and journal["run"] == []
    assert f"AWS account {MOTO_ACCOUNT}" in journal["drill_measurement"]["error"]
    assert journal["drill_measurement"]["clearance"] is None
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"running"}
    assert IntentLog().pending() == []


def test_chaos_run_cleared_records_identity_and_the_fault_goes_through_the_intent_log(aws, tmp_path):
    staged = instances(aws, {"eu-west-1a": 2})
    app = _Health()
    try:
        done, journal = _chaos_run(tmp_path, _experiment(tmp_path, aws_target(tmp_path, MOTO_ACCOUNT), app.url))
    finally:
        app.close()
    clearance = journal["drill_measurement"]["clearance"]
    assert clearance["identity"]["account"] == MOTO_ACCOUNT and clearance["identity"]["region"] == REGION
    assert clearance["environment"] == "staging" and clearance["provider"] == "aws"
    assert journal["run"][0]["status"] == "succeeded", done.stdout + done.stderr
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"stopped"}
    [pending] = IntentLog().pending()  # no rollback in this experiment: the fault stays in force, recorded
    assert pending.id == journal["run"][0]["output"]["id"] and pending.undo[0]["kind"] == "aws_start_instances"
