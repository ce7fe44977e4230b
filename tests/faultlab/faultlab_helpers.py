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

# The sync lab this test session started, kept running for the next module that wants the same lab (each lab
# start and stop costs ~25 s on a 2-core machine). tests/conftest.py runs those modules one after another and
# stops the kept lab when the session ends; a lab that was running before the session is never reused.
_kept: list[Lab] = []


def lab_session(replication: str):
    """A lab for a test module (a generator for a fixture): the kept lab of this session when it has the same
    replication and is healthy, else a new one (any other running lab is recovered and stopped first).
    Afterwards every fault is undone; a sync lab is kept for the next module, any other is stopped."""
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    lab = _reuse(replication)
    if lab is None:
        _stop_running()
        lab = Lab.up(replication=replication, timeout=150)
        lab.wait_healthy(60)
    try:
        yield lab
    finally:
        runner.recover()  # nothing a failed test injected may outlive it
        if replication == "sync":
            _kept[:] = [lab]
        else:
            lab.down()


def _reuse(replication: str) -> Lab | None:
    if not _kept:
        return None
    try:
        running = Lab.load()
    except HarnessError:
        running = None
    if running is None or running.paths.root != _kept[0].paths.root or running.ctx.replication != replication:
        return None
    try:
        running.wait_healthy(60)  # what the previous module left must be a healthy lab, or it is replaced
    except HarnessError:
        return None
    return running


def _stop_running() -> None:
    try:
        running = Lab.load()
    except HarnessError:
        running = None
    if running is not None:
        runner.recover()
        running.down()
    _kept.clear()


def release_kept() -> None:
    """Stop the lab this session kept (end of the session, or before a module that needs no lab running)."""
    if _kept:
        _stop_running()


def drill(*args: str, timeout: float = 120, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run the real `drill` CLI in a subprocess (fresh process: nothing shared with the test), with `env` added
    to the environment (e.g. CI="true")."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("drill")), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **env},
        cwd=cwd,
    )


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
    return Measurement(
        probes=[parse_probe_spec("app@http=" + lab.app_url + "/health")],
        writers=[parse_writer_spec("postgres=" + lab.pg_dsn("primary"), rate=20)],
        interval=0.1,
        stable=2.0,
        out_dir=out_dir,
    )


def wait_healthy(lab, timeout: float) -> dict:
    """lab.wait_healthy on the state file's current view (an undo restarts components with new PIDs)."""
    from harness.lab.state import read_state

    lab.state = read_state(lab.paths) or lab.state
    return lab.wait_healthy(timeout)
