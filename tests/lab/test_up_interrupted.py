"""A `drill lab up` killed half way (issue 16, point 7): its processes run on and even answer, but the lab is
not complete (no base backup), so `status` says unhealthy, a drill's fault refuses it, and the next `up`
stops it and starts the lab again. Stops any other lab first (fixed ports) and leaves the lab down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultlab_helpers import release_kept

from harness.errors import HarnessError, LabStartIncomplete
from harness.faults.intent import IntentLog
from harness.lab import Lab
from harness.lab.prereq import missing_binaries
from harness.lab.process import proc_start_time
from harness.lab.state import LabPaths, default_state_dir, read_state, write_state

DRILL = str(Path(sys.executable).with_name("drill"))


def _drill(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([DRILL, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _half_started_state(tmp_path: Path, starter_pid: int, starter_start: int | None) -> LabPaths:
    paths = LabPaths(tmp_path / "lab")
    paths.root.mkdir(parents=True)
    write_state(
        paths,
        {
            "network": "loopback",
            "replication": "sync",
            "components": {},
            "phase": "starting",
            "starter": {"pid": starter_pid, "start_time": starter_start},
        },
    )
    return paths


def test_load_refuses_a_half_started_lab_and_says_what_to_do(tmp_path: Path):
    dead = _half_started_state(tmp_path / "dead", 2**22 + 1, 1)  # above pid_max's default: no such process
    with pytest.raises(LabStartIncomplete, match=r"stopped before it finished.*run `drill lab up` again"):
        Lab.load(dead.root)
    assert Lab.load(dead.root, partial=True).state["phase"] == "starting"  # status and down still see it
    live = _half_started_state(tmp_path / "live", os.getpid(), proc_start_time(os.getpid()))
    with pytest.raises(LabStartIncomplete, match=r"is still starting it.*wait until that `drill lab up` has finished"):
        Lab.load(live.root)


def test_lab_up_killed_half_way_is_unhealthy_refused_by_faults_and_restarted_by_up(tmp_path: Path):
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    release_kept()
    _drill("lab", "down")  # fixed ports: no other lab may run
    paths = LabPaths(default_state_dir())
    log = IntentLog()
    intents_before = log.path.read_bytes() if log.path.exists() else b""
    try:
        with open(tmp_path / "up.log", "wb") as out:
            up = subprocess.Popen([DRILL, "lab", "up"], stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + 150
        state = None
        while time.monotonic() < deadline and up.poll() is None:
            state = read_state(paths)
            if state and "pg-dr" in state.get("components", {}):
                break
            time.sleep(0.02)
        os.killpg(up.pid, signal.SIGKILL)  # the last component started, before the base backup
        up.wait(10)
        assert state and "pg-dr" in state["components"], (tmp_path / "up.log").read_text()
        state = read_state(paths)
        assert state["phase"] == "starting" and "backup_job" not in state, "killed too late to reproduce"
        half = {n: r["pid"] for n, r in state["components"].items()}

        Lab.load(paths.root, partial=True).wait_healthy(90)  # the attack: every process answers on its own
        status = _drill("lab", "status", "--json")
        st = json.loads(status.stdout)
        assert status.returncode == 1, status.stdout
        assert st["healthy"] is False and st["phase"] == "starting"
        assert st["problems"][0].startswith("start incomplete: `drill lab up` (pid ")
        assert "no base backup" in st["problems"][0] and st["backup"]["base"] == "not started"
        with pytest.raises(LabStartIncomplete):
            Lab.load()
        fault = _drill("fault", "inject", "db-primary-crash")
        assert fault.returncode == 2, fault.stdout + fault.stderr
        assert "not completely started" in fault.stderr and "run `drill lab up` again" in fault.stderr
        assert "Traceback" not in fault.stderr
        assert (log.path.read_bytes() if log.path.exists() else b"") == intents_before, "nothing may be injected"

        again = _drill("lab", "up")
        assert again.returncode == 0, again.stderr
        assert "a previous `drill lab up` did not finish" in again.stderr
        lab = Lab.load()
        assert lab.state["phase"] == "up"
        assert not set(half.values()) & {r["pid"] for r in lab.components.values()}, "restarted, not adopted"
        assert lab.wait_backup(120)["base"]
        assert _drill("lab", "status").returncode == 0
    finally:
        down = _drill("lab", "down")
    assert down.returncode == 0, down.stderr
    with pytest.raises(HarnessError, match="no lab is running"):
        Lab.load()
