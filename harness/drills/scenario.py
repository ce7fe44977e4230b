"""`DrillScenario`: the one record that flows through a drill scenario, like Chaos Toolkit's journal.

Set-up fills it (objective, probes, writers, replication mode); the first fault starts the measurement
(healthy baseline first, so nothing is injected into a sick target) and marks t_inject; recovery procedures
add timed steps; the first check that needs numbers waits for stable recovery and stops the measurement;
`close()` always undoes every fault this scenario put in, restores what set-up changed, and waits for the
target to be healthy again so the next scenario starts clean.

Abort guards (the target file's `safety.guards`, plus any a Given step adds) watch the probes from the first
fault on. A breach past its grace undoes the faults at once, from the watching thread (the steps may be
sleeping or waiting for recovery), and the first check then fails with "drill aborted by guard:<probe>": the
record says who or what aborted and still holds the measurement of the recovery that followed.

The record knows nothing about pytest or Allure: a `reporter` (harness/evidence/allure_attach.py in a
drill run, nothing from plain Python) is told about labels and evidence.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness import objectives as objectives_mod
from harness import safety
from harness.chaos.journal import ActivityJournal
from harness.errors import HarnessError, TargetUnhealthy
from harness.faults import runner
from harness.faults.intent import IntentLog
from harness.measure import Measurement, MeasurementResult, Targets, judgement
from harness.recovery import Confirmer, RunReport
from harness.recovery import get as get_procedure
from harness.recovery.procedure import StepResult
from harness.redact import clean, mask

# 100 ms sampling: about ±0.1 s on an RTO (one interval + the answer time of the sample that ended the
# outage), against targets of a minute and more. Each probe's latency budget is its own (targets/local.yaml).
DEFAULT_INTERVAL = 0.1
DEFAULT_BASELINE_S = 2.0
DEFAULT_STABLE_S = 2.0
NO_TARGET_DEADLINE_S = judgement.NO_TARGET_DEADLINE_S
ABORTED_RECOVERY_WAIT_S = 300.0  # after an abort, how long close() waits to see the target recover
CHAOS_JOURNAL = "chaos-journal.json"  # the scenario's Chaos Toolkit journal, beside drill.json


class FaultInjectionFailed(HarnessError):
    """Message starts with 'fault injection failed' (the report's category of the same name)."""


class DrillAborted(HarnessError):
    """Message starts with 'drill aborted by <who>': an abort guard (or the operator) stopped the drill."""


class Reporter(Protocol):
    def objective(self, objective: objectives_mod.Objective) -> None: ...
    def fault(self, entry: dict[str, Any]) -> None: ...
    def procedure(self, report: RunReport) -> None: ...
    def finished(self, drill: DrillScenario) -> None: ...


class NullReporter:
    def objective(self, objective: objectives_mod.Objective) -> None:
        pass

    def fault(self, entry: dict[str, Any]) -> None:
        pass

    def procedure(self, report: RunReport) -> None:
        pass

    def finished(self, drill: DrillScenario) -> None:
        pass


@dataclass
class Checked:
    """A Then-step's judgement, kept for the summary table and the record."""

    what: str  # "rto" | "rpo" | "error_rate" | ...
    target: float | None
    measured: float | None
    ok: bool
    source: str  # "objective dr-plan.md §5.1.1" | "inline"
    breach: str | None = None  # a failed check's word (checks.BREACHES): what the summary table shows


@dataclass(repr=False)
class DrillScenario:
    name: str
    target: Any
    out_dir: Path
    feature: str = ""
    tags: list[str] = field(default_factory=list)
    reporter: Reporter = field(default_factory=NullReporter)
    confirm: Confirmer | None = None
    log: IntentLog | None = None
    interval: float = DEFAULT_INTERVAL
    stable: float = DEFAULT_STABLE_S

    objective: objectives_mod.Objective | None = None
    inline: Targets = field(default_factory=Targets)
    probes: list = field(default_factory=list)
    writers: list = field(default_factory=list)
    measurement: Measurement | None = None
    result: MeasurementResult | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    procedures: list[RunReport] = field(default_factory=list)
    checks: list[Checked] = field(default_factory=list)
    cross_checks: list[dict[str, Any]] = field(default_factory=list)  # the target's own logs, beside the RTO
    restore: list[tuple[str, Any]] = field(default_factory=list)
    chaos: ActivityJournal | None = None
    extra_guards: list[safety.GuardSpec] = field(default_factory=list)  # added by Given steps
    watch: safety.GuardWatch | None = None
    aborted: dict[str, Any] | None = None  # AbortDecision (who/what, why, when) once a guard aborted
    closed: bool = False
    close_problems: list[str] = field(default_factory=list)
    # Told every timeline event as it happens (kind, detail, unix time): `drill run` builds its record live
    # from these (harness/drills/events.py), so a killed run's record still shows what it did.
    on_event: Callable[[str, dict[str, Any], float | None], None] | None = None
    # Faults are undone from the guard's thread too: one undo at a time, and never during an inject.
    _faults_lock: threading.RLock = field(default_factory=threading.RLock)

    def __repr__(self) -> str:  # step arguments become report parameters: keep it short and secret-free
        return f"<drill scenario {self.name!r} on {getattr(self.target, 'name', '?')}>"

    def __enter__(self) -> DrillScenario:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- set-up ----------------------------------------------------------------------------------------
    def use_objective(self, component: str, scenario: str | None) -> objectives_mod.Objective:
        self.objective = objectives_mod.load().lookup(component, scenario)
        self.reporter.objective(self.objective)
        return self.objective

    def set_inline(self, rto_s: float | None = None, rpo_s: float | None = None) -> None:
        self.inline = Targets(
            rto_s=rto_s if rto_s is not None else self.inline.rto_s,
            rpo_s=rpo_s if rpo_s is not None else self.inline.rpo_s,
        )
        if self.result is not None and self.measurement is not None:
            # A later Then states its own target after an earlier one stopped the measurement: the recorded
            # verdict must be taken against every target the scenario judged, not only the first.
            self.result = self.measurement.rejudge(self._judged_targets())

    def _judged_targets(self) -> Targets:
        # Data loss is judged only when something wrote (the judgement's rule): without a writer the RPO is
        # not measured, and a verdict against the plan's RPO would be a claim about a number nobody took.
        return self.applied_targets().targets

    def add_probes(self, endpoints: list[str], budget: float | None = None, degraded: float | None = None) -> None:
        """Probe these endpoints; a phrase's budget/degraded threshold (seconds) override the target's."""
        from dataclasses import replace

        self._before_measuring("probes")
        for endpoint in endpoints:
            spec = self.target.probe(endpoint)
            if budget is not None or degraded is not None:
                spec = replace(
                    spec,
                    budget=budget if budget is not None else spec.budget,
                    degraded=degraded if degraded is not None else spec.degraded,
                )
            self.probes = [p for p in self.probes if p.name != spec.name] + [spec]

    def add_writer(self, rate: float, store: str = "postgres") -> None:
        self._before_measuring("a writer")
        self.writers.append(self.target.writer(store, rate))

    def add_guard(self, probe: str, max_error_rate: float, grace_s: float, window_s: float | None = None) -> None:
        """An abort guard of this scenario, beside the target file's `safety.guards`."""
        self._before_measuring("an abort guard")
        spec = {"probe": probe, "max_error_rate": max_error_rate, "grace_s": grace_s}
        if window_s is not None:
            spec["window_s"] = window_s
        self.extra_guards.append(safety.GuardSpec.model_validate(spec))

    def guards(self) -> list[safety.AbortGuard]:
        """The guards this scenario runs under: the target file's, then the scenario's own."""
        declared = list(safety.target_safety(self.target.target_file).safety.guards) + self.extra_guards
        return [safety.AbortGuard.from_spec(g) for g in declared]

    def set_replication(self, mode: str) -> None:
        self._before_measuring("the replication mode")
        previous = self.target.set_replication(mode)
        if previous != mode:
            self.restore.append(("replication", previous))

    def _before_measuring(self, what: str) -> None:
        if self.measurement is not None:
            raise HarnessError(f"{what} must be set up before the first fault (Given steps come first)")

    # -- targets -----------------------------------------------------------------------------------------
    def applied_targets(self) -> judgement.AppliedTargets:
        """The judgement's targets: an inline target wins over the objective's; RPO only with a writer."""
        return judgement.applicable_targets(self.objective, self.inline, has_writer=bool(self.writers))

    def rto_target(self) -> tuple[float | None, str]:
        """(seconds, where it comes from): an inline target wins over the objective's."""
        t = judgement.applicable_targets(self.objective, self.inline)
        return t.rto_s, t.rto_source

    def rpo_target(self) -> tuple[float | None, str]:
        t = judgement.applicable_targets(self.objective, self.inline)
        return t.rpo_s, t.rpo_source

    # -- the fault ---------------------------------------------------------------------------------------
    def start_measuring(self) -> Measurement:
        """Probes and writers running and a healthy baseline seen. Idempotent."""
        if self.measurement is None:
            probes = self.probes or [self.target.probe("app")]
            measured = {p.name for p in probes}
            unwatched = [g.probe for g in self.guards() if g.probe not in measured]
            if unwatched:  # a guard that sees nothing would let the drill run unguarded: refuse, nothing injected
                raise HarnessError(
                    f"abort guard on {', '.join(sorted(set(unwatched)))}: this scenario does not "
                    f"probe it (probes: {', '.join(sorted(measured))}); add `And probes on "
                    f"{', '.join(sorted(measured | set(unwatched)))}`; nothing was injected"
                )
            self.measurement = Measurement(
                probes=probes,
                writers=self.writers,
                interval=self.interval,
                stable=self.stable,
                out_dir=self.out_dir / "measure",
            )
            self.measurement.start()
            try:
                self.measurement.baseline(DEFAULT_BASELINE_S)  # up to three windows: one slow sample is no sick target
            except TargetUnhealthy:
                self.measurement.close()
                raise
        return self.measurement

    def inject(self, fault: str, params: dict[str, str] | None = None) -> str:
        """Inject a fault of the vocabulary and leave it in force (close() undoes it). Returns its id.
        The fault runs as the target file's Chaos Toolkit activity through chaoslib's activity runner, so the
        scenario keeps a Chaos Toolkit journal (chaos-journal.json) of what ran and what was rolled back."""
        resolved = self.target.resolve_params(dict(params or {}))
        # The lab checks the vocabulary's parameters against its topology; a cloud target's activity plans and
        # checks its own concrete resources (and the safety limits) before its first changing call.
        self.target.check_fault(fault, resolved)  # bad parameters: error before anything runs
        activity = self._activity(fault, resolved)
        m = self.start_measuring()
        label = f"{fault} {' '.join(f'{k}={v}' for k, v in resolved.items())}".strip()
        with self._faults_lock:  # a guard that fires now waits for this fault to be recorded, then undoes it
            if self.aborted is not None:
                raise self._aborted_error(f"{fault} was not injected")
            # t_inject is the start of the scenario's LAST fault: earlier ones set the stage (replication held
            # back), the last one is the failure whose recovery (RTO) and data loss (RPO) are measured. Judging
            # from the first would call a system "recovered" before the real failure even happened.
            m.mark_inject(label)
            self._start_guards(m)
            run = self._journal().action(activity)
            output = run.get("output") if isinstance(run.get("output"), dict) else {}
            if run.get("status") != "succeeded" or not output.get("id"):
                m.mark_event(f"fault injection failed: {fault}")
                raise FaultInjectionFailed(f"fault injection failed: {fault}: {self._journal().error_of(run)}")
            id = output["id"]
            m.mark_event(f"fault in force: {id}")
            entry = {
                "id": id,
                "fault": fault,
                "params": resolved,
                "blast": output.get("blast"),
                "detail": output.get("detail") or {},
                "injected_at": time.time(),
                "undo": None,
            }
            self.faults.append(entry)
            self._emit(
                "fault-injected",
                {"scenario": self.name, "fault": fault, "id": id, "params": resolved},
                entry["injected_at"],
            )
        self.reporter.fault(entry)
        return id

    # -- abort guards ------------------------------------------------------------------------------------
    def _start_guards(self, m: Measurement) -> None:
        """Once, at the first fault: watch the probes from t_inject on (the baseline is not judged)."""
        guards = self.guards()
        if self.watch is None and guards:
            self.watch = safety.GuardWatch(m, guards, on_abort=self._abort)
            self.watch.start(since=m.t_inject)
            m.mark_event("abort guards: " + "; ".join(g.name for g in guards))

    def _abort(self, decision: safety.AbortDecision) -> None:
        """The guard's thread: record who aborted, then undo every fault now (rollbacks always run)."""
        self.aborted = decision.model_dump(mode="json")
        self._emit(
            "aborted", {"scenario": self.name, "by": self.aborted.get("by"), "reason": self.aborted.get("reason")}
        )
        m = self.measurement
        if m is not None and m.result is None and not m._stopped:
            m.mark_event(f"aborted by {decision.by}: {decision.reason}")
        try:
            self.undo_faults()
        except Exception as err:  # noqa: BLE001 - close() retries the undo and reports it
            self.aborted["undo_error"] = mask(str(err))

    def _aborted_error(self, what: str) -> DrillAborted:
        a = self.aborted or {}
        return DrillAborted(f"drill aborted by {a.get('by')}: {a.get('reason')}; {what}; the faults were rolled back")

    def _activity(self, fault: str, params: dict[str, str]) -> dict[str, Any]:
        """The target file's activity for this fault, told which intent log to use when it takes one."""
        target_file = self.target.target_file
        mapping = target_file.mapping(fault)
        extra = (
            {"intent_log": str(self.log.path)} if self.log is not None and mapping.action.accepts("intent_log") else {}
        )
        return target_file.fault_activity(fault, params, extra)

    def _rollback_activity(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        target_file = self.target.target_file
        rollback = target_file.mapping(entry["fault"]).rollback
        if rollback is None:
            return None
        extra = {"id": entry["id"]} if rollback.accepts("id") else {}
        if self.log is not None and rollback.accepts("intent_log"):
            extra["intent_log"] = str(self.log.path)
        return target_file.rollback_activity(entry["fault"], entry["params"], extra)

    def _journal(self) -> ActivityJournal:
        if self.chaos is None:
            # A cloud target hands over its configuration loaded (env entries read); the lab's file has none.
            self.chaos = ActivityJournal(self.name, configuration=self.target.configuration, tags=self.tags)
        return self.chaos

    def cut_off_zone(self, zone: str) -> list[str]:
        """Partition one zone from every other zone of the primary region (one network-partition each).
        The zone is resolved once, so a failover between the two injects cannot move the target."""
        zone = self.target.resolve_params({"zone": zone})["zone"]
        return [self.inject("network-partition", {"a": zone, "b": other}) for other in self.target.other_zones(zone)]

    def undo_faults(self) -> list[str]:
        """Undo every fault this scenario put in, newest first, each through the target file's rollback
        activity (recorded in the Chaos Toolkit journal); returns their report lines."""
        with self._faults_lock:
            return self._undo_faults()

    def _undo_faults(self) -> list[str]:
        lines = []
        for entry in reversed(self.faults):
            if entry["undo"] is not None:
                continue
            activity = self._rollback_activity(entry)
            if activity is None:  # the target has no rollback for it: the intent log still knows the undo
                report = runner.undo(entry["id"], log=self._log())
                ok, line = report.ok, report.line()
            else:
                run = self._journal().rollback(activity)
                ok = run.get("status") == "succeeded"
                output = run.get("output") if isinstance(run.get("output"), dict) else {}
                line = "; ".join(output.get("lines") or []) if ok else self._journal().error_of(run)
                line = line or f"{entry['id']} {entry['fault']}: undone"
            entry["undo"] = {"ok": ok, "line": line, "at": time.time()}
            self._emit("rollback", {"scenario": self.name, "fault": entry["id"], "result": line}, entry["undo"]["at"])
            if self.measurement is not None and self.measurement.result is None and not self.measurement._stopped:
                self.measurement.mark_event(f"undo: {entry['id']}")
            lines.append(line)
            if not ok:
                raise HarnessError(f"undo failed (run `drill recover`): {line}")
        m = self.measurement
        if lines and m is not None and m.result is None and not m._stopped:
            m.mark_fault_end("faults undone")
        return lines

    def run_procedure(self, name: str, params: dict[str, str] | None = None) -> RunReport:
        if not self.target.native_procedures:  # a file target: its procedure activity
            return self._run_procedure_activity(name, params)
        procedure = get_procedure(name)
        params = {**self._learned(procedure.params), **dict(params or {})}
        m = self.measurement
        if m is not None and m.result is None:
            m.mark_event(f"procedure {name} started")
        report = procedure.run(
            self.target.lab,
            params,
            self.confirm or Confirmer(),
            log=(lambda s: m.mark_event(f"step: {s.title} ({s.duration_s:.2f} s)"))
            if m is not None and m.result is None
            else None,
        )
        self.procedures.append(report)
        self._emit_steps(report)
        self.reporter.procedure(report)
        if not report.ok:
            failed = next(s for s in report.steps if not s.ok)
            raise HarnessError(f"recovery procedure {name} failed at step '{failed.title}': {failed.outcome}")
        return report

    def _run_procedure_activity(self, name: str, params: dict[str, str] | None = None) -> RunReport:
        """A target without a lab: the target file's procedure activity, run through chaoslib and journaled
        (one timed step), with the same `old_X` parameters learned from the scenario's faults."""
        target_file = self.target.target_file
        m = self.measurement
        mapping = target_file.procedures.get(name)
        wanted = (
            {}
            if mapping is None or mapping.action is None
            else {n: "" for n in self._declared(mapping.action) if n.startswith("old_")}
        )
        params = {**self._learned(wanted), **dict(params or {})}
        activity = target_file.procedure_activity(name, params)  # unsupported/unmapped: HarnessError, nothing ran
        if m is not None and m.result is None:
            m.mark_event(f"procedure {name} started")
        started = time.time()
        run = self._journal().action(activity)
        duration = time.time() - started
        ok = run.get("status") == "succeeded"
        outcome = (f"{run.get('output')}" if ok else self._journal().error_of(run))[:500]
        steps = [
            StepResult(title=activity["name"], ok=ok, duration_s=duration, outcome=mask(outcome), started_at=started)
        ]
        output = run.get("output")
        facts: dict[str, Any] = {}
        if ok and isinstance(output, dict) and isinstance(output.get("steps"), list):
            # a runbook activity: its own timed steps, either as the lab's procedures give them (the AWS region
            # drill) or as {step, seconds} (the S3 restores of harness/faults/aws_s3.py, done when listed)
            steps = [_activity_step(s, started) for s in output["steps"]]
            if "rpo_s" in output:  # the S3 restores' object RPO: what the object-RPO phrase judges, as on the lab
                facts = {"restore": output, "object_rpo_s": output["rpo_s"]}
        if m is not None and m.result is None:
            for step in steps:
                m.mark_event(f"step: {step.title} ({step.duration_s:.2f} s)")
        report = RunReport(procedure=name, ok=ok, steps=steps, duration_s=duration, facts=facts)
        self.procedures.append(report)
        self._emit_steps(report)
        self.reporter.procedure(report)
        if not ok:
            raise HarnessError(f"recovery procedure {name} failed at step '{steps[0].title}': {steps[0].outcome}")
        return report

    def _emit(self, kind: str, detail: dict[str, Any], at: float | None = None) -> None:
        if self.on_event is not None:
            self.on_event(kind, detail, at)

    def _emit_steps(self, report: RunReport) -> None:
        for step in report.steps:
            self._emit(
                "manual-confirmation" if step.confirmed_by else "recovery-step",
                {
                    "scenario": self.name,
                    "procedure": report.procedure,
                    "step": step.title,
                    "duration_s": round(step.duration_s, 3),
                    "ok": step.ok,
                    "confirmed_by": step.confirmed_by,
                },
                step.started_at,
            )

    @staticmethod
    def _declared(activity: Any) -> list[str]:
        import inspect

        return list(inspect.signature(activity.resolve()).parameters)

    def wait(self, seconds: float) -> None:
        """Let time pass inside the fault (e.g. for replication lag to build up); marked on the timeline."""
        if self.measurement is not None and self.measurement.result is None:
            self.measurement.mark_event(f"waiting {seconds:g} s")
        if self.watch is None:
            time.sleep(seconds)
        elif not safety.wait_unless_aborted(self.watch, seconds):
            raise self._aborted_error(f"the wait of {seconds:g} s was cut short")

    def _learned(self, wanted: dict[str, str]) -> dict[str, str]:
        """A procedure parameter `old_X` takes the X the scenario's latest fault recorded (auto-failover's
        old_leader = the leader db-primary-crash killed), so a feature need not know it in advance."""
        out = {}
        for name in wanted:
            key = name.removeprefix("old_")
            if name.startswith("old_"):
                for entry in reversed(self.faults):
                    if isinstance(entry.get("detail"), dict) and entry["detail"].get(key):
                        out[name] = str(entry["detail"][key])
                        break
        return out

    # -- the numbers -------------------------------------------------------------------------------------
    def deadline(self) -> float:
        """How long to wait for recovery: well past the target, so a breach is measured, not cut off."""
        return judgement.deadline(self.rto_target()[0], default=NO_TARGET_DEADLINE_S)

    def measure(self, deadline: float | None = None) -> MeasurementResult:
        """Wait for stable recovery (or the deadline), stop, analyse. Idempotent: the first call decides."""
        if self.result is None:
            if self.measurement is None or self.measurement.t_inject is None:
                raise HarnessError("nothing to measure: no fault was injected in this scenario (add a When step)")
            self.measurement.wait_recovered(deadline if deadline is not None else self.deadline())
            self._stop_measuring(waited=True)
        if self.aborted is not None:  # the numbers are kept as evidence of the recovery, but judge nothing
            raise self._aborted_error("no verdict on the objective")
        return self.result

    def judged(self, check: Checked) -> Checked:
        self.checks.append(check)
        return check

    # -- the end -----------------------------------------------------------------------------------------
    def close(self, heal_timeout: float = 180.0) -> None:
        """Always: stop measuring (keeping the evidence), undo the faults, restore set-up, wait healthy."""
        if self.closed:
            return
        self.closed = True
        steps = [
            ("measurement", self._stop_measuring),
            ("undo", self.undo_faults),
            ("restore", self._restore),
            ("healthy again", lambda: self.target.wait_healthy(heal_timeout)),
        ]
        for what, action in steps:
            try:
                action()
            except Exception as err:  # noqa: BLE001 - every later step must still run
                self.close_problems.append(f"{what}: {mask(str(err))}")
        self._write_summary()
        self.reporter.finished(self)
        if self.close_problems:
            raise HarnessError("after the scenario: " + "; ".join(self.close_problems))

    def _stop_measuring(self, waited: bool = False) -> None:
        if self.watch is not None:
            self.watch.stop()
        m = self.measurement
        if m is None or self.result is not None:
            return
        if m.t_inject is None:
            m.close()
            return
        if (
            self.aborted is not None and not waited
        ):  # a step was cut short: still measure the recovery the rollback brought
            m.wait_recovered(min(self.deadline(), ABORTED_RECOVERY_WAIT_S))
        self.result = m.stop(targets=self._judged_targets())
        if self.result.recovered:
            self._emit("recovered", {"scenario": self.name, "rto_s": self.result.rto_s})
        self._cross_check()

    def _cross_check(self) -> None:
        """Beside the measured RTO, what the target's own logs say (Sentinel's +switch-master): a cross-check
        an auditor can read next to the number. Best effort: a target without logs has none."""
        from datetime import datetime

        finder = getattr(self.target, "cross_checks", None)
        if finder is None or self.result is None:
            return
        try:
            t0 = datetime.fromisoformat(self.result.t_inject_wall).timestamp()
            t1 = datetime.fromisoformat(self.result.ended_wall).timestamp()
            self.cross_checks = [{**c, "t_s": round(c["at"] - t0, 3)} for c in finder(t0, t1)]
        except Exception as err:  # noqa: BLE001 - a cross-check must never break the drill
            self.cross_checks = [{"source": "cross-check", "event": f"not read: {mask(str(err))}", "t_s": None}]

    def _restore(self) -> None:
        while self.restore:
            what, value = self.restore.pop()
            if what == "replication":
                self.target.set_replication(value)

    def _log(self) -> IntentLog:
        return self.log or IntentLog()

    # -- what the run keeps ------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The scenario's line in the run summary and the drill record (no secrets, JSON-able)."""
        rto_t, rto_src = self.rto_target()
        rpo_t, rpo_src = self.rpo_target()
        r = self.result
        return clean(
            {
                "name": self.name,
                "feature": self.feature,
                "tags": self.tags,
                "objective": (
                    {
                        "key": self.objective.key,
                        "source": self.objective.source,
                        "section": self.objective.section,
                        "rto": self.objective.rto.text,
                        "rpo": self.objective.rpo.text,
                    }
                    if self.objective
                    else None
                ),
                "targets": {"rto_s": rto_t, "rto_source": rto_src, "rpo_s": rpo_t, "rpo_source": rpo_src},
                "checks": [vars(c) for c in self.checks],
                "verdict_name": judgement.name_of(r, aborted=self.aborted is not None),
                "measurement": r.model_dump(mode="json") if r is not None else None,
                "cross_checks": self.cross_checks,
                "measure_dir": (self.out_dir / "measure").as_posix() if r is not None else None,
                "faults": self.faults,
                "procedures": [p.to_dict() for p in self.procedures],
                "guards": [g.name for g in self.watch.guards] if self.watch is not None else [],
                "aborted": self.aborted,
                "close_problems": self.close_problems,
            }
        )

    def _write_summary(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "drill.json").write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        if self.chaos is not None:
            self.chaos.write(self.out_dir / CHAOS_JOURNAL)


def _activity_step(step: dict[str, Any], started: float) -> StepResult:
    """One step a target file's runbook activity reported, as a StepResult (outcome masked, at most 500 chars)."""
    if "title" in step:
        return StepResult(**{**step, "outcome": mask(str(step.get("outcome", "")))[:500]})
    return StepResult(
        title=str(step["step"]),
        ok=True,
        duration_s=float(step["seconds"]),
        outcome=mask(str(step.get("outcome", "done")))[:500],
        started_at=started,
    )
