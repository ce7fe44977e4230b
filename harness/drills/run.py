"""`drill run`: select scenarios, make sure the target is up, run them through pytest (pytest-bdd +
allure-pytest-bdd), then summarise, write the chained drill record, and say how it went.

    outcome = run_drills(RunRequest(tags="smoke"))
    outcome.exit_code   # 0 all met, 1 an objective breached, 3 a drill could not complete, 2 bad input

pytest runs in a child process so a drill's signals, threads and GC tuning never leak into the caller, and
so the same command line works by hand: the exact argv is printed and kept in the run folder.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.drills.features import check_gherkin, feature_files, pytest_rootdir
from harness.drills.features import shown as _rel
from harness.drills.plugin import APPROVAL_ENV, APPROVER_ENV, AUTO_CONFIRM_ENV, normalise_tags
from harness.errors import EXIT_BREACHED, EXIT_NOT_RECOVERED, EXIT_OK, EXIT_USAGE, HarnessError
from harness.evidence.plan import DrillPlan
from harness.evidence.record import RecordBuilder
from harness.redact import mask

PYTEST_USAGE_ERROR, PYTEST_NO_TESTS, PYTEST_INTERRUPTED = 4, 5, 2
SCENARIO_TIMEOUT_S = 3600


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


@dataclass
class RunOutcome:
    run_dir: Path
    scenarios: list[dict[str, Any]]
    record: Path | None
    exit_code: int
    pytest_exit: int
    started_lab: bool = False


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
    approval = req.approvals[0] if req.approvals else {}
    # once, before anything starts: approval, who we are against the allowlist (SafetyRefused: exit 2)
    clearance = target.preflight(approval.get("ticket"), approval.get("approver"))
    root = project_root()
    files = feature_files(root, req.features)
    check_gherkin(files)
    environment = req.plan.environment if req.plan and req.plan.environment else target_file.environment
    rec = RecordBuilder(
        req.reports_dir,
        plan=req.plan,
        target=req.target,
        environment=environment,
        operator=req.operator,
        approvals=req.approvals,
    )
    run_dir = (req.reports_dir / "runs" / rec.id).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)

    problems = preflight_only(root, run_dir, req, files)
    if problems is not None:
        return RunOutcome(run_dir, [], None, problems, PYTEST_USAGE_ERROR)
    if clearance is not None:
        rec.event("approval-checked", clearance.record())
    try:
        target = target.connect(bring_up=True, say=say)
    except HarnessError:
        rec.abandon()  # a lab that would not start: no drill ran, no record (as before records were live)
        raise
    started_lab = target.started
    rec.event(
        "drill-started",
        {"features": [_rel(f) for f in files], "tags": req.tags, "plan": req.plan.name if req.plan else None},
    )
    argv = pytest_argv(root, run_dir, req)
    argv[argv.index("--rootdir") + 1] = str(pytest_rootdir(root, files))  # features may live outside root
    (run_dir / "command.txt").write_text(" ".join(shlex.quote(a) for a in argv) + "\n", encoding="utf-8")
    env = {**os.environ, "DRILL_FEATURES": os.pathsep.join(str(f) for f in files)}
    if req.yes:
        env[AUTO_CONFIRM_ENV] = "1"
    if req.approvals:  # the child preflights a cloud target itself (plugin.pytest_sessionstart)
        env[APPROVAL_ENV] = str(req.approvals[0].get("ticket") or "")
        env[APPROVER_ENV] = str(req.approvals[0].get("approver") or "")
    try:
        code = subprocess.run(
            argv, cwd=root, env=env, stdout=stream, stderr=subprocess.STDOUT if stream else None
        ).returncode
    finally:
        if started_lab and not req.keep_lab:
            say("stopping the lab this run started (drill lab down)")
            target.stop()
    scenarios = load_scenarios(run_dir)
    if code == PYTEST_USAGE_ERROR:
        rec.abandon()
        return RunOutcome(run_dir, scenarios, None, EXIT_USAGE, code, started_lab)
    if code == PYTEST_NO_TESTS or (code == 0 and not scenarios):
        rec.abandon()  # usage, not a drill: no record
        raise HarnessError(f"no scenario matches (tags: {req.tags or '-'}, plan: {req.plan.name if req.plan else '-'})")
    _write_metadata(run_dir, req.target, target)
    record = _record(rec, scenarios, run_dir)
    return RunOutcome(run_dir, scenarios, record, _exit_code(code, scenarios), code, started_lab)


def load_scenarios(run_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((run_dir / "scenarios").glob("*/scenario.json")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
    return sorted(found, key=lambda s: (s.get("feature") or "", s.get("line") or 0))


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
    for s in scenarios:
        if s.get("status") == "skipped":
            rec.event("scenario-skipped", {"scenario": s["name"], "reason": s.get("message")})
            continue
        m = s.get("measurement") or {}
        for f in s.get("faults") or []:
            rec.event(
                "fault-injected",
                {"scenario": s["name"], "fault": f["fault"], "id": f["id"], "params": f.get("params")},
                at=datetime.fromtimestamp(f["injected_at"], UTC),
            )
            if f.get("undo"):
                rec.event(
                    "rollback",
                    {"scenario": s["name"], "fault": f["id"], "result": f["undo"]["line"]},
                    at=datetime.fromtimestamp(f["undo"]["at"], UTC),
                )
        for p in s.get("procedures") or []:
            for step in p["steps"]:
                rec.event(
                    "recovery-step" if not step.get("confirmed_by") else "manual-confirmation",
                    {
                        "scenario": s["name"],
                        "procedure": p["procedure"],
                        "step": step["title"],
                        "duration_s": round(step["duration_s"], 3),
                        "ok": step["ok"],
                        "confirmed_by": step.get("confirmed_by"),
                    },
                    at=datetime.fromtimestamp(step["started_at"], UTC),
                )
        if s.get("aborted"):
            a = s["aborted"]
            rec.event(
                "aborted",
                {"scenario": s["name"], "by": a.get("by"), "reason": a.get("reason")},
                at=datetime.fromisoformat(a["at"]) if a.get("at") else None,
            )
        if m.get("recovered"):
            rec.event("recovered", {"scenario": s["name"], "rto_s": m.get("rto_s")})
        rec.event(
            "scenario-finished",
            {"scenario": s["name"], "status": s["status"], "message": mask(s.get("message") or "")[:500] or None},
        )
        objective = s.get("objective") or {}
        rec.scenario(
            name=s["name"],
            feature=s.get("feature"),
            tags=s.get("tags"),
            objective_key=objective.get("key") or (s.get("targets") or {}).get("rto_source"),
            objective_source=objective.get("source") or "inline",
            measurement=m or None,
            status=s["status"],
            verdict_name=s.get("verdict_name"),
        )
    rec.event("drill-finished", {"scenarios": len(scenarios)})
    rec.evidence(run_dir)
    return rec.finish()
