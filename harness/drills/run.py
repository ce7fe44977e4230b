"""`drill run`: select scenarios, make sure the target is up, run them through pytest (pytest-bdd +
allure-pytest-bdd), then summarise, write the chained drill record, and say how it went.

    outcome = run_drills(RunRequest(tags="smoke"))
    outcome.exit_code   # 0 all met, 1 an objective breached, 3 a drill could not complete, 2 bad input

pytest runs in a child process so a drill's signals, threads and GC tuning never leak into the caller, and
so the same command line works by hand: the exact argv is printed and kept in the run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.drills import storage
from harness.drills.events import RUN_DIR_ENV, EventsFile, Tail
from harness.drills.features import check_gherkin, feature_files, pytest_rootdir
from harness.drills.features import shown as _rel
from harness.drills.lock import DrillLock
from harness.drills.options import APPROVAL_ENV, APPROVER_ENV, AUTO_CONFIRM_ENV, UNATTENDED_ENV, normalise_tags
from harness.errors import EXIT_BREACHED, EXIT_NOT_RECOVERED, EXIT_OK, EXIT_USAGE, HarnessError
from harness.evidence.plan import DrillPlan
from harness.evidence.record import RecordBuilder, parse_utc

PYTEST_USAGE_ERROR, PYTEST_NO_TESTS, PYTEST_INTERRUPTED = 4, 5, 2
SCENARIO_TIMEOUT_S = 3600
INTERRUPT_GRACE_S = 90.0  # after a signal: how long the child may take to undo its faults before it is killed


def project_root() -> Path:
    """The checkout holding features/ and steps/ (drills run from the project, not from site-packages)."""
    root = Path(harness.__file__).resolve().parents[1]
    if not (root / "features" / "catalog.py").exists():
        raise HarnessError(
            f"drill run needs the project checkout (features/catalog.py) next to the harness package; "
            f"not found under {root}"
        )
    return root


@dataclass
class RunRequest:
    features: list[str] = field(default_factory=list)
    tags: str | None = None
    target: str = "local"
    plan: DrillPlan | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    reports_dir: Path = Path("reports")
    keep_lab: bool = False
    operator: str | None = None
    yes: bool = False  # auto-confirm manual procedure steps (marked so in the record)
    outside_window: str | None = None  # why a staging/production drill runs outside its plan's window
    interrupt_grace_s: float = INTERRUPT_GRACE_S


@dataclass
class RunOutcome:
    run_dir: Path
    scenarios: list[dict[str, Any]]
    record: Path | None
    exit_code: int
    pytest_exit: int
    started_lab: bool = False
    interruption: Interruption | None = None  # the signal that stopped the run
    undone: list[str] = field(default_factory=list)  # the undo of every fault the run put in, as reported


def pytest_argv(root: Path, run_dir: Path, req: RunRequest) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(root / "features" / "catalog.py"),
        "--rootdir",
        str(root),
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-vv",
        "--gherkin-terminal-reporter",
        "--color=yes",
        f"--timeout={SCENARIO_TIMEOUT_S}",
        "--drill-target",
        req.target,
        "--drill-run-dir",
        str(run_dir),
        "--alluredir",
        str(run_dir / "allure-results"),
        "--junitxml",
        str(run_dir / "junit.xml"),
        "--cucumberjson",
        str(run_dir / "cucumber.json"),
    ]
    if req.tags:
        argv += [f"--drill-tags={req.tags}"]  # one argument: pytest reads a separate "@x" as an @file
    if req.plan is not None and req.plan.path is not None:
        argv += ["--drill-plan", str(req.plan.path)]
    return argv


def unattended(req: RunRequest) -> bool:
    """No one can confirm a manual step: no --yes, not CI=true, and no terminal on stdin."""
    if req.yes or os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return not (sys.stdin is not None and sys.stdin.isatty())


def preflight_only(root: Path, run_dir: Path, req: RunRequest, files: list[Path]) -> int | None:
    """Collect and check the selection without touching the target: a typo in a step, an unknown fault or
    a selection that matches nothing stops here, before any lab is started. None = ready to run."""
    argv = [a for a in pytest_argv(root, run_dir, req)[:4]] + [
        "--rootdir",
        str(root),
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--collect-only",
        "-q",
        "--drill-target",
        req.target,
        "--drill-run-dir",
        str(run_dir),
    ]
    if req.tags:
        argv += [f"--drill-tags={req.tags}"]  # one argument: pytest reads a separate "@x" as an @file
    if req.plan is not None and req.plan.path is not None:
        argv += ["--drill-plan", str(req.plan.path)]
    env = {**os.environ, "DRILL_FEATURES": os.pathsep.join(str(f) for f in files)}
    if unattended(req):
        env[UNATTENDED_ENV] = "1"  # a manual step would fail after its fault: refuse it at collection
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode == PYTEST_USAGE_ERROR:
        lines = (done.stdout + done.stderr).splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("ERROR:")), 0)
        text = "\n".join(lines[start:]).removeprefix("ERROR: ")
        sys.stderr.write(f"error: {text}\n")
        sys.stderr.flush()
        return EXIT_USAGE
    if done.returncode == PYTEST_NO_TESTS:
        raise HarnessError(f"no scenario matches (tags: {req.tags or '-'}, plan: {req.plan.name if req.plan else '-'})")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise HarnessError(f"the drill catalog could not be collected:\n{tail}")
    return None


def run_drills(req: RunRequest, say: Callable[[str], None] = lambda _m: None, stream: Any = None) -> RunOutcome:
    if req.tags:
        normalise_tags(req.tags)  # bad expression: error now, not inside pytest
    from harness import targets

    target = targets.load(req.target)  # unknown target or a bad target file: exit 2 before anything starts
    target_file = target.target_file
    environment = req.plan.environment if req.plan and req.plan.environment else target_file.environment
    window = window_check(req.plan, environment, req.outside_window)  # refused outside it: exit 2
    approval = req.approvals[0] if req.approvals else {}
    # once, before anything starts: approval, who we are against the allowlist (SafetyRefused: exit 2)
    clearance = target.preflight(approval.get("ticket"), approval.get("approver"))
    root = project_root()
    files = feature_files(root, req.features)
    check_gherkin(files)
    if window is not None and not window["within"]:
        say(
            f"warning: {window['note']}: {window['window']}"
            + (f"; reason: {req.outside_window}" if req.outside_window else "")
        )
    guard = storage.Guard(injected=False)
    with guard:
        storage.check_writable(req.reports_dir)  # unwritable or full: exit 2, nothing started
        rec = RecordBuilder(
            req.reports_dir,
            plan=req.plan,
            target=req.target,
            environment=environment,
            operator=req.operator,
            approvals=req.approvals,
        )
        run_dir = (req.reports_dir / "runs" / rec.id).resolve()
    lock = DrillLock.for_target(target_file)
    lock.acquire(rec.id, run_dir, req.target)  # another drill on this target: DrillLocked, exit 2, nothing done
    try:
        return _run_locked(req, say, stream, target, clearance, root, files, rec, run_dir, window, lock, guard)
    finally:
        lock.release()


def _run_locked(
    req: RunRequest,
    say: Callable[[str], None],
    stream: Any,
    target: Any,
    clearance: Any,
    root: Path,
    files: list[Path],
    rec: RecordBuilder,
    run_dir: Path,
    window: dict[str, Any] | None,
    lock: DrillLock,
    guard: storage.Guard,
) -> RunOutcome:
    with guard:
        run_dir.mkdir(parents=True, exist_ok=True)
    problems = preflight_only(root, run_dir, req, files)
    if problems is not None:
        _drop_run_dir(run_dir)
        return RunOutcome(run_dir, [], None, problems, PYTEST_USAGE_ERROR)
    with guard:
        if window is not None and not window["within"]:
            rec.event("outside-window", window)
        if clearance is not None:
            rec.event("approval-checked", clearance.record())
    try:
        target = target.connect(bring_up=True, say=say)
    except HarnessError:
        rec.abandon()  # a lab that would not start: no drill ran, no record (as before records were live)
        _drop_run_dir(run_dir)
        raise
    started_lab = target.started
    with guard:
        rec.event(
            "drill-started",
            {"features": [_rel(f) for f in files], "tags": req.tags, "plan": req.plan.name if req.plan else None},
        )
        argv = pytest_argv(root, run_dir, req)
        argv[argv.index("--rootdir") + 1] = str(pytest_rootdir(root, files))  # features may live outside root
        (run_dir / "command.txt").write_text(" ".join(shlex.quote(a) for a in argv) + "\n", encoding="utf-8")
    env = {**os.environ, "DRILL_FEATURES": os.pathsep.join(str(f) for f in files), RUN_DIR_ENV: str(run_dir)}
    if req.yes:
        env[AUTO_CONFIRM_ENV] = "1"
    if req.approvals:  # the child preflights a cloud target itself (plugin.pytest_sessionstart)
        env[APPROVAL_ENV] = str(req.approvals[0].get("ticket") or "")
        env[APPROVER_ENV] = str(req.approvals[0].get("approver") or "")
    events = EventsFile(run_dir)
    tail = Tail(events, lambda e: rec.event(e["kind"], e.get("detail") or {}, at=parse_utc(e["at"])))
    guard.injected = True  # from here on the child may inject: a storage error is exit 3, faults undone
    interruption: Interruption | None = None
    left_over: list[str] = []
    try:
        tail.start()
        child = subprocess.Popen(
            argv,
            cwd=root,
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT if stream else None,
            pass_fds=(lock.fileno,) if lock.fileno is not None else (),  # the lock lives while the child does
        )
        code, interruption = supervise(child, say, req.interrupt_grace_s)
        if stream is None:  # pytest's last line may lack its newline (a full disk cut it short)
            sys.stdout.write("\n")
            sys.stdout.flush()
        left_over = undo_left_behind(child.pid)  # a child killed mid-inject: the intent log still knows the undo
        for line in left_over:
            say(f"undone (left behind by the drill process): {line}")
    finally:
        if started_lab and not req.keep_lab:
            say("stopping the lab this run started (drill lab down)")
            target.stop()
    with guard:
        tail.stop()
    scenarios = load_scenarios(run_dir, interruption)
    if interruption is None and code == PYTEST_USAGE_ERROR:
        rec.abandon()  # refused in the child before any scenario (its own preflight): no drill, no folder
        _drop_run_dir(run_dir)
        return RunOutcome(run_dir, scenarios, None, EXIT_USAGE, code, started_lab)
    if interruption is None and (code == PYTEST_NO_TESTS or (code == 0 and not scenarios)):
        rec.abandon()  # usage, not a drill: no record
        _drop_run_dir(run_dir)
        raise HarnessError(f"no scenario matches (tags: {req.tags or '-'}, plan: {req.plan.name if req.plan else '-'})")
    undone = [f["undo"]["line"] for s in scenarios for f in s.get("faults") or [] if f.get("undo")] + left_over
    with guard:
        _write_metadata(run_dir, req.target, target)
        if interruption is not None:
            rec.event("interrupted", {**interruption.record(), "undone": undone})
        for late in events.read_new():  # e.g. a forced outside action after the child ended: the lock still held
            rec.event(late["kind"], late.get("detail") or {}, at=parse_utc(late["at"]))
        record = _record(rec, scenarios, run_dir)
    exit_code = EXIT_NOT_RECOVERED if interruption is not None else _exit_code(code, scenarios)
    return RunOutcome(run_dir, scenarios, record, exit_code, code, started_lab, interruption, undone)


def _drop_run_dir(run_dir: Path) -> None:
    """A run that turned out to be bad usage leaves no folder (verify would list it as covered by no record)."""
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)


@dataclass
class Interruption:
    """A SIGINT/SIGTERM `drill run` got while its child ran, and how the child ended."""

    signal: str
    at: float  # unix time the signal arrived
    child_exit_s: float | None = None  # signal to child exit
    killed: bool = False  # the child outlived the grace and was killed

    def record(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds"),
            "child_exit_s": self.child_exit_s,
            "child_killed_after_grace": self.killed,
            "note": "interrupted",
        }


def supervise(child: subprocess.Popen, say: Callable[[str], None], grace_s: float) -> tuple[int, Interruption | None]:
    """Wait for the pytest child. A SIGINT or SIGTERM to this process is forwarded to the child (as SIGTERM:
    its plugin then undoes the faults in force, as on Ctrl-C) and this process waits for it, up to `grace_s`;
    a child that outlives the grace is killed (the intent log's undo then runs here: undo_left_behind)."""
    state: list[Interruption] = []

    def forward(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if state:
            say(f"{name} again: still waiting for the drill to undo its faults (grace {grace_s:g} s)")
            return
        state.append(Interruption(name, time.time()))
        say(f"\n{name}: stopping the drill; undoing the faults in force (waiting up to {grace_s:g} s)")
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        while True:
            try:
                code = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if state and time.time() - state[0].at > grace_s and not state[0].killed:
                    say(
                        f"the drill did not stop within {grace_s:g} s: killing it; undoing its faults from the intent log"
                    )
                    state[0].killed = True
                    child.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if state:
        state[0].child_exit_s = round(time.time() - state[0].at, 3)
    return code, (state[0] if state else None)


def undo_left_behind(child_pid: int) -> list[str]:
    """Undo every fault the child's process intended and did not undo (it was killed, or crashed)."""
    from harness.faults import runner
    from harness.faults.intent import IntentLog

    log = IntentLog()
    lines = []
    for intent in reversed(log.pending()):
        if intent.owner.get("pid") == child_pid:
            lines.append(runner.undo(intent.id, log=log).line())
    return lines


def window_check(plan: DrillPlan | None, environment: str, reason: str | None) -> dict[str, Any] | None:
    """The plan's maintenance window against now: None without a window. Outside it, a lab run goes on (the
    caller warns, the record says so); a staging or production run is refused unless a reason is given."""
    if plan is None or plan.window is None:
        return None
    now = datetime.now(UTC)
    start, end = plan.window.start, plan.window.end
    shown = f"{start.isoformat()} to {end.isoformat()}"
    within = start <= now <= end
    out: dict[str, Any] = {"within": within, "window": shown, "now": now.isoformat(timespec="seconds")}
    if within:
        return out
    out["note"] = "outside the approved window"
    if environment != "lab" and not reason:
        raise OutsideWindow(
            f"plan {plan.name}: now ({out['now']}) is outside the approved window ({shown}); a {environment} "
            "drill runs only inside it, or with --outside-window REASON (kept in the record); nothing was started"
        )
    if reason:
        out["reason"] = reason
    return out


class OutsideWindow(HarnessError):
    """A staging/production drill outside its plan's maintenance window, without a reason: nothing started."""


def load_scenarios(run_dir: Path, interruption: Interruption | None = None) -> list[dict[str, Any]]:
    """Each scenario's scenario.json; one that has only its drill.json (the run was interrupted in it, so
    pytest wrote no outcome) is broken, with the interruption as its message."""
    found = []
    for folder in sorted(p for p in (run_dir / "scenarios").glob("*") if p.is_dir()):
        outcome, summary = _read_json(folder / "scenario.json"), _read_json(folder / "drill.json")
        if isinstance(outcome, dict):
            found.append(outcome)
        elif isinstance(summary, dict):
            why = f"interrupted by {interruption.signal}" if interruption else "the drill process ended in it"
            found.append({**summary, "status": "broken", "message": why, "phase": "call", "interrupted": True})
        elif outcome is not None or summary is not None:  # written half (a full disk): broken, and said so
            found.append({"name": folder.name, "status": "broken", "message": "its outcome files are unreadable"})
    return sorted(found, key=lambda s: (s.get("feature") or "", s.get("line") or 0))


def _read_json(path: Path) -> Any:
    """The file's JSON; None when it does not exist; False when it exists but cannot be read whole."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return False


def _exit_code(pytest_code: int, scenarios: list[dict[str, Any]]) -> int:
    statuses = {s.get("status") for s in scenarios}
    if "failed" in statuses:
        return EXIT_BREACHED
    if "broken" in statuses or pytest_code not in (0,):
        return EXIT_NOT_RECOVERED
    return EXIT_OK


def _write_metadata(run_dir: Path, target_name: str, target: Any) -> None:
    try:
        from harness.evidence.allure_meta import write_metadata
    except ImportError:
        return
    versions = target.versions() if hasattr(target, "versions") else {}
    write_metadata(run_dir / "allure-results", target=target_name, environment=versions)


def _record(rec: RecordBuilder, scenarios: list[dict[str, Any]], run_dir: Path) -> Path:
    """The scenarios into the record, then finish it. The child told the timeline as it happened
    (harness/drills/events.py); only what it could not tell is added here: the end of an interrupted scenario."""
    for s in scenarios:
        if s.get("interrupted"):
            rec.event("scenario-finished", {"scenario": s["name"], "status": s["status"], "message": s["message"]})
        _record_scenario(rec, s)
    rec.event("drill-finished", {"scenarios": len(scenarios)})
    rec.evidence(run_dir)
    return rec.finish()


def _record_scenario(rec: RecordBuilder, s: dict[str, Any]) -> None:
    if s.get("status") != "skipped":
        rec.scenario(**scenario_fields(s))


def scenario_fields(s: dict[str, Any]) -> dict[str, Any]:
    """A scenario's outcome (scenario.json) as RecordBuilder.scenario's arguments."""
    objective = s.get("objective") or {}
    return {
        "name": s["name"],
        "feature": s.get("feature"),
        "tags": s.get("tags"),
        "objective_key": objective.get("key") or (s.get("targets") or {}).get("rto_source"),
        "objective_source": objective.get("source") or "inline",
        "measurement": s.get("measurement") or None,
        "status": s["status"],
        "verdict_name": s.get("verdict_name"),
    }
