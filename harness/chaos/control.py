"""The measurement control: real RTO/RPO for any Chaos Toolkit experiment.

Added to an experiment (its `controls`) or to a run (`chaos run --control-file experiments/controls/measure.json
EXPERIMENT`), it:

1. before the method: starts the measurement engine's probes and writers and requires a healthy baseline
   (an unhealthy target interrupts the run before anything is injected);
2. at the first action of the method (or the one named by `inject_at`): marks t_inject;
3. marks every later activity (and the rollbacks) on the timeline;
4. after the experiment (method, hypothesis, rollbacks): waits for stable recovery, stops, reads the writers'
   rows back, analyses, and writes the result into the journal under ONE key, `drill_measurement`
   (JOURNAL_KEY): RTO/RPO, outages, lost writes, targets, verdict, the artefact folder and the full result;
5. sets the journal's `status` to `failed` when an objective is breached, the system did not recover, or a
   fault action failed — so `chaos run` exits 1. (The continuous hypothesis never does this.)
6. appends a drill record (path `chaos-toolkit`) to `<reports>/records/`, the chain Gherkin drills and
   `drill measure` use: written live from the first event (the run's activities as they happen), chained
   after the experiment with the experiment file's SHA-256, the verdict, the samples and the journal as
   evidence. The record's id is in the journal under `drill_measurement.record`.

Settings, from the control's provider `arguments` (substituted with the experiment's configuration, so
`${name}` works) overridden by an experiment extension named `drill` (see docs/chaos.md):

    probes    [names of the target file's probes, or probe specs "NAME@http=URL"]   default: the target's
    writers   [names of the target file's writers, or writer specs "postgres=DSN"]  default: the target's
    target    target file name or path (default "local"): resolves probe/writer names
    drill_target  the target file whose safety section clears the run (also configuration `drill_target`);
              with it, or with a non-lab `target`, harness.safety preflights before the experiment: who we
              are against the allowlist, approval (DRILL_APPROVAL / DRILL_APPROVER) — a refusal interrupts
              the run before anything is injected; the clearance goes into the journal under `clearance`
    objective {component, scenario} of objectives.yaml;  targets {rto_s, rpo_s} inline (win over it)
    rate, interval, stable, baseline, deadline, out_dir, inject_at
    reports   the reports folder the drill record is chained into (default $DRILL_REPORTS_DIR or ./reports);
              `out_dir` defaults to <reports>/chaos/<run id>
    budget    latency budget (s) of every probe that names none (`probe_timeout` is the older name);
              default per kind (http 1 s, tcp/postgres/redis 0.5 s); independent of the interval
    degraded  degraded threshold (s) of every probe that names none: slower but within budget = degraded
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError, TargetUnhealthy
from harness.redact import clean, mask

JOURNAL_KEY = "drill_measurement"
EXTENSION_NAME = "drill"
DEFAULT_DEADLINE_S = 300.0
logger = logging.getLogger("chaostoolkit")


class ObjectiveRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: str
    scenario: str | None = None


class InlineTargets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rto_s: float | None = Field(None, ge=0)
    rpo_s: float | None = Field(None, ge=0)


class MeasureSettings(BaseModel):
    """What the control measures and judges; every field optional (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    target: str = "local"
    drill_target: str | None = None
    probes: list[str] | None = None
    writers: list[str] | None = None
    rate: float = Field(20.0, gt=0, le=1000)
    interval: float | None = Field(None, ge=0.01)
    probe_timeout: float | None = Field(None, gt=0, allow_inf_nan=False)  # the older name of `budget`
    budget: float | None = Field(None, gt=0, allow_inf_nan=False)
    degraded: float | None = Field(None, gt=0, allow_inf_nan=False)
    stable: float | None = Field(None, gt=0)
    baseline: float = Field(2.0, gt=0)
    deadline: float | None = Field(None, gt=0)
    out_dir: str | None = None
    reports: str | None = None
    inject_at: str | None = None
    objective: ObjectiveRef | None = None
    targets: InlineTargets | None = None
    guards: list[dict[str, Any]] | None = None  # abort guards, added to the target file's safety.guards


class _Run:
    """One experiment run's measurement state (chaoslib runs one experiment at a time per process)."""

    def __init__(self) -> None:
        self.settings: MeasureSettings | None = None
        self.measurement: Any = None
        self.objective: Any = None
        self.in_method = False
        self.inject_label: str | None = None
        self.failed_actions: list[str] = []
        self.error: str | None = None
        self.seen: set[tuple[int, str]] = set()
        self.written = False
        self.clearance: dict[str, Any] | None = None
        self.watch: Any = None  # harness.safety.GuardWatch while the method runs, when guards are declared
        self.aborted: dict[str, Any] | None = None
        self.result: Any = None  # the MeasurementResult, once stopped
        self.record: Any = None  # harness.evidence.record.RecordBuilder, from the first event on
        self.record_path: Path | None = None
        self.record_name = "chaos experiment"

    def once(self, context: Any, what: str) -> bool:
        """True the first time for this context and hook: a control given both in the experiment and with
        --control-file is applied twice by chaoslib at some levels."""
        key = (id(context), what)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def mark(self, label: str) -> None:
        m = self.measurement
        if m is not None and m.result is None and not m._stopped:
            m.mark_event(label)


_run: _Run | None = None


def _current() -> _Run:
    global _run
    if _run is None:
        _run = _Run()
    return _run


# -- settings -------------------------------------------------------------------------------------------------
def settings_from(arguments: dict[str, Any], experiment: dict[str, Any] | None) -> MeasureSettings:
    """Control arguments, overridden by the experiment's `drill` extension. HarnessError naming the field."""
    merged = {k: v for k, v in arguments.items() if v is not None}
    for ext in (experiment or {}).get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == EXTENSION_NAME:
            merged.update({k: v for k, v in ext.items() if k != "name"})
    try:
        return MeasureSettings.model_validate(merged)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise HarnessError(f"measurement control: {field}: {first['msg']}") from None


def resolve_probes_and_writers(s: MeasureSettings) -> tuple[list, list, Any]:
    """ProbeSpecs and WriterSpecs: specs as given, names through the target file (a lab `endpoint`/`store`
    is resolved on the running lab). Returns (probes, writers, target file)."""
    from harness import targets
    from harness.measure import parse_probe_spec, parse_writer_spec

    drill_target = targets.load(s.target)
    target = drill_target.target_file
    probe_names = s.probes if s.probes is not None else target.measure.probes
    writer_names = s.writers if s.writers is not None else target.measure.writers
    local = None

    def lab_target() -> Any:
        nonlocal local
        if local is None:  # a lab `endpoint`/`store`: resolved on the running lab
            local = drill_target.connect(bring_up=False)
        return local

    probes = []
    for item in probe_names:
        if "=" in item:
            probes.append(parse_probe_spec(item))
        elif item in target.probes:
            ref = target.probes[item]
            probes.append(
                ref.timed(
                    lab_target().probe(ref.endpoint) if ref.endpoint else parse_probe_spec(target.probe_spec(item))
                )
            )
        else:
            raise HarnessError(
                f"measurement control: probe {item!r} is neither a probe spec (KIND=TARGET) nor "
                f"one of {target.path} probes: {', '.join(target.probes) or '-'}"
            )
    writers = []
    for item in writer_names:
        if "=" in item:
            writers.append(parse_writer_spec(item, s.rate))
        elif item in target.writers:
            ref = target.writers[item]
            if ref.store:
                writers.append(lab_target().writer(ref.store, ref.rate))
            else:
                from harness.targets.file import expand_env

                writers.append(parse_writer_spec(expand_env(ref.spec, f"{target.path}: writers.{item}"), ref.rate))
        else:
            raise HarnessError(
                f"measurement control: writer {item!r} is neither a writer spec (KIND=DSN) nor "
                f"one of {target.path} writers: {', '.join(target.writers) or '-'}"
            )
    if not probes:
        raise HarnessError("measurement control: no probe to measure with (give `probes`)")
    return probes, writers, target


def judged_targets(s: MeasureSettings, objective: Any) -> tuple[float | None, float | None, str]:
    """(rto_s, rpo_s, where they come from): inline targets win over the objective's, field by field
    (harness.measure.judgement decides)."""
    t = _applied(s, objective)
    return t.rto_s, t.rpo_s, t.source


def _applied(s: MeasureSettings, objective: Any, has_writer: bool = True) -> Any:
    from harness.measure import judgement

    inline = s.targets or InlineTargets()
    return judgement.applicable_targets(objective, judgement.Targets(inline.rto_s, inline.rpo_s), has_writer)


# -- the Chaos Toolkit control interface ----------------------------------------------------------------------
def configure_control(
    experiment: Any = None, configuration: Any = None, secrets: Any = None, settings: Any = None, **arguments: Any
) -> None:
    _current()


def before_experiment_control(context: Any, configuration: Any = None, secrets: Any = None, **arguments: Any) -> None:
    run = _current()
    if not run.once(context, "before-experiment") or run.settings is not None:
        return
    try:
        run.settings = settings_from(arguments, context if isinstance(context, dict) else None)
        if run.settings.objective is not None:
            from harness import objectives

            run.objective = objectives.load().lookup(run.settings.objective.component, run.settings.objective.scenario)
        run.clearance = preflight(run.settings, configuration)
        _start_record(run, context)
    except HarnessError as err:
        run.error = str(err)
        _interrupt(str(err))


def preflight(s: MeasureSettings, configuration: Any = None) -> dict[str, Any] | None:
    """Safety before the first fault, once per run: the Target's preflight (harness.targets) of the drill
    target (setting or configuration `drill_target`), else of the measured target; the clearance as recorded.
    SafetyRefused (a HarnessError) when refused."""
    import os

    from harness import targets

    named = s.drill_target or _configured(configuration, "drill_target")
    target = targets.load(named or s.target)
    clearance = target.preflight(
        os.environ.get("DRILL_APPROVAL") or None, os.environ.get("DRILL_APPROVER") or None, whole=False
    )  # the activities check their own Kubernetes context
    who = clearance.identity
    logger.info(
        f"safety: cleared {target.name} ({clearance.environment}"
        + (f", AWS account {who.account} {who.region}" if who else "")
        + (f", approval {clearance.approval['ticket']}" if clearance.approval else "")
        + ")"
    )
    return clearance.record()


def _configured(configuration: Any, key: str) -> str | None:
    """A configuration value; an unloaded Chaos Toolkit env entry ({type: env, key, default}) is read here."""
    import os

    value = (configuration or {}).get(key)
    if isinstance(value, dict) and value.get("type") == "env":
        value = os.environ.get(str(value.get("key")), value.get("default"))
    return str(value) if value else None


def before_method_control(context: Any, configuration: Any = None, secrets: Any = None, **arguments: Any) -> None:
    """Probes and writers running and a healthy baseline seen, or the run is interrupted (nothing injected)."""
    from harness.measure import Measurement
    from harness.measure.session import new_run_id

    run = _current()
    if not run.once(context, "before-method"):
        return
    if run.settings is None:  # the experiment-level hook did not run (a control attached to the method only)
        try:
            run.settings = settings_from(arguments, context if isinstance(context, dict) else None)
            run.clearance = preflight(run.settings, configuration)
            _start_record(run, None)
        except HarnessError as err:
            run.error = str(err)
            _interrupt(str(err))
    s = run.settings
    run.in_method = True
    if run.measurement is not None:
        return
    try:
        probes, writers, target = resolve_probes_and_writers(s)
        run_id = new_run_id()
        out_dir = Path(s.out_dir) if s.out_dir else _reports(s) / "chaos" / run_id
        m = Measurement(
            probes=probes,
            writers=writers,
            interval=s.interval or target.measure.interval,
            budget=s.budget if s.budget is not None else s.probe_timeout,
            degraded=s.degraded,
            stable=s.stable or target.measure.stable,
            out_dir=out_dir,
            run_id=run_id,
        )
        logger.info(
            f"measurement: {len(probes)} probe(s), {len(writers)} writer(s); baseline {s.baseline:g} s; "
            f"artefacts in {m.out_dir}"
        )
        m.start()
        run.measurement = m
        m.baseline(s.baseline)
        _event(
            run,
            "baseline-ok",
            {
                "seconds": s.baseline,
                "probes": [p.name for p in probes],
                "writers": [w.name for w in writers],
                "run_id": run_id,
            },
        )
    except (HarnessError, TargetUnhealthy) as err:
        run.error = mask(str(err))
        _event(run, "aborted", {"by": "measurement control", "reason": run.error})
        _interrupt(f"measurement control: {run.error}")


def before_activity_control(context: Any, **arguments: Any) -> None:
    run = _current()
    m = run.measurement
    if m is None or m.result is not None or not isinstance(context, dict) or not run.once(context, "before-activity"):
        return
    name = str(context.get("name") or "?")
    kind = context.get("type", "activity")
    if (
        run.in_method
        and m.t_inject is None
        and ((run.settings.inject_at is None and kind == "action") or name == run.settings.inject_at)
    ):
        m.mark_inject(name)
        run.inject_label = name
        _event(run, "fault-injected", {"activity": name})
        logger.info(f"measurement: t_inject at '{name}'")
        _watch_guards(run)
    else:
        run.mark(f"{kind}: {name}")


def after_activity_control(context: Any, state: Any = None, **arguments: Any) -> None:
    run = _current()
    if not isinstance(context, dict) or not run.once(context, "after-activity"):
        return
    status = state.get("status") if isinstance(state, dict) else None
    name = str(context.get("name") or "?")
    if run.in_method and context.get("type") == "action" and status == "failed":
        run.failed_actions.append(name)
    run.mark(f"{context.get('type', 'activity')} {status or 'done'}: {name}")
    _event(
        run,
        "activity-finished",
        {"activity": name, "type": context.get("type", "activity"), "status": status or "done"},
    )


def after_method_control(context: Any, state: Any = None, **arguments: Any) -> None:
    run = _current()
    if run.once(context, "after-method"):
        run.in_method = False
        run.mark("method done")


def before_rollback_control(context: Any, **arguments: Any) -> None:
    run = _current()
    if run.once(context, "before-rollback"):
        run.mark("rollbacks")
        _event(run, "rollback", {"step": "rollbacks started"})


def after_rollback_control(context: Any, state: Any = None, **arguments: Any) -> None:
    run = _current()
    if run.once(context, "after-rollback"):
        run.mark("rollbacks done")


def after_experiment_control(context: Any, state: Any = None, **arguments: Any) -> None:
    """Wait for stable recovery, analyse, write JOURNAL_KEY into the journal, fail it on a breach."""
    from harness.measure import judgement

    run = _current()
    if not isinstance(state, dict) or run.written:
        return
    run.written = True
    if run.watch is not None:
        run.watch.stop()
    try:
        entry = _finish(run)
    except Exception as err:  # noqa: BLE001 - chaoslib swallows control errors: put it in the journal instead
        logger.error(f"measurement control failed: {err}", exc_info=True)
        entry = {"error": mask(str(err)), "verdict": judgement.NOT_MEASURED, "passed": False}
    entry["clearance"] = run.clearance  # who we were and whose approval, or None (a lab run)
    entry["aborted"] = run.aborted  # who or what stopped the method (an abort guard), or None
    if run.record is not None:
        entry["record"] = run.record.id
    state[JOURNAL_KEY] = clean(entry)
    reason = _failure_reason(entry, run)
    if reason and state.get("status") in ("completed", None):
        state["status"] = "failed"
        logger.error(f"measurement: the experiment FAILED: {reason}")
    if reason:
        state[JOURNAL_KEY]["failed_because"] = reason
    try:
        _finish_record(run, state, entry, reason)
    except Exception as err:  # noqa: BLE001 - the journal must still be written; the live record says the rest
        logger.error(f"measurement control: the drill record could not be written: {mask(str(err))}", exc_info=True)


def cleanup_control() -> None:
    """Stop anything still running (an interrupted run) and forget this run."""
    global _run
    if _run is not None and _run.measurement is not None:
        try:
            _run.measurement.close()
        except Exception:  # noqa: BLE001
            logger.debug("measurement close failed", exc_info=True)
    if _run is not None and _run.record is not None and _run.record_path is None:
        # the after-experiment hook never ran (the run was interrupted before it): chain what happened
        try:
            _run.record.event(
                "aborted",
                {
                    "by": "chaos toolkit",
                    "reason": "the run ended before the measurement control's after-experiment hook",
                },
            )
            _run.record.scenario(name=_run.record_name, measurement=None, status="broken", verdict_name="not-measured")
            _run.record.finish()
        except Exception:  # noqa: BLE001
            logger.debug("drill record finish failed", exc_info=True)
    _run = None


# -- internals ------------------------------------------------------------------------------------------------
def _reports(s: MeasureSettings | None) -> Path:
    from harness.evidence import paths

    return paths.reports_dir(s.reports if s is not None else None)


def _experiment_source() -> str | None:
    """The experiment file `chaos run` was given (its click context), or None outside the CLI."""
    try:
        import click

        ctx = click.get_current_context(silent=True)
    except ImportError:
        return None
    while ctx is not None:
        if "source" in (ctx.params or {}):
            return str(ctx.params["source"])
        ctx = ctx.parent
    return None


def _start_record(run: _Run, experiment: Any) -> None:
    """The run's drill record, live from its first event: path chaos-toolkit, the experiment's SHA-256."""
    from harness.evidence.record import RecordBuilder, experiment_sha256

    if run.record is not None:
        return
    s = run.settings
    exp = experiment if isinstance(experiment, dict) else {}
    source = _experiment_source()
    info = {"title": exp.get("title"), **experiment_sha256(source, exp)}
    environment = (run.clearance or {}).get("environment") or "lab"
    run.record = RecordBuilder(
        _reports(s), target=s.drill_target or s.target, environment=environment, path="chaos-toolkit", experiment=info
    )
    run.record_name = str(exp.get("title") or (Path(source).stem if source else "chaos experiment"))
    if run.clearance is not None:
        run.record.event("approval-checked", run.clearance)
    run.record.event(
        "drill-started",
        {
            "experiment": info.get("file"),
            "title": exp.get("title"),
            "objective": s.objective.model_dump() if s.objective else None,
            "targets": s.targets.model_dump() if s.targets else None,
        },
    )


def _event(run: _Run, kind: str, detail: dict[str, Any]) -> None:
    if run.record is not None and run.record_path is None:
        try:
            run.record.event(kind, detail)
        except Exception:  # noqa: BLE001 - a record problem must never break the experiment
            logger.debug("drill record event failed", exc_info=True)


def _finish_record(run: _Run, journal: dict[str, Any], entry: dict[str, Any], reason: str | None) -> None:
    """Chain the record: one scenario (the experiment), the samples and the journal as evidence."""
    import json

    from harness.measure import judgement

    rec = run.record
    if rec is None or run.record_path is not None:
        return
    word = entry.get("verdict") if entry.get("verdict") in judgement.VERDICTS else judgement.NOT_MEASURED
    status = (
        "broken"
        if word in (judgement.NOT_MEASURED, judgement.ABORTED)
        else "failed"
        if reason or not judgement.passed(word)
        else "passed"
    )
    m = run.measurement
    folder = m.out_dir if m is not None else rec.reports_dir / "evidence" / rec.id
    folder.mkdir(parents=True, exist_ok=True)
    journal_file = folder / "chaos-journal.json"
    journal_file.write_text(
        json.dumps(clean(journal), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    objective = run.objective
    if run.result is not None and run.result.recovered:
        rec.event("recovered", {"scenario": run.record_name, "rto_s": run.result.rto_s})
    rec.scenario(
        name=run.record_name,
        objective_key=objective.key if objective else None,
        objective_source=objective.source if objective else (entry.get("targets") or {}).get("source"),
        measurement=run.result,
        status=status,
        verdict_name=word,
        extra={
            "journal_status": journal.get("status"),
            "failed_because": reason,
            "failed_actions": run.failed_actions,
            "aborted": run.aborted,
            "targets_source": (entry.get("targets") or {}).get("source"),
        },
    )
    rec.event("scenario-finished", {"scenario": run.record_name, "status": status, "verdict": word})
    rec.event("drill-finished", {"scenarios": 1, "journal_status": journal.get("status")})
    rec.evidence(folder)
    run.record_path = rec.finish()
    logger.info(f"drill record: {run.record_path}")


def _watch_guards(run: _Run) -> None:
    """Abort guards (the target file's safety.guards plus the control's own `guards`) watch the probes from
    t_inject on. A breach past its grace stops the method the way Ctrl-C would, gracefully: chaoslib then
    runs the rollbacks, and the journal says which guard aborted and why."""
    from chaoslib.exit import exit_gracefully

    from harness import safety
    from harness.targets import load_target

    s = run.settings
    specs = list(load_target(s.drill_target or s.target).guard.safety.guards)
    specs += [safety.GuardSpec.model_validate(g) for g in s.guards or []]
    if not specs:
        return

    def abort(decision: Any) -> None:
        run.aborted = decision.model_dump(mode="json")
        _event(run, "aborted", {"by": decision.by, "reason": decision.reason})
        logger.error(f"abort guard: {decision.by}: {decision.reason}; stopping the method, rollbacks follow")
        exit_gracefully()

    m = run.measurement
    run.watch = safety.GuardWatch(m, [safety.AbortGuard.from_spec(g) for g in specs], on_abort=abort)
    run.watch.start(since=m.t_inject)
    logger.info("abort guards: " + "; ".join(g.name for g in run.watch.guards))


def _interrupt(message: str) -> None:
    from chaoslib.exceptions import InterruptExecution

    logger.error(message)
    raise InterruptExecution(message)


def _finish(run: _Run) -> dict[str, Any]:
    from harness.measure import Targets, judgement

    s, m = run.settings, run.measurement
    base: dict[str, Any] = {
        "schema_version": 1,
        "control": "harness.chaos.control",
        "objective": _objective_dict(run.objective),
        "inject_at": run.inject_label,
        "failed_actions": run.failed_actions,
    }
    rto_t = rpo_t = None
    if s is not None:
        applied = _applied(s, run.objective, has_writer=m is None or bool(m.writer_specs))
        rto_t, rpo_t = applied.rto_s, applied.rpo_s
        base["targets"] = {"rto_s": rto_t, "rpo_s": rpo_t, "source": applied.source}
        if applied.rpo_not_judged:
            # Without a writer there is no data loss to measure: an RPO target is reported, not judged (a null
            # RPO against a target would otherwise count as a breach).
            base["targets"]["rpo_not_judged"] = applied.rpo_not_judged
    if m is None or run.error:
        return {
            **base,
            "verdict": judgement.NOT_MEASURED,
            "passed": False,
            "error": run.error or "no measurement started",
        }
    if m.t_inject is None:
        m.close()
        return {
            **base,
            "verdict": judgement.NOT_MEASURED,
            "passed": False,
            "error": "no action ran in the method: nothing was injected, nothing measured",
        }
    deadline = judgement.deadline(rto_t, explicit=s.deadline, default=DEFAULT_DEADLINE_S)
    logger.info(f"measurement: waiting up to {deadline:g} s for stable recovery ({m.stable:g} s of good samples)")
    t0 = time.monotonic()
    recovered = m.wait_recovered(deadline)
    logger.info(
        f"measurement: {'recovered' if recovered else 'NOT recovered'} after {time.monotonic() - t0:.1f} s "
        "of waiting; reading the writers back"
    )
    result = m.stop(targets=Targets(rto_s=rto_t, rpo_s=rpo_t))
    v = result.verdict
    verdict = judgement.name_of(result, aborted=run.aborted is not None)
    run.result = result
    entry = {
        **base,
        "verdict": verdict,
        "passed": judgement.passed(verdict),
        "recovered": result.recovered,
        "no_outage_observed": result.no_outage_observed,
        "rto_s": result.rto_s,
        "rto_at_least_s": result.rto_at_least_s,
        "uncertainty_s": result.uncertainty_s,
        "detect_s": result.detect_s,
        "degraded_s": result.degraded_s,
        "witnesses": [w.model_dump() for w in result.witnesses],
        "warnings": list(result.warnings),
        "rpo_s": result.rpo_s,
        "lost_writes": result.lost_writes,
        "acked_writes": result.acked_writes,
        "indeterminate_writes": result.indeterminate_writes,
        "lost_window": result.lost_window.model_dump() if result.lost_window else None,
        "outages": {k: [w.model_dump() for w in ws] for k, ws in result.outages.items()},
        "checks": v.model_dump(mode="json") if v is not None else None,
        "out_dir": m.out_dir.as_posix(),
        "result": result.model_dump(mode="json"),
    }
    logger.info(
        f"measurement: RTO {_s(result.rto_s)} (± {result.uncertainty_s:.2f} s), RPO {_s(result.rpo_s)}, "
        f"lost writes {result.lost_writes if result.lost_writes is not None else '—'} of "
        f"{result.acked_writes} acknowledged; degraded {result.degraded_s:.2f} s; verdict {verdict}"
    )
    for w in result.witnesses:
        logger.info(
            f"measurement: witness {w.name} ({w.resolution_s:g} s resolution): "
            + (
                f"recovered after {w.recover_s:.2f} ± {w.uncertainty_s:.2f} s"
                if w.recover_s is not None and w.outage_observed
                else "no outage observed"
                if w.recovered
                else "NOT recovered"
            )
        )
    for warning in result.warnings:
        logger.warning(f"measurement: {warning}")
    return entry


def _failure_reason(entry: dict[str, Any], run: _Run) -> str | None:
    if run.aborted:
        return f"aborted by {run.aborted['by']}: {run.aborted['reason']}"
    if entry.get("error"):
        return entry["error"]
    if run.failed_actions:
        return f"fault action(s) failed: {', '.join(run.failed_actions)}"
    from harness.measure import judgement

    if entry.get("verdict") == judgement.NOT_RECOVERED:
        return "the system did not recover (stable) before the deadline"
    if not entry.get("passed", True):
        return "objective breached: " + (judgement.breach_text(entry.get("checks")) or entry.get("verdict", "?"))
    return None


def _objective_dict(objective: Any) -> dict[str, Any] | None:
    if objective is None:
        return None
    return {
        "key": objective.key,
        "source": objective.source,
        "section": objective.section,
        "rto": objective.rto.text,
        "rpo": objective.rpo.text,
    }


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} s"
