"""An AWS fault's undo lives in the harness intent log: a drill killed -9 right after the fault went in is
repaired by `drill recover` in a fresh process. moto stands in for AWS (no real account can be used here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from aws_world import MOTO_ACCOUNT, REGION, instances, states

DRILL = str(Path(sys.executable).with_name("drill"))

# A drill process: preflight a staging target that allowlists moto's account, stop az-a, say the id, then hang
# (the fault is in force when it is killed).
INJECTOR = textwrap.dedent(f"""
    import sys, time
    from harness import safety
    from harness.chaos import aws
    section = safety.validate_section("staging", {{"aws": {{"account_ids": ["{MOTO_ACCOUNT}"], "regions": ["{REGION}"],
        "resource_tags": {{"Environment": "staging"}}}}, "limits": {{"max_azs": 1, "max_instances": 3}}}}, "t")
    safety.preflight(section)
    out = aws.ec2_az_outage("{REGION}a", tags={{"Environment": "staging"}}, configuration={{"aws_region": "{REGION}"}})
    print(out["id"], flush=True)
    time.sleep(600)
""")


def _drill(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DRILL, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_az_stop_killed_9_is_pending_and_drill_recover_starts_the_instances(aws):
    staged = instances(aws, {"eu-west-1a": 2, "eu-west-1b": 1})
    proc = subprocess.Popen(
        [sys.executable, "-c", INJECTOR],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=os.environ.copy(),
    )
    try:
        fault_id = proc.stdout.readline().strip()
        assert fault_id, proc.stderr.read() if proc.poll() is not None else "no id printed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the harness dies with the fault in force
        proc.wait(timeout=10)
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"stopped"}

    pending = _drill("fault", "pending", "--json")
    assert pending.returncode == 0, pending.stderr
    [entry] = json.loads(pending.stdout)
    assert entry["id"] == fault_id and entry["fault"] == "az-outage" and entry["state"] == "injected"
    assert entry["undo"][0]["kind"] == "aws_start_instances"
    assert sorted(entry["undo"][0]["instance_ids"]) == staged["eu-west-1a"]
    assert entry["undo"][0]["account"] == MOTO_ACCOUNT

    recovered = _drill("recover")  # a fresh process: only the intent log and the environment
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert fault_id in recovered.stdout
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"running"}
    assert states(aws, staged["eu-west-1b"]) == {staged["eu-west-1b"][0]: "running"}
    assert json.loads(_drill("fault", "pending", "--json").stdout or "[]") == []


def test_recover_refuses_to_undo_in_another_account(aws, monkeypatch):
    staged = instances(aws, {"eu-west-1a": 1})
    proc = subprocess.run(
        [sys.executable, "-c", INJECTOR.replace("time.sleep(600)", "")],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    # the environment now holds credentials of a role in another account (moto's STS answers with its account)
    creds = aws.client("sts").assume_role(RoleArn="arn:aws:iam::210987654321:role/elsewhere", RoleSessionName="other")[
        "Credentials"
    ]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    recovered = _drill("recover")
    assert recovered.returncode != 0
    assert "210987654321" in recovered.stdout + recovered.stderr and "nothing was touched" in recovered.stdout
    assert set(states(aws, staged["eu-west-1a"]).values()) == {"stopped"}
