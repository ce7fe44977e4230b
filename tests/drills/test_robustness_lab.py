"""Issue 16 on the real lab: signals to `drill run` while a fault is in force, two drills at once, outside
actions during a drill, and a run killed -9. Each drill here holds its fault for seconds, not minutes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.drills.lock import DrillLock
from harness.evidence import verify
from harness.evidence.record import load_records
from harness.faults.intent import IntentLog
from harness.lab import Lab, proxies

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DRILL = str(Path(sys.executable).with_name("drill"))
FEATURES = HERE / "features"


def start_drill(reports: Path, *args: str, logs: Path | None = None) -> tuple[subprocess.Popen, Path]:
    """`drill run` in a session of its own (so a signal to its group reaches only it and its child), output
    to a file."""
    log = (logs or reports.parent) / f"drill-{time.monotonic_ns()}.log"
    env = {**os.environ, "COLUMNS": "200", "CI": "true"}
    proc = subprocess.Popen(
        [DRILL, "run", "--yes", "--reports", str(reports), *args],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    return proc, log


def drill(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "CI": "true"}
    return subprocess.run([DRILL, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def events(reports: Path) -> list[dict]:
    found = []
    for path in reports.glob("runs/*/events.jsonl"):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found


def wait_for_faults(reports: Path, proc: subprocess.Popen, count: int, timeout: float = 120) -> float:
    """Until the run's child has told `count` fault-injected events; returns when."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for e in events(reports) if e["kind"] == "fault-injected") >= count:
            return time.time()
        assert proc.poll() is None, "the drill ended before injecting"
        time.sleep(0.1)
    raise AssertionError(f"no {count} fault-injected events within {timeout} s")


def drill_json(reports: Path) -> dict:
    [path] = list(reports.glob("runs/*/scenarios/*/drill.json"))
    return json.loads(path.read_text())


def terminal_lines(out: str) -> str:
    """What the operator saw about the interruption (for the test log)."""
    keep = ("SIGTERM", "SIGINT", "undone", "interrupted", "drill:", "BROKEN", "exit")
    return "\n".join(line for line in out.splitlines() if any(k in line for k in keep))[-3000:]


def interrupt_and_check(sync_lab, tmp_path, send) -> dict:
    """Cut the primary's zone off, interrupt 2 s into the cut with `send(proc)`, then check: exit 3, the
    partition gone, every fault undone, the record says interrupted, the chain intact. Returns numbers."""
    reports = tmp_path / "reports"
    proc, log = start_drill(reports, str(FEATURES / "interrupt_partition.feature"))
    try:
        wait_for_faults(reports, proc, 2)  # one network-partition per other zone
        time.sleep(2)
        assert len(Lab.load().network.partitions()["partitions"]) == 2  # the drops are in force
        sent = time.time()
        send(proc)
        code = proc.wait(timeout=200)
        ended = time.time()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = log.read_text()
    assert code == 3, out[-5000:]
    assert Lab.load().network.partitions() == {"partitions": [], "isolated": []}
    assert not IntentLog().pending(), IntentLog().pending()
    summary = drill_json(reports)
    undo_at = [f["undo"]["at"] for f in summary["faults"]]
    assert len(undo_at) == 2 and all(f["undo"]["ok"] for f in summary["faults"]), summary["faults"]
    assert "undone: " in out and out.count("network-partition") >= 2, out[-5000:]
    [record] = load_records(reports)
    interrupted = [e for e in record["timeline"] if e["kind"] == "interrupted"]
    assert interrupted and interrupted[0]["detail"]["note"] == "interrupted", record["timeline"]
    assert len(interrupted[0]["detail"]["undone"]) == 2
    [s] = record["scenarios"]
    assert s["status"] == "broken"
    kinds = [e["kind"] for e in record["timeline"]]
    assert kinds.count("fault-injected") == 2 and kinds.count("rollback") == 2, kinds  # told live by the child
    assert verify(reports).ok, verify(reports).problems
    return {
        "undone_after_s": round(max(undo_at) - sent, 2),
        "exit_after_s": round(ended - sent, 2),
        "signal": interrupted[0]["detail"]["signal"],
        "output": out,
    }


@pytest.mark.lab
def test_sigterm_to_the_parent_alone_undoes_the_partition_and_records_interrupted(sync_lab, tmp_path):
    """The issue's orphan case: SIGTERM to `drill run`'s PID only (its child does not get it from anyone
    but the parent)."""
    got = interrupt_and_check(sync_lab, tmp_path, lambda proc: os.kill(proc.pid, signal.SIGTERM))
    print(f"SIGTERM: faults undone {got['undone_after_s']} s after the signal, exit after {got['exit_after_s']} s")
    print(terminal_lines(got["output"]))
    assert got["signal"] == "SIGTERM" and "interrupted by SIGTERM" in got["output"]
    assert got["undone_after_s"] < 15, got["undone_after_s"]


@pytest.mark.lab
def test_ctrl_c_to_the_process_group_undoes_the_partition_and_records_interrupted(sync_lab, tmp_path):
    """Ctrl-C at a terminal: SIGINT to the whole foreground group (parent and pytest child at once)."""
    got = interrupt_and_check(sync_lab, tmp_path, lambda proc: os.killpg(proc.pid, signal.SIGINT))
    print(f"SIGINT: faults undone {got['undone_after_s']} s after the signal, exit after {got['exit_after_s']} s")
    print(terminal_lines(got["output"]))
    assert got["signal"] == "SIGINT" and "interrupted by SIGINT" in got["output"]
    assert got["undone_after_s"] < 15, got["undone_after_s"]


@pytest.mark.lab
def test_two_drills_at_once_the_second_is_refused_and_outside_actions_are_refused_or_recorded(sync_lab, tmp_path):
    reports = tmp_path / "reports"
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: robustness-window\ntype: component-test\n"
        'scope:\n  scenarios: ["The app\'s database path is blackholed for 4 seconds"]\n'
        "target: local\nenvironment: staging\nwindow:\n  start: 2025-04-15T09:00:00Z\n  duration: 3h\n"
        "participants:\n  - {name: Sam Rivera, role: DR Coordinator}\n",
        encoding="utf-8",
    )
    first, log = start_drill(
        reports, "--plan", str(plan), "--outside-window", "CHG-77 re-test", str(FEATURES / "short_blackhole.feature")
    )
    victim = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        wait_for_faults(reports, first, 1)
        holder = DrillLock("lab").holder()
        assert holder is not None and holder.pid == first.pid
        started = time.monotonic()
        second = drill("run", "--yes", "--reports", str(tmp_path / "other"), str(FEATURES / "short_blackhole.feature"))
        refused_in = time.monotonic() - started
        err = " ".join(second.stderr.split())
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"pid {first.pid}" in err and holder.run_id in err and f"since {holder.since}" in err, err
        assert not (tmp_path / "other" / "runs").exists() or not list((tmp_path / "other" / "runs").iterdir())
        crash = drill("fault", "inject", "db-primary-crash")
        assert crash.returncode == 2 and "refused: drill fault inject db-primary-crash" in crash.stderr
        down = drill("lab", "down")
        assert down.returncode == 2 and "refused: drill lab down" in down.stderr
        assert first.poll() is None and DrillLock("lab").holder() == holder  # still the first drill's
        forced = drill("fault", "inject", "process-freeze", f"pid={victim.pid}", "--force")
        assert forced.returncode == 0, forced.stderr
        assert drill("fault", "undo", forced.stdout.strip().splitlines()[-1]).returncode == 0
        code = first.wait(timeout=300)
    finally:
        victim.kill()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    out = log.read_text()
    assert code == 0, out[-5000:]
    print(f"second drill refused in {refused_in:.2f} s")
    assert refused_in < 20
    [record] = load_records(reports)
    kinds = [e["kind"] for e in record["timeline"]]
    [outside] = [e for e in record["timeline"] if e["kind"] == "outside-action"]
    assert outside["detail"]["action"].startswith("drill fault inject process-freeze") and outside["detail"]["forced"]
    [window] = [e for e in record["timeline"] if e["kind"] == "outside-window"]
    assert window["detail"]["note"] == "outside the approved window" and window["detail"]["reason"] == "CHG-77 re-test"
    assert kinds.count("fault-injected") == 1, kinds  # the refused inject never happened
    assert not IntentLog().pending()
    assert DrillLock("lab").holder() is None


@pytest.mark.lab
def test_a_run_killed_9_mid_fault_stays_in_the_chain_as_incomplete(sync_lab, tmp_path):
    reports = tmp_path / "reports"
    proc, log = start_drill(reports, str(FEATURES / "interrupt_partition.feature"))
    try:
        wait_for_faults(reports, proc, 2)
        os.killpg(proc.pid, signal.SIGKILL)  # parent and child at once: nobody undoes anything
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(IntentLog().pending()) == 2  # the cut is still in force: only the intent log knows its undo
    assert len(Lab.load().network.partitions()["partitions"]) == 2
    before = drill("verify", "--reports", str(reports))
    assert before.returncode == 1 and "is incomplete" in before.stderr, before.stdout + before.stderr
    recovered = drill("recover", "--reports", str(reports))
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert recovered.stdout.count("network-partition: undone") == 2 and "as incomplete" in recovered.stdout
    assert not IntentLog().pending()
    assert Lab.load().network.partitions() == {"partitions": [], "isolated": []}
    after = drill("verify", "--reports", str(reports))
    assert after.returncode == 0, after.stdout + after.stderr
    [record] = load_records(reports)
    assert record["incomplete"] and record["outcome"]["passed"] is False
    assert [e["kind"] for e in record["timeline"]].count("fault-injected") == 2
    history = drill("history", "--reports", str(reports))
    assert "not completed" in history.stdout, history.stdout
    [row] = json.loads(drill("history", "--json", "--reports", str(reports)).stdout)
    assert row["scenario"] == "The zone of the database primary is cut off for 30 seconds" and row["status"] == "broken"


@pytest.mark.lab
def test_disk_full_during_a_run_is_one_error_exit_3_with_faults_undone_and_the_chain_valid(sync_lab, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)], check=True)
    try:
        reports = mnt / "reports"
        proc, log = start_drill(reports, str(FEATURES / "short_blackhole.feature"), logs=tmp_path)
        try:
            wait_for_faults(reports, proc, 1)
            subprocess.run(["dd", "if=/dev/zero", f"of={mnt / 'fill'}", "bs=1M"], capture_output=True)
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        out = log.read_text()
        print(terminal_lines(out), f"\nINTERNALERROR lines: {out.count('INTERNALERROR')}")
        assert code == 3, out[-5000:]
        errors = [line for line in out.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "the disk is full" in errors[0] and "faults were undone" in errors[0], out[-3000:]
        assert "INTERNALERROR" not in out and "Traceback" not in out, out[-3000:]
        assert not IntentLog().pending()
        assert proxies.control(Lab.load().ctx, "db").get()["mode"] == "pass"
        (mnt / "fill").unlink()
        report = verify(reports)
        assert all("is incomplete" in p for p in report.problems), report.problems  # the chain itself is valid
        sealed = drill("recover", "--reports", str(reports))
        assert sealed.returncode == 0 and "as incomplete" in sealed.stdout, sealed.stdout + sealed.stderr
        assert verify(reports).ok, verify(reports).problems
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)
