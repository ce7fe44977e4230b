"""The Then-steps' judgements. Each raises AssertionError whose message starts with the report category it
belongs to ("RTO breached", "RPO breached", ...), states target, measured value, uncertainty and margin,
and is recorded on the scenario either way so the summary shows passes too."""

from __future__ import annotations

from harness.drills.scenario import Checked, DrillScenario
from harness.errors import HarnessError
from harness.measure import judgement
from harness.recovery.procedure import poll

# A failed check's word, stored on it (Checked.breach) for the summary table: typed, not read from the message.
RTO_BREACHED, RPO_BREACHED = judgement.RTO_BREACHED, judgement.RPO_BREACHED
ERROR_RATE_BREACHED, DEGRADED_TOO_LONG, LATENCY_BREACHED = (
    "error-rate-breached",
    "degraded-too-long",
    "latency-breached",
)
BREACHES = (RTO_BREACHED, RPO_BREACHED, ERROR_RATE_BREACHED, DEGRADED_TOO_LONG, LATENCY_BREACHED)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _target(drill: DrillScenario, what: str, seconds: float | None) -> tuple[float, str]:
    """The target a Then judges against: the phrase's own N, else the inline Given, else the objective's."""
    if seconds is not None:
        drill.set_inline(**{f"{what.lower()}_s": seconds})  # the record's verdict is taken against this N too
        return seconds, "inline"
    target, source = drill.rto_target() if what == "RTO" else drill.rpo_target()
    if target is None:
        bound = (drill.objective.rto if what == "RTO" else drill.objective.rpo) if drill.objective else None
        why = (
            f"the plan's {what} for {drill.objective.key} is not a number ({bound.text!r})"
            if drill.objective
            else "no objective set: add 'Given the objective for ...'"
        )
        raise HarnessError(f"cannot judge the {what}: {why}; state one with 'within N seconds'")
    return target, source


def recovered_within(drill: DrillScenario, seconds: float | None = None) -> Checked:
    """RTO ≤ target. `seconds` None = the objective's (or the inline Given) target."""
    target, source = _target(drill, "RTO", seconds)
    result = drill.measure(max(drill.deadline(), judgement.deadline(target)))
    if not result.recovered:
        drill.judged(Checked("rto", target, None, False, source, RTO_BREACHED))
        raise AssertionError(
            f"RTO breached: not recovered (no {result.stable_s:g} s of stable success) within the deadline; "
            f"outage lasted at least {_fmt(result.rto_at_least_s)} s; target {target:g} s ({source})"
        )
    ok = judgement.within(result.rto_s, target)
    check = drill.judged(Checked("rto", target, result.rto_s, ok, source, None if ok else RTO_BREACHED))
    if not ok:
        raise AssertionError(
            f"RTO breached: measured {result.rto_s:.2f} ± {result.uncertainty_s:.2f} s > target {target:g} s "
            f"({source}); margin {target - result.rto_s:+.2f} s"
        )
    return check


def outage_at_least(drill: DrillScenario, seconds: float) -> Checked:
    """The measured outage lasted ≥ `seconds` (less the measurement's uncertainty): the fault really did what
    the feature says. An RTO ceiling alone passes a fault that did nothing."""
    result = drill.measure()
    measured = result.rto_s if result.recovered else result.rto_at_least_s
    ok = measured is not None and measured + result.uncertainty_s >= seconds
    check = drill.judged(Checked("outage", seconds, measured, ok, "inline (fault had an effect)"))
    if not ok:
        seen = "no outage observed" if result.no_outage_observed else f"{_fmt(measured)} ± {result.uncertainty_s:.2f} s"
        raise AssertionError(f"fault had less effect than stated: outage {seen}, expected at least {seconds:g} s")
    return check


def stays_up(drill: DrillScenario, seconds: float) -> Checked:
    """Slow is not down: no probe failed, and the time degraded (answers within the budget but slower
    than the degraded threshold) stayed within `seconds`."""
    result = drill.measure()
    if not result.no_outage_observed:
        drill.judged(Checked("degraded", seconds, None, False, "inline (stays up)", RTO_BREACHED))
        seen = f"{_fmt(result.rto_s)} ± {result.uncertainty_s:.2f} s" if result.recovered else "not recovered"
        raise AssertionError(
            f"RTO breached: the service went down (outage {seen}), expected it to stay up, "
            f"degraded at most {seconds:g} s"
        )
    check = drill.judged(
        Checked(
            "degraded",
            seconds,
            round(result.degraded_s, 3),
            result.degraded_s <= seconds,
            "inline (stays up)",
            None if result.degraded_s <= seconds else DEGRADED_TOO_LONG,
        )
    )
    if not check.ok:
        raise AssertionError(
            f"degraded too long: {result.degraded_s:.2f} s slower than the degraded threshold, limit {seconds:g} s"
        )
    return check


def degraded_at_least(drill: DrillScenario, seconds: float) -> Checked:
    """The fault really slowed the service: degraded for ≥ `seconds` (less one interval). A latency fault
    that did nothing would otherwise pass "stays up"."""
    result = drill.measure()
    ok = result.degraded_s + result.interval_s >= seconds
    check = drill.judged(
        Checked("degraded_at_least", seconds, round(result.degraded_s, 3), ok, "inline (fault had an effect)")
    )
    if not ok:
        thresholds = (
            ", ".join(
                f"{p.name} {p.degraded_threshold_s * 1000:.0f} ms" for p in result.probes if p.degraded_threshold_s
            )
            or "none set"
        )
        raise AssertionError(
            f"fault had less effect than stated: degraded {result.degraded_s:.2f} s, expected "
            f"at least {seconds:g} s (degraded thresholds: {thresholds})"
        )
    return check


def p99_during_below(drill: DrillScenario, ms: float) -> Checked:
    """Every probe's p99 answer time between t_inject and the end of the fault is below `ms`."""
    result = drill.measure()
    p99s = {name: lat.during.p99_ms for name, lat in result.latency.items() if lat.during.n}
    if not p99s:
        drill.judged(Checked("p99_during_ms", ms, None, False, "inline", LATENCY_BREACHED))
        raise AssertionError("latency breached: no successful sample during the fault to take a p99 of")
    worst = max(p99s, key=p99s.get)
    ok = p99s[worst] < ms
    check = drill.judged(Checked("p99_during_ms", ms, p99s[worst], ok, "inline", None if ok else LATENCY_BREACHED))
    if not check.ok:
        raise AssertionError(f"latency breached: p99 of {worst} during the fault {p99s[worst]:.0f} ms >= {ms:g} ms")
    return check


def no_acknowledged_writes_lost(drill: DrillScenario) -> Checked:
    drill.set_inline(rpo_s=0.0)  # "no loss" is an RPO of 0, in the record's verdict too
    result = _with_writer(drill)
    lost = result.lost_writes or 0
    check = drill.judged(
        Checked("rpo", 0.0, result.rpo_s, lost == 0, "inline (no loss)", RPO_BREACHED if lost else None)
    )
    if lost:
        raise AssertionError(
            f"RPO breached: {lost} of {result.acked_writes} acknowledged writes lost; measured RPO "
            f"{_fmt(result.rpo_s)} s > target 0 s"
        )
    return check


def rpo_within(drill: DrillScenario, seconds: float | None = None) -> Checked:
    target, source = _target(drill, "RPO", seconds)
    result = _with_writer(drill)
    rpo = result.rpo_s or 0.0
    ok = judgement.within(rpo, target)
    check = drill.judged(Checked("rpo", target, rpo, ok, source, None if ok else RPO_BREACHED))
    if not ok:
        raise AssertionError(
            f"RPO breached: measured {rpo:.2f} s > target {target:g} s ({source}); {result.lost_writes} of "
            f"{result.acked_writes} acknowledged writes lost; margin {target - rpo:+.2f} s"
        )
    return check


def error_rate_below(drill: DrillScenario, percent: float) -> Checked:
    result = drill.measure()
    rate = 100.0 * result.error_rate
    ok = rate < percent
    check = drill.judged(
        Checked("error_rate_pct", percent, round(rate, 3), ok, "inline", None if ok else ERROR_RATE_BREACHED)
    )
    if not check.ok:
        raise AssertionError(
            f"error rate breached: {rate:.1f} % of probe samples failed during the fault (limit {percent:g} %)"
        )
    return check


def has_primary(drill: DrillScenario, service: str, timeout: float = 60.0) -> str:
    """The replicated service has a primary again (polls: an election may still be finishing)."""
    primary = poll(f"a {service} primary", lambda: drill.target.primary(service), timeout)
    drill.judged(Checked(f"{service}_primary", None, None, True, primary))
    return primary


def component_healthy(drill: DrillScenario, component: str, timeout: float = 120.0) -> None:
    poll(f"component {component} healthy", lambda: drill.target.component_healthy(component), timeout)
    drill.judged(Checked(f"{component}_healthy", None, None, True, "lab status"))


def target_healthy(drill: DrillScenario, timeout: float = 180.0) -> None:
    drill.target.wait_healthy(timeout)
    drill.judged(Checked("target_healthy", None, None, True, "lab status"))


def _with_writer(drill: DrillScenario):
    if not drill.writers:
        raise HarnessError("no writer in this scenario: add 'Given a writer at N writes/s' to measure data loss")
    result = drill.measure()
    if result.lost_writes is None:
        errors = "; ".join(w.readback_error or "" for w in result.writers if w.readback_error)
        raise HarnessError(f"the writes could not be read back, data loss unknown: {errors}")
    return result
