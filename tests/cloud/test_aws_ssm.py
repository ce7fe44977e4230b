"""Process faults on AWS through SSM Run Command (harness/faults/aws_ssm.py) against moto's SSM, EC2 and STS on
127.0.0.1 (moto stands in for AWS: no real account here). moto records the commands but runs nothing; the SSM
agent is stood in by tests/cloud/ssm_agent.py, which runs each command's script on this machine against real
processes the test started (copies of sleep under a unique name)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from aws_world import REGION, CallLog, clear, instances
from ssm_agent import LocalSsmAgent

from harness.chaos import aws as chaos_aws
from harness.errors import HarnessError
from harness.faults import aws_ssm
from harness.faults.intent import IntentLog
from harness.faults.undo import read_stat

APP = [{"Key": "Environment", "Value": "staging"}, {"Key": "Role", "Value": "app"}]


def _config(name: str) -> dict:
    return {
        "aws_region": REGION,
        "instance_targets": {"app": {"tags": {"Role": "app"}, "process": name}},
        "ssm_poll_s": 0.01,
    }


class Victims:
    """Real processes with a unique command name (a copy of sleep), stopped by their PIDs at the end."""

    def __init__(self, tmp_path: Path):
        self.name = "drv" + uuid.uuid4().hex[:8]
        self.binary = tmp_path / self.name
        shutil.copy(shutil.which("sleep"), self.binary)
        self.procs: list[subprocess.Popen] = []

    def start(self, n: int = 1, name: str | None = None, prefix: list[str] | None = None) -> list[int]:
        binary = self.binary if name is None else self.binary.with_name(name)
        if name is not None:
            shutil.copy(self.binary, binary)
        started = [subprocess.Popen([*(prefix or []), str(binary), "120"], start_new_session=True) for _ in range(n)]
        self.procs += started
        return [p.pid for p in started]

    def state(self, pid: int) -> str | None:
        stat = read_stat(pid)
        return None if stat is None or stat["state"] in ("Z", "X") else stat["state"]

    def wait_state(self, pid: int, want: set, timeout: float = 5.0) -> str | None:
        deadline = time.monotonic() + timeout
        while self.state(pid) not in want and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.state(pid)

    def start_shell(self, script: str) -> int:
        """A copy of sh under the unique name running `script` (its command line shows the script)."""
        shell = self.binary.with_name(self.name)
        shutil.copy(shutil.which("sh"), shell)
        proc = subprocess.Popen([str(shell), "-c", script], start_new_session=True)
        self.procs.append(proc)
        return proc.pid

    def close(self) -> None:
        for p in self.procs:  # each in a session of its own: the group is the victim and what it started
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGCONT)
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


@pytest.fixture
def victims(tmp_path):
    v = Victims(tmp_path)
    yield v
    v.close()


@pytest.fixture
def calls(aws):
    return CallLog()  # first: it sets up the default session the agent hooks into


@pytest.fixture
def agent(aws, calls):
    a = LocalSsmAgent(aws)
    yield a
    a.close()


def test_freeze_lists_first_stops_exactly_the_listed_processes_and_undo_continues_them(aws, victims, calls, agent):
    [instance] = instances(aws, {"eu-west-1a": 1}, tags=APP)["eu-west-1a"]
    pids = victims.start(2)
    [bystander] = victims.start(1, name=victims.name + "x")  # another name: pgrep -x does not match it
    clear(tags={"Environment": "staging"})
    out = chaos_aws.ssm_process_freeze("app", configuration=_config(victims.name))
    assert calls.changing() == ["ssm:SendCommand", "ssm:SendCommand"]  # the listing, then the signal
    assert "pgrep -x" in agent.scripts[0] and "kill" not in agent.scripts[0]  # the read-only listing came first
    matched = out["detail"]["matched"][instance]
    assert sorted(m["pid"] for m in matched) == sorted(pids)
    assert all(m["start_time"] == read_stat(m["pid"])["start_time"] for m in matched)
    assert all(victims.wait_state(p, {"T"}) == "T" for p in pids) and victims.state(bystander) == "S"
    assert sorted(out["detail"]["signalled"][instance]["lines"]) == sorted(f"SIGNALLED {p}" for p in pids)
    undone = chaos_aws.undo(out["id"])
    assert undone["steps"][0]["kind"] == "aws_ssm_sigcont"
    assert all(victims.wait_state(p, {"S", "R"}) in ("S", "R") for p in pids)
    assert IntentLog().pending() == []


def test_kill_signals_only_the_listed_processes(aws, victims, agent):
    instances(aws, {"eu-west-1a": 1}, tags=APP)
    [pid] = victims.start(1)
    clear(tags={"Environment": "staging"})
    out = chaos_aws.ssm_process_kill("app", configuration=_config(victims.name))
    assert victims.wait_state(pid, {None}) is None
    assert chaos_aws.undo(out["id"])["undone"] is False  # no restart command: the supervisor's job


def test_a_process_that_is_pid_1_is_refused_after_the_listing_and_nothing_is_signalled(aws, victims, tmp_path):
    # the target's process is PID 1 of its own PID namespace (as an app in a container is); the agent runs there
    instances(aws, {"eu-west-1a": 1}, tags=APP)
    [unshare] = victims.start(1, prefix=["unshare", "--pid", "--fork", "--mount-proc"])
    deadline = time.monotonic() + 5
    children = Path(f"/proc/{unshare}/task/{unshare}/children")
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.01)
    [pid_one] = map(int, children.read_text().split())
    calls = CallLog()
    agent = LocalSsmAgent(aws, namespace_pid=pid_one)
    try:
        clear(tags={"Environment": "staging"})
        with pytest.raises(HarnessError, match="PID 1 or a kernel thread"):
            chaos_aws.ssm_process_kill("app", configuration=_config(victims.name))
    finally:
        agent.close()
    assert calls.changing() == ["ssm:SendCommand"] and len(agent.scripts) == 1  # the listing only
    assert victims.state(pid_one) == "S" and IntentLog().pending() == []


def test_a_pid_whose_start_time_changed_is_not_signalled(aws, victims, agent):
    [instance] = instances(aws, {"eu-west-1a": 1}, tags=APP)["eu-west-1a"]
    [pid] = victims.start(1)
    recycled = {instance: [{"pid": pid, "start_time": read_stat(pid)["start_time"] + 1}]}
    done = aws_ssm.signal_processes(recycled, "KILL", _config(victims.name), "test")
    assert done[instance]["lines"] == [f"CHANGED {pid}"] and victims.state(pid) == "S"


def test_the_listing_masks_a_password_on_a_command_line(aws, victims, agent):
    [instance] = instances(aws, {"eu-west-1a": 1}, tags=APP)["eu-west-1a"]
    pid = victims.start_shell("sleep 120; : password=s3cret-123")
    plan = aws_ssm.plan_ssm_process_signal("process-kill", "app", configuration=_config(victims.name))
    [listed] = aws_ssm.list_processes(plan, _config(victims.name))["matched"][instance]
    assert listed["pid"] == pid and "password=***" in listed["command"] and "s3cret-123" not in listed["command"]
    assert victims.state(pid) == "S"  # listing only


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"process": "no spaces allowed"}, "exact command name"),
        ({"process": "a-name-longer-than-15"}, "exact command name"),
        ({"process": "ok", "restart": "  "}, "empty command"),
    ],
)
def test_bad_arguments_are_one_clear_error_before_any_command(aws, kwargs, message):
    calls = CallLog()
    with pytest.raises(HarnessError, match=message):
        aws_ssm.plan_ssm_process_signal("process-kill", "app", configuration=_config("x"), **kwargs)
    assert calls.changing() == []
