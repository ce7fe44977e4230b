"""The pytest plugin behind `drill run` (loaded by the root conftest.py): options, the `drill` fixture,
tag selection, the preflight of every selected scenario, and one `drill.json` + status per scenario.

Hooks stay thin: selection and checks live in harness/drills/preflight.py, the scenario in scenario.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.drills import events as run_events
from harness.drills import preflight
from harness.drills.options import (  # noqa: F401 - the environment names are this plugin's interface
    APPROVAL_ENV,
    APPROVER_ENV,
    AUTO_CONFIRM_ENV,
    UNATTENDED_ENV,
    normalise_tags,
)
from harness.drills.scenario import DrillScenario, NullReporter
from harness.errors import HarnessError
from harness.evidence.plan import TagExpression
from harness.recovery import Confirmer
from harness.redact import mask

SCENARIO_KEY = pytest.StashKey[preflight.ScenarioRef]()
DRILL_KEY = pytest.StashKey[DrillScenario]()
OUTCOME_KEY = pytest.StashKey[dict]()
PENDING_TAG = "pending"
INTERRUPTED_HEAL_S = 30.0  # after Ctrl-C/SIGTERM: how long a scenario's close waits for a healthy target


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drill", "DR drills (drill run)")
    group.addoption(
        "--drill-tags", default=None, help="tag expression selecting scenarios, e.g. 'smoke and not region'"
    )
    group.addoption("--drill-target", default="local", help="target to drill (default: local lab)")
    group.addoption("--drill-plan", default=None, help="drill plan file (plans/*.yaml): its scope selects scenarios")
    group.addoption(
        "--drill-run-dir", default=None, help="where per-scenario evidence goes (default: reports/runs/adhoc)"
    )


_config: list[pytest.Config] = []


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_apply_tag(tag: str, function: Any) -> None:
    """Gherkin tags become pytest marks: register each (e.g. plan:5.1.1) so none warns as a typo."""
    if _config:
        _config[-1].addinivalue_line("markers", f"{tag}: drill catalog tag")
    # returning None lets pytest-bdd apply the mark as usual


def pytest_configure(config: pytest.Config) -> None:
    _config.append(config)
    if os.environ.get(run_events.RUN_DIR_ENV):
        config.pluginmanager.register(_SurviveStorageErrors(), "drill-survive-storage-errors")
    for tag in (
        "smoke",
        "quarterly",
        "component",
        "full-dr",
        "postgresql",
        "redis",
        "app",
        "network",
        "region",
        "destructive",
        PENDING_TAG,
    ):
        config.addinivalue_line("markers", f"{tag}: drill catalog tag")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The target is preflighted in this process too, once (who we are, allowlist, approval from the
    environment `drill run` passes): the cloud faults refuse to act without this process's clearance.
    Refused: a usage error before any scenario starts, nothing injected. Skipped for --collect-only."""
    config = session.config
    if config.option.collectonly:
        return
    name = config.getoption("--drill-target", default="local")
    target = _target(config)
    try:
        target.preflight(os.environ.get(APPROVAL_ENV) or None, os.environ.get(APPROVER_ENV) or None)
    except HarnessError as err:
        raise pytest.UsageError(f"target {name}: {mask(str(err))}") from None
    if os.environ.get(run_events.RUN_DIR_ENV):  # the child of `drill run`: a signal ends the run, faults undone
        _stop_on_signals(session)


class _Interrupt:
    """The first SIGINT/SIGTERM this child got, and whether a scenario is closing (undoing its faults)."""

    signum: int | None = None
    closing = 0


_interrupt = _Interrupt()


def _stop_on_signals(session: pytest.Session) -> None:
    """Ctrl-C and SIGTERM (from the terminal, or forwarded by `drill run`) stop the run the way pytest stops
    on Ctrl-C: KeyboardInterrupt, then every fixture is torn down, so each scenario's close() undoes its
    faults. The default SIGTERM action would kill this process with the faults in force. While a scenario is
    closing, a signal only asks pytest to stop after it (an undo is never cut short); a second signal is
    noted and ignored."""

    def stop(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if _interrupt.signum is not None:
            sys.stderr.write(f"\ndrill: {name} again: still undoing the faults in force, please wait\n")
            return
        _interrupt.signum = signum
        session.shouldstop = f"interrupted by {name}"
        sys.stderr.write(f"\ndrill: {name} received: undoing the faults in force, then stopping\n")
        sys.stderr.flush()
        if not _interrupt.closing:
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


_storage_errors: list[str] = []


def pytest_internalerror(excrepr: Any, excinfo: Any) -> bool | None:
    """Under `drill run`, a storage error in a reporting hook (a full disk for the reports folder) is said
    once, in one line, instead of a traceback per hook call: the drill itself goes on to undo its faults, and
    `drill run` ends with one clear error (harness/drills/storage.py)."""
    err = getattr(excinfo, "value", None)
    if not os.environ.get(run_events.RUN_DIR_ENV) or not isinstance(err, OSError):
        return None
    _storage_error(err)
    return True


class _SurviveStorageErrors:
    """Outermost around the hooks that write result files (Allure's makereport, JUnit's and Cucumber's
    sessionfinish): a storage error is said once (and the report rebuilt), so the run goes on to undo its
    faults instead of printing a traceback per scenario. Registered only under `drill run`."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        try:
            return (yield)
        except OSError as err:
            _storage_error(err)
            return pytest.TestReport.from_item_and_call(item, call)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        try:  # JUnit and Cucumber JSON write their files here
            return (yield)
        except OSError as err:
            _storage_error(err)
            return None


def _storage_error(err: OSError) -> None:
    if not _storage_errors:
        sys.stderr.write(f"drill: cannot write evidence: {err.strerror or err} ({err.filename or '-'})\n")
    _storage_errors.append(str(err))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    expr = config.getoption("--drill-tags")
    wanted = TagExpression(normalise_tags(expr)) if expr else None
    plan = _plan(config)
    target_file = _target(config).target_file
    keep, dropped, problems, cannot = [], [], [], []
    for item in items:
        ref = preflight.scenario_of(item)
        if ref is None:
            keep.append(item)
            continue
        item.stash[SCENARIO_KEY] = ref
        if (wanted is not None and not wanted.matches(ref.tags)) or (
            plan is not None and not plan.scope.includes(ref.name, ref.tags)
        ):
            dropped.append(item)
            continue
        keep.append(item)
        found = preflight.check_item(item, session._fixturemanager)
        if PENDING_TAG in ref.tags:
            reason = "; ".join(p.split(": ", 1)[1] for p in found) or "marked @pending in the catalog"
            item.add_marker(pytest.mark.skip(reason=f"pending: {reason}"))
            continue
        problems.extend(found)
        unsupported = preflight.unsupported_on(item, session._fixturemanager, target_file) if target_file else []
        if unsupported:  # skipped, and said so: the target file states why it cannot run this fault
            item.add_marker(pytest.mark.skip(reason="not supported on this target: " + "; ".join(unsupported)))
            cannot.append(f"{ref.name}: " + "; ".join(unsupported))
    if plan is not None:
        names = {r.name for r in (preflight.scenario_of(i) for i in items) if r is not None}
        problems.extend(
            f"{plan.path}: scope.scenarios: no scenario named {n!r} in the catalog"
            for n in plan.scope.scenarios
            if n not in names
        )
    if problems:
        raise pytest.UsageError(
            "the drill catalog has errors; nothing was run or injected:\n  " + "\n  ".join(problems)
        )
    runnable = [
        i for i in keep if i.stash.get(SCENARIO_KEY, None) is not None and PENDING_TAG not in i.stash[SCENARIO_KEY].tags
    ]
    if os.environ.get(UNATTENDED_ENV) == "1":
        manual = [
            m
            for i in runnable
            if not any(mark.name == "skip" for mark in i.iter_markers())
            for m in preflight.manual_steps(i, session._fixturemanager, _target(config))
        ]
        if manual:  # refused up front: without an operator the step would fail after the fault is injected
            raise pytest.UsageError(
                "these steps need an operator to confirm them, and this run has no terminal; nothing was run "
                "or injected:\n  " + "\n  ".join(manual) + "\nrun it at a terminal, or pass --yes to "
                "auto-confirm them (the record marks each step auto-confirmed)"
            )
    if cannot and len(cannot) == len(runnable):  # a green run that drilled nothing would mislead CI
        raise pytest.UsageError(
            f"no selected scenario can run on target {target_file.name}; nothing was run or "
            "injected:\n  " + "\n  ".join(cannot)
        )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


TARGET_KEY = pytest.StashKey[Any]()


def _target(config: pytest.Config) -> Any:
    """The --drill-target (harness.targets.load), loaded once per session (a bad one: a usage error, nothing
    run)."""
    if TARGET_KEY not in config.stash:
        from harness import targets

        try:
            config.stash[TARGET_KEY] = targets.load(config.getoption("--drill-target", default="local"))
        except HarnessError as err:
            raise pytest.UsageError(str(err)) from None
    return config.stash[TARGET_KEY]


def _plan(config: pytest.Config) -> Any:
    path = config.getoption("--drill-plan")
    if not path:
        return None
    from harness.evidence.plan import load_plan

    try:
        return load_plan(path)
    except HarnessError as err:
        raise pytest.UsageError(str(err)) from None


def _reporter(config: pytest.Config) -> Any:
    if getattr(config.option, "allure_report_dir", None):
        from harness.evidence.allure_attach import AllureReporter

        return AllureReporter()
    return NullReporter()


@pytest.fixture(scope="session")
def drill_target(pytestconfig: pytest.Config) -> Any:
    """The system under drill: --drill-target names a target file (targets/NAME.yaml) or is a path to one.
    A lab target must be up (drill run starts it)."""
    return _target(pytestconfig).connect(bring_up=False)


def _confirmer(config: pytest.Config) -> Confirmer:
    """Manual procedure steps ask the operator on the terminal (pytest's capture suspended for the prompt).
    CI=true or `drill run --yes` confirm automatically, and the record says so; with no terminal and
    neither, the step fails instead of hanging."""
    if os.environ.get(AUTO_CONFIRM_ENV) == "1":
        return Confirmer(auto=True, why="--yes")
    capman = config.pluginmanager.getplugin("capturemanager")

    def ask(prompt: str) -> str:
        with capman.global_and_fixture_disabled():
            if not sys.stdin or not sys.stdin.isatty():
                raise HarnessError(
                    "a manual step needs an operator at a terminal; run attended, or pass --yes "
                    "(or CI=true) to auto-confirm, which the record marks"
                )
            return input(prompt)

    return Confirmer(ask=ask)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "scenario"


@pytest.fixture
def drill(request: pytest.FixtureRequest, drill_target: Any) -> Any:
    """This scenario's DrillScenario; closed (faults undone, evidence written) after the scenario."""
    ref = request.node.stash.get(SCENARIO_KEY, None) or preflight.scenario_of(request.node)
    run_dir = Path(request.config.getoption("--drill-run-dir") or "reports/runs/adhoc")
    reporter = _reporter(request.config)
    name = ref.name if ref else request.node.name
    record = DrillScenario(
        name=name,
        target=drill_target,
        out_dir=run_dir / "scenarios" / _slug(request.node.name),
        feature=ref.feature if ref else "",
        tags=sorted(ref.tags) if ref else [],
        reporter=reporter,
        confirm=_confirmer(request.config),
        on_event=run_events.child_sink(),
    )
    if hasattr(reporter, "begin") and ref is not None:
        reporter.begin(ref.feature_name, ref.name, sorted(ref.tags))
    request.node.stash[DRILL_KEY] = record
    yield record
    _interrupt.closing += 1  # a signal now must not cut the undo short
    try:
        record.close(heal_timeout=INTERRUPTED_HEAL_S if _interrupt.signum is not None else 180.0)
    finally:
        _interrupt.closing -= 1


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = (yield).get_result()
    outcome = item.stash.setdefault(OUTCOME_KEY, {"status": "passed", "message": None})
    if report.failed and outcome["status"] == "passed":
        exc = call.excinfo.value if call.excinfo else None
        outcome["status"] = "failed" if isinstance(exc, AssertionError) and report.when == "call" else "broken"
        outcome["message"] = mask(str(exc) if exc is not None else report.longreprtext)[:2000]
        outcome["phase"] = report.when
    elif report.skipped and report.when in ("setup", "call"):
        outcome["status"] = "skipped"
        outcome["message"] = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else None
    if report.when == "teardown":
        _write_outcome(item, outcome)


def _write_outcome(item: pytest.Item, outcome: dict) -> None:
    ref = item.stash.get(SCENARIO_KEY, None)
    if ref is None:
        return
    run_dir = Path(item.config.getoption("--drill-run-dir") or "reports/runs/adhoc")
    drill = item.stash.get(DRILL_KEY, None)
    out = drill.out_dir if drill is not None else run_dir / "scenarios" / _slug(item.name)
    summary = {"name": ref.name, "feature": ref.feature, "tags": sorted(ref.tags)}
    try:
        out.mkdir(parents=True, exist_ok=True)
        if (out / "drill.json").exists():
            summary = json.loads((out / "drill.json").read_text())
    except (OSError, ValueError) as err:  # a drill.json written half (full disk): the outcome still counts
        summary["evidence_problem"] = f"drill.json unreadable: {err}"
    summary.update({"nodeid": item.nodeid, "line": ref.line, **outcome})
    try:
        (out / "scenario.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        _storage_error(err)
    sink = run_events.child_sink()
    if sink is not None:
        if outcome["status"] == "skipped":
            sink("scenario-skipped", {"scenario": ref.name, "reason": outcome.get("message")}, None)
        else:
            message = mask(outcome.get("message") or "")[:500] or None
            sink("scenario-finished", {"scenario": ref.name, "status": outcome["status"], "message": message}, None)
