"""Helpers for the lab fault tests: one real lab per module (netns mode when root, the default), stopped at
the end of the module, and the `drill` CLI in a subprocess. Fixed ports mean only one lab at a time: a module
that needs other options stops a lab left running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.faults import runner
from harness.lab import Lab
from harness.lab.prereq import missing_binaries
from harness.measure import Measurement, parse_probe_spec, parse_writer_spec



def lab_session(replication: str, fresh: bool = False):
    """A lab for a test session (a generator for a fixture). `fresh`: a running lab is recovered and stopped
    first even with the same replication (it may predate a component the tests need)."""
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    try:
        running = Lab.load()
    except HarnessError:
        running = None
    if running is not None and (fresh or running.ctx.replication != replication):
        runner.recover()
        running.down()
    lab = Lab.up(replication=replication, timeout=150)
    lab.wait_healthy(60)
    try:
        yield lab
    finally:
        runner.recover()  # nothing a failed test injected may outlive it
        lab.down()


def drill(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `drill` CLI in a subprocess (fresh process: nothing shared with the test)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([str(Path(sys.executable).with_name("drill")), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def report(name: str, **numbers) -> None:
    """Measured numbers, printed (-s) and appended to reports/faultlab.txt for the docs."""
    line = f"{name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items())
    print(line)
    out = Path(__file__).resolve().parents[2] / "reports" / "faultlab.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def lab_measurement(lab, out_dir: Path) -> Measurement:
    """The lab's public entry points: the app's /health through HAProxy and a Postgres writer at 20/s."""
    return Measurement(probes=[parse_probe_spec("app@http=" + lab.app_url + "/health")],
                       writers=[parse_writer_spec("postgres=" + lab.pg_dsn("primary"), rate=20)],
                       interval=0.1, stable=2.0, out_dir=out_dir)


def wait_healthy(lab, timeout: float) -> dict:
    """lab.wait_healthy on the state file's current view (an undo restarts components with new PIDs)."""
    from harness.lab.state import read_state

    lab.state = read_state(lab.paths) or lab.state
    return lab.wait_healthy(timeout)
