"""Issue 16 without a lab: a drill harness must survive its operator. Each test is an attack from the issue
that `drill run` (or `drill fault`, `drill lab down`, `drill verify`) used to let through, and must now refuse
up front (exit 2, nothing started or injected) or put on the record."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.drills.events import EventsFile
from harness.drills.lock import DrillLock, DrillLocked, holders
from harness.drills.recover import seal_killed_runs
from harness.drills.run import OutsideWindow, window_check
from harness.evidence import verify
from harness.evidence.history import history_rows
from harness.evidence.plan import load_plan
from harness.evidence.record import RecordBuilder, load_records
from harness.faults.intent import IntentLog

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DRILL = str(Path(sys.executable).with_name("drill"))


@pytest.fixture
def state(tmp_path, monkeypatch):
    """A state dir of our own (intent log, drill locks), so nothing here touches the shared lab's."""
    folder = tmp_path / "state"
    folder.mkdir()
    monkeypatch.setenv("DRILL_STATE_DIR", str(folder))
    return folder


def drill(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI with no terminal on stdin (as in CI, or piped) and without CI=true."""
    full = {k: v for k, v in os.environ.items() if k != "CI"} | {"COLUMNS": "200"} | (env or {})
    return subprocess.run(
        [DRILL, *args], capture_output=True, text=True, timeout=timeout, env=full, cwd=ROOT, stdin=subprocess.DEVNULL
    )


def hold_lock(state: Path, run_dir: Path) -> subprocess.Popen:
    """Another process holding the lab's drill lock, as a running `drill run` does."""
    code = (
        "import sys, time; from pathlib import Path; from harness.drills.lock import DrillLock; "
        f"DrillLock('lab', Path({str(state)!r})).acquire('20261201T120000000Z-abc123', Path({str(run_dir)!r}), "
        "'local'); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def no_lab_touched(reports: Path, state: Path) -> None:
    assert not IntentLog(state / "intent.jsonl").pending()
    assert not list(reports.glob("records/*.json")) and not list(reports.glob("runs/*")), list(reports.rglob("*"))


# -- point 2: one drill at a time per target -----------------------------------------------------------
def test_second_drill_is_refused_at_once_naming_the_holder(state, tmp_path):
    run_dir = tmp_path / "holder-run"
    run_dir.mkdir()
    holder = hold_lock(state, run_dir)
    try:
        reports = tmp_path / "reports"
        started = time.monotonic()
        done = drill("run", "--yes", "--reports", str(reports), str(HERE / "features" / "short_blackhole.feature"))
        took = time.monotonic() - started
        assert done.returncode == 2, done.stdout + done.stderr
        err = " ".join(done.stderr.split())
        assert f"pid {holder.pid}" in err and "20261201T120000000Z-abc123" in err and "since 20" in err, err
        assert "nothing was started or injected" in err and "Traceback" not in done.stderr
        assert took < 20, took  # refused at once: no lab, no pytest collection
        no_lab_touched(reports, state)
        # in process too: the typed error, and `holders()` lists who holds it
        with pytest.raises(DrillLocked, match=str(holder.pid)):
            DrillLock("lab", state).acquire("x", tmp_path, "local")
        assert [h.pid for h in holders(state)] == [holder.pid]
    finally:
        holder.kill()
        holder.wait()
    assert DrillLock("lab", state).holder() is None  # the kernel dropped it with its holder: never stale


# -- point 3: drill fault inject / drill lab down while a drill holds the lab ---------------------------
def test_fault_inject_and_lab_down_are_refused_while_a_drill_runs_and_forced_ones_are_recorded(state, tmp_path):
    run_dir = tmp_path / "holder-run"
    run_dir.mkdir()
    holder = hold_lock(state, run_dir)
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        done = drill("fault", "inject", "process-freeze", f"pid={victim.pid}")
        assert done.returncode == 2 and "refused: drill fault inject process-freeze" in done.stderr, done.stderr
        assert str(holder.pid) in done.stderr and "--force" in done.stderr
        assert not IntentLog(state / "intent.jsonl").pending()  # nothing injected
        assert Path(f"/proc/{victim.pid}/stat").read_text().split()[2] != "T"
        down = drill("lab", "down")
        assert down.returncode == 2 and "refused: drill lab down" in down.stderr, down.stderr
        assert not (run_dir / "events.jsonl").exists()
        forced = drill("fault", "inject", "process-freeze", f"pid={victim.pid}", "--force")
        assert forced.returncode == 0, forced.stderr
        fault_id = forced.stdout.strip().splitlines()[-1]
        [outside] = EventsFile(run_dir).read_all()
        assert outside["kind"] == "outside-action" and outside["detail"]["forced"] is True
        assert outside["detail"]["action"] == f"drill fault inject process-freeze pid={victim.pid}"
        assert drill("fault", "undo", fault_id).returncode == 0
    finally:
        victim.kill()
        holder.kill()
        victim.wait()
        holder.wait()
    assert not IntentLog(state / "intent.jsonl").pending()


# -- point 9: file-system errors --------------------------------------------------------------------------
def test_unwritable_reports_folder_is_one_error_before_anything_starts(state, tmp_path):
    done = drill("run", "--yes", "--reports", "/proc/nope", str(HERE / "features" / "short_blackhole.feature"))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2 and lines[0].startswith("error: --reports /proc/nope"), done.stderr
    assert "nothing was started or injected" in done.stderr and "Traceback" not in done.stderr
    assert not IntentLog(state / "intent.jsonl").pending()


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MB tmpfs, filled up (root only: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={mnt / 'fill'}", "bs=64k"], capture_output=True)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_for_reports_is_one_error_before_anything_starts(state, full_disk):
    reports = full_disk / "reports"
    done = drill("run", "--yes", "--reports", str(reports), str(HERE / "features" / "short_blackhole.feature"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: --reports {reports}: the disk is full"), done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert not IntentLog(state / "intent.jsonl").pending()
    assert not list(reports.glob("records/*.json"))


def test_a_disk_with_too_little_room_is_refused_before_anything_starts(state, full_disk):
    (full_disk / "fill").unlink()  # 2 MB free: writable, but too small for a run
    reports = full_disk / "reports"
    done = drill("run", "--yes", "--reports", str(reports), str(HERE / "features" / "short_blackhole.feature"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "MB free" in done.stderr and "nothing was started or injected" in done.stderr, done.stderr


# -- point 10: a manual step with no operator -------------------------------------------------------------
def test_manual_step_without_terminal_or_yes_is_refused_up_front(state, tmp_path):
    reports = tmp_path / "reports"
    done = drill("run", "--reports", str(reports), str(HERE / "features" / "manual_step.feature"))
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "need an operator" in out and "nothing was run or injected" in out and "--yes" in out, out
    assert 'procedure auto-failover, step "tell the on-call channel' in out, out
    assert "manual_step.feature:9:" in out, out  # the step's line in the feature
    no_lab_touched(reports, state)


def test_unattended_means_no_yes_no_ci_and_no_terminal(monkeypatch):
    from harness.drills.run import RunRequest, unattended

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert unattended(RunRequest())
    assert not unattended(RunRequest(yes=True))
    monkeypatch.setenv("CI", "true")
    assert not unattended(RunRequest())


# -- point 13: the plan's maintenance window ---------------------------------------------------------------
def _plan(tmp_path: Path, environment: str, start: datetime, hours: int = 3) -> Path:
    path = tmp_path / f"plan-{environment}.yaml"
    path.write_text(
        "name: window-check\ntype: component-test\nscope:\n  tags: '@nothing'\n"
        f"target: local\nenvironment: {environment}\n"
        f"window:\n  start: {start.isoformat().replace('+00:00', 'Z')}\n  duration: {hours}h\n"
        "participants:\n  - {name: Sam Rivera, role: DR Coordinator}\n",
        encoding="utf-8",
    )
    return path


def test_outside_the_window_a_staging_drill_is_refused_and_a_lab_one_is_marked(state, tmp_path):
    past = datetime(2025, 4, 15, 9, 0, tzinfo=UTC)
    staging = _plan(tmp_path, "staging", past)
    reports = tmp_path / "reports"
    done = drill("run", "--plan", str(staging), "--yes", "--reports", str(reports))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "outside the approved window" in done.stderr and "--outside-window REASON" in done.stderr
    no_lab_touched(reports, state)
    plan = load_plan(staging)
    with pytest.raises(OutsideWindow):
        window_check(plan, "production", None)
    kept = window_check(plan, "staging", "CHG-9 re-test after the incident")
    assert kept["within"] is False and kept["note"] == "outside the approved window"
    assert kept["reason"] == "CHG-9 re-test after the incident"
    lab = window_check(load_plan(_plan(tmp_path, "lab", past)), "lab", None)
    assert lab["within"] is False and lab["note"] == "outside the approved window"  # warned, not refused
    now = window_check(load_plan(_plan(tmp_path, "lab", datetime.now(UTC) - timedelta(hours=1))), "lab", None)
    assert now["within"] is True and "note" not in now


# -- point 4: killed runs stay in the chain ------------------------------------------------------------
KILLED_RUN = """
import os, sys, json
from pathlib import Path
from harness.drills.events import EventsFile
from harness.evidence.record import RecordBuilder

reports, with_live = Path(sys.argv[1]), sys.argv[2] == "1"
rec = RecordBuilder(reports, target="local", environment="lab", operator="sam")
run_dir = reports / "runs" / rec.id
scenario = run_dir / "scenarios" / "the-db-path-is-blackholed"
scenario.mkdir(parents=True)
(scenario / "drill.json").write_text(
    json.dumps({"name": "The DB path is blackholed", "feature": "x.feature", "tags": [], "faults": []})
)
events = EventsFile(run_dir)
fault = {"scenario": "The DB path is blackholed", "fault": "network-blackhole"}
events.append("fault-injected", fault, 1764590000.0)
if with_live:
    rec.event("drill-started", {"features": ["x.feature"]})
    rec.event("fault-injected", fault, at=__import__("datetime").datetime.fromtimestamp(1764590000.0, __import__("datetime").UTC))
events.append("rollback", {"scenario": "The DB path is blackholed", "fault": "f-1", "result": "undone"})
print(rec.id, flush=True)
os.kill(os.getpid(), 9)
"""


def _killed_run(reports: Path, with_live: bool) -> str:
    """What a drill run killed -9 leaves: a live record (or none, killed before its first event), a run
    folder with the child's events and a scenario with only its drill.json."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(reports), "1" if with_live else "0"], capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    return done.stdout.strip()


def test_killed_runs_are_listed_by_verify_and_sealed_into_the_chain(tmp_path):
    reports = tmp_path / "reports"
    finished = RecordBuilder(reports, target="local", environment="lab", operator="sam")
    finished.event("drill-started", {})
    finished.finish()
    with_live = _killed_run(reports, with_live=True)
    folder_only = _killed_run(reports, with_live=False)
    (reports / "runs" / "adhoc").mkdir()  # a by-hand pytest run's folder is no drill run
    report = verify(reports)
    assert not report.ok
    problems = " | ".join(report.problems)
    assert f"record {with_live} is incomplete" in problems, problems
    assert f"run folder runs/{folder_only} is covered by no record" in problems, problems
    assert "adhoc" not in problems

    lines = seal_killed_runs(reports)
    assert any(line.startswith(f"sealed {with_live} as incomplete") for line in lines), lines
    assert any(line.startswith(f"sealed {folder_only} as incomplete") for line in lines), lines
    after = verify(reports)
    assert after.ok, after.problems
    records = {r["id"]: r for r in load_records(reports)}
    for rid in (with_live, folder_only):
        r = records[rid]
        assert r["incomplete"]["reason"].startswith("its run ended without finishing")
        assert r["outcome"]["passed"] is False
        kinds = [e["kind"] for e in r["timeline"]]
        assert "fault-injected" in kinds and "rollback" in kinds and kinds[-1] == "incomplete", kinds
        [s] = r["scenarios"]
        assert s["status"] == "broken" and s["name"] == "The DB path is blackholed"
        assert any(e["path"].startswith(f"runs/{rid}/") for e in r["evidence"])
    assert kinds.count("fault-injected") == 1  # the live file's and the events file's are one event
    rows = [row for row in history_rows(list(records.values())) if row.record in (with_live, folder_only)]
    assert {row.status for row in rows} == {"broken"} and len(rows) == 2
    assert seal_killed_runs(reports) == []  # sealed once
    # the CLI does the same: drill recover --reports seals, drill verify is intact
    again = _killed_run(reports, with_live=True)
    done = drill("recover", "--reports", str(reports), env={"DRILL_STATE_DIR": str(tmp_path / "state")})
    assert done.returncode == 0 and f"sealed {again} as incomplete" in done.stdout, done.stdout + done.stderr
    assert drill("verify", "--reports", str(reports)).returncode == 0
