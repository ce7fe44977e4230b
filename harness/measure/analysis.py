"""From samples and write records to RTO, RPO and a verdict: pure functions, no I/O, no clocks.

Implements DESIGN.md "Measurement semantics":
  t_detect  = first failed sample at or after t_inject
  t_recover = start of the run of good samples after the last failure, if it lasts >= `stable`
  RTO       = t_recover - t_inject   (no failure: 0, "no outage observed"; run too short: not recovered)
  RPO       = t_inject - t_last_durable, t_last_durable = ack time of the last acknowledged write before
              the first lost one (nothing lost: 0)

Slow is not down: a degraded sample (answered within the budget, slower than the degraded threshold) is up.
Time degraded and latency percentiles are reported beside the RTO.

Uncertainty of the RTO (docs/measure.md "Uncertainty"): a sample started at t answers at t + L and observed
the state at some moment in [t, t + L]. The real recovery therefore lies after the start of the last failed
sample (t_f) and no later than the answer of the first good one (t_r + L_r), while we report t_r:
    U = (t_r - t_f) + L_r              per probe that failed (t_r - t_f is one interval unless ticks were lost)
and the run's U is the largest over the probes that failed. No outage observed: two observations can be up
to interval + L apart, so an outage shorter than U = interval + (longest answer after t_inject) can pass
unseen. A second witness (e.g. Prometheus) adds its own resolution (scrape interval) to its U.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.measure import judgement
from harness.measure.judgement import TOLERANCE as _EPS  # noqa: F401 - Targets: its old home
from harness.measure.judgement import Targets
from harness.measure.ledger import Classification
from harness.measure.result import (
    LostWindow,
    Percentiles,
    PhaseLatency,
    ProbeResult,
    Verdict,
    Window,
    WitnessResult,
    WriterResult,
)
from harness.measure.sampler import Sample


@dataclass(frozen=True)
class Recovery:
    """One probe's state after t_inject."""

    failed: bool  # any failure at or after t_inject
    recovered: bool
    t_detect: float | None
    t_recover: float | None  # start of the stable run; t_inject when it never failed
    stable_for: float  # length of the current good run (last good sample - its first)
    uncertainty: float | None = None  # (t_r - t_f) + L_r when recovered after a failure; else None


def probe_recovery(samples: list[Sample], t_inject: float, stable: float) -> Recovery:
    after = [s for s in samples if s.t >= t_inject]
    last_fail = next((i for i in range(len(after) - 1, -1, -1) if not after[i].ok), None)
    if last_fail is None:
        run = after
        return Recovery(False, True, None, t_inject, run[-1].t - run[0].t if run else 0.0)
    t_detect = next(s.t for s in after if not s.ok)
    run = after[last_fail + 1 :]
    stable_for = run[-1].t - run[0].t if run else 0.0
    ok = bool(run) and stable_for >= stable - _EPS
    unc = (run[0].t - after[last_fail].t) + run[0].latency_s if ok else None
    return Recovery(True, ok, t_detect, run[0].t if ok else None, stable_for, unc)


def is_stable(samples: list[Sample], t_inject: float, stable: float) -> bool:
    """What wait_recovered asks: has this probe been good for >= `stable` since its last failure?

    Unlike `probe_recovery.recovered`, a probe that never failed also needs `stable` seconds of good samples
    after the fault started, so a fault that bites late is not missed by returning too early.
    """
    rec = probe_recovery(samples, t_inject, stable)
    return rec.stable_for >= stable - _EPS


def _runs(samples: list[Sample], t_inject: float, inside) -> list[Window]:
    """Runs of samples after t_inject for which `inside(sample)` holds: from the first such sample to the
    first that is not; a run still open at the end has no end_s (open_until_s = the last sample seen)."""
    windows: list[Window] = []
    start = None
    for s in samples:
        if s.t < t_inject:
            continue
        if inside(s) and start is None:
            start = s.t
        elif not inside(s) and start is not None:
            windows.append(Window(start_s=start - t_inject, end_s=s.t - t_inject))
            start = None
    if start is not None:
        windows.append(Window(start_s=start - t_inject, end_s=None, open_until_s=samples[-1].t - t_inject))
    return windows


def outage_windows(samples: list[Sample], t_inject: float) -> list[Window]:
    return _runs(samples, t_inject, lambda s: not s.ok)


def degraded_windows(samples: list[Sample], t_inject: float) -> list[Window]:
    """Runs of degraded samples after t_inject (slow, but up)."""
    return _runs(samples, t_inject, lambda s: s.ok and s.degraded)


def window_length(w: Window) -> float:
    end = w.end_s if w.end_s is not None else (w.open_until_s if w.open_until_s is not None else w.start_s)
    return max(0.0, end - w.start_s)


def union_length(windows: list[Window]) -> float:
    """Seconds covered by any of the windows (overlaps counted once)."""
    spans = sorted((w.start_s, w.start_s + window_length(w)) for w in windows)
    total, cur_start, cur_end = 0.0, None, None
    for a, b in spans:
        if cur_end is None or a > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def percentiles(latencies_s: list[float]) -> Percentiles:
    if not latencies_s:
        return Percentiles()
    ordered = sorted(latencies_s)

    def rank(q: float) -> float:  # nearest-rank: an observed value, never an interpolation
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 3)

    return Percentiles(n=len(ordered), p50_ms=rank(0.50), p95_ms=rank(0.95), p99_ms=rank(0.99))


def phase_latency(samples: list[Sample], t_inject: float, t_end_of_fault: float) -> PhaseLatency:
    ok = [s for s in samples if s.ok]
    return PhaseLatency(
        before=percentiles([s.latency_s for s in ok if s.t < t_inject]),
        during=percentiles([s.latency_s for s in ok if t_inject <= s.t < t_end_of_fault]),
        after=percentiles([s.latency_s for s in ok if s.t >= t_end_of_fault]),
    )


@dataclass(frozen=True)
class Availability:
    recovered: bool
    no_outage_observed: bool
    rto_s: float | None
    rto_at_least_s: float | None
    detect_s: float | None
    t_end_of_fault: float  # the later of t_recover overall and the fault's end (or end of sampling)
    error_rate: float
    samples_during: int
    probes: list[ProbeResult]
    outages: dict[str, list[Window]]
    latency: dict[str, PhaseLatency]
    uncertainty_s: float = 0.0
    degraded_s: float = 0.0
    degraded_windows: dict[str, list[Window]] = field(default_factory=dict)
    witnesses: list[WitnessResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProbeInfo:
    """What the analysis needs to know of a probe besides its samples."""

    spec: str
    budget_s: float | None = None
    degraded_s: float | None = None
    witness: bool = False
    resolution_s: float = 0.0


def _probe_result(name: str, info: ProbeInfo, series: list[Sample], rec: Recovery, t_inject: float) -> ProbeResult:
    fails = [s for s in series if not s.ok]
    deg = degraded_windows(series, t_inject)
    members = [s.member for s in series if s.member]
    return ProbeResult(
        name=name,
        spec=info.spec,
        samples=len(series),
        failures=len(fails),
        failures_before_inject=sum(1 for s in fails if s.t < t_inject),
        detect_s=None if rec.t_detect is None else rec.t_detect - t_inject,
        recover_s=None if rec.t_recover is None else rec.t_recover - t_inject,
        recovered=rec.recovered,
        outages=outage_windows(series, t_inject),
        last_error=fails[-1].error if fails else None,
        budget_s=info.budget_s,
        degraded_threshold_s=info.degraded_s,
        degraded_samples=sum(1 for s in series if s.ok and s.degraded and s.t >= t_inject),
        degraded_s=round(union_length(deg), 6),
        degraded_windows=deg,
        last_member=members[-1] if members else None,
    )


def _witness(
    name: str, info: ProbeInfo, rec: Recovery, series: list[Sample], t_inject: float, interval: float
) -> WitnessResult:
    after = [s for s in series if s.t >= t_inject]
    base = rec.uncertainty if rec.uncertainty is not None else interval + max((s.latency_s for s in after), default=0)
    return WitnessResult(
        name=name,
        spec=info.spec,
        resolution_s=info.resolution_s,
        recovered=rec.recovered,
        outage_observed=rec.failed,
        detect_s=None if rec.t_detect is None else round(rec.t_detect - t_inject, 4),
        recover_s=None if rec.t_recover is None else round(rec.t_recover - t_inject, 4),
        uncertainty_s=round(base + info.resolution_s, 4),
    )


def analyse_availability(
    samples: dict[str, list[Sample]],
    specs: dict[str, str | ProbeInfo],
    t_inject: float,
    t_end: float,
    stable: float,
    interval: float = 0.0,
    t_fault_end: float | None = None,
) -> Availability:
    """`specs` maps probe name -> its display string or a ProbeInfo. Witness probes are reported beside the
    harness's probes and compared with them, never part of the RTO."""
    infos = {name: (v if isinstance(v, ProbeInfo) else ProbeInfo(spec=v)) for name, v in specs.items()}
    probes, recs, series_of, witnesses = [], {}, {}, []
    for name, series in samples.items():
        info = infos.get(name, ProbeInfo(spec=name))
        series = series_of[name] = sorted(series, key=lambda s: s.t)
        rec = probe_recovery(series, t_inject, stable)
        if info.witness:
            witnesses.append(_witness(name, info, rec, series, t_inject, interval))
            continue
        recs[name] = rec
        probes.append(_probe_result(name, info, series, rec, t_inject))
    own = {n: s for n, s in series_of.items() if n in recs}
    recovered = all(r.recovered for r in recs.values())
    failed = [r for r in recs.values() if r.failed]
    rto = max((r.t_recover - t_inject for r in failed), default=0.0) if recovered else None
    detect = min((r.t_detect - t_inject for r in failed), default=None)
    t_recover = t_inject + rto if rto is not None else t_end
    t_end_of_fault = max(t_recover, t_fault_end) if t_fault_end is not None else t_recover
    during = [s for series in own.values() for s in series if t_inject <= s.t < t_end_of_fault]
    after = [s for series in own.values() for s in series if s.t >= t_inject]
    if failed and recovered:
        unc = max(r.uncertainty for r in failed)
    else:
        unc = interval + max((s.latency_s for s in after), default=0.0)
    deg = {p.name: p.degraded_windows for p in probes}
    warnings = []
    for w in witnesses:
        if w.recover_s is None or rto is None:
            if (w.recover_s is None) != (rto is None):
                warnings.append(
                    f"witness {w.name} "
                    + (
                        "did not see the target recover"
                        if w.recover_s is None
                        else "saw it recovered while the harness's probes did not"
                    )
                )
            continue
        gap = abs(w.recover_s - rto)
        if gap > unc + w.uncertainty_s + _EPS:
            warnings.append(
                f"witness {w.name} disagrees: recovered after {w.recover_s:.2f} s vs the harness's "
                f"RTO {rto:.2f} s, {gap:.2f} s apart > their combined uncertainty "
                f"{unc + w.uncertainty_s:.2f} s"
            )
    return Availability(
        recovered=recovered,
        no_outage_observed=not failed,
        rto_s=rto,
        rto_at_least_s=None if recovered else t_end - t_inject,
        detect_s=detect,
        t_end_of_fault=t_end_of_fault,
        error_rate=(sum(1 for s in during if not s.ok) / len(during)) if during else 0.0,
        samples_during=len(during),
        probes=probes,
        outages={p.name: p.outages for p in probes},
        latency={name: phase_latency(series, t_inject, t_end_of_fault) for name, series in own.items()},
        uncertainty_s=unc,
        degraded_s=union_length([w for ws in deg.values() for w in ws]),
        degraded_windows=deg,
        witnesses=witnesses,
        warnings=warnings,
    )


def writer_rpo(
    acks: dict[int, float], first_attempt: float | None, lost: list[int], t_inject: float
) -> tuple[float, LostWindow | None]:
    """RPO and lost window for one writer. `acks` maps seq -> monotonic ack time."""
    if not lost:
        return 0.0, None
    first_lost = min(lost)
    durable = [t for seq, t in acks.items() if seq < first_lost]
    # nothing durable before the first loss: everything since the writer started is gone
    t_last_durable = max(durable) if durable else (first_attempt if first_attempt is not None else t_inject)
    lost_acks = [acks[s] for s in lost]
    # a loss that began after the fault (e.g. a zombie primary acking then discarding) gives t_inject <
    # t_last_durable: the formula would go negative, and "0 s of data before the fault" is what it means.
    return (
        max(0.0, t_inject - t_last_durable),
        LostWindow(first_s=min(lost_acks) - t_inject, last_s=max(lost_acks) - t_inject),
    )


def writer_result(
    name: str,
    spec: str,
    rate: float,
    attempts: dict[int, float],
    acks: dict[int, float],
    classification: Classification | None,
    readback_error: str | None,
    t_inject: float,
) -> WriterResult:
    indeterminate = len(set(attempts) - set(acks))
    if classification is None:
        return WriterResult(
            name=name,
            spec=spec,
            rate_per_s=rate,
            attempted=len(attempts),
            acked=len(acks),
            failed=indeterminate,
            present=None,
            lost_writes=None,
            unexpected_writes=None,
            indeterminate_writes=indeterminate,
            indeterminate_present=None,
            rpo_s=None,
            lost_window=None,
            readback_error=readback_error or "read-back failed",
        )
    rpo, window = writer_rpo(acks, min(attempts.values(), default=None), classification.lost, t_inject)
    after = [acks[s] - t_inject for s in classification.lost if acks[s] >= t_inject]
    return WriterResult(
        lost_after_fault=len(after),
        lost_after_fault_window=LostWindow(first_s=min(after), last_s=max(after)) if after else None,
        name=name,
        spec=spec,
        rate_per_s=rate,
        attempted=classification.attempted,
        acked=classification.acked,
        failed=indeterminate,
        present=classification.present,
        lost_writes=len(classification.lost),
        unexpected_writes=len(classification.unexpected),
        indeterminate_writes=len(classification.indeterminate),
        indeterminate_present=len(classification.indeterminate_present),
        lost_seqs=classification.lost[:10000],
        unexpected_seqs=classification.unexpected[:1000],
        rpo_s=rpo,
        lost_window=window,
    )


def combine_writers(writers: list[WriterResult]) -> dict:
    """Run-level RPO fields: the worst writer wins; unknown (read-back failed) beats any number."""
    if not writers:
        return dict(
            lost_after_fault_writes=None,
            lost_after_fault_window=None,
            rpo_s=None,
            lost_writes=None,
            unexpected_writes=None,
            acked_writes=0,
            attempted_writes=0,
            indeterminate_writes=0,
            lost_window=None,
        )
    known = all(w.rpo_s is not None for w in writers)
    windows = [w.lost_window for w in writers if w.lost_window is not None]
    after = [w.lost_after_fault_window for w in writers if w.lost_after_fault_window is not None]
    return dict(
        lost_after_fault_writes=sum(w.lost_after_fault or 0 for w in writers) if known else None,
        lost_after_fault_window=LostWindow(first_s=min(w.first_s for w in after), last_s=max(w.last_s for w in after))
        if after
        else None,
        rpo_s=max(w.rpo_s for w in writers) if known else None,
        lost_writes=sum(w.lost_writes for w in writers) if known else None,
        unexpected_writes=sum(w.unexpected_writes for w in writers) if known else None,
        acked_writes=sum(w.acked for w in writers),
        attempted_writes=sum(w.attempted for w in writers),
        indeterminate_writes=sum(w.indeterminate_writes for w in writers),
        lost_window=LostWindow(first_s=min(w.first_s for w in windows), last_s=max(w.last_s for w in windows))
        if windows
        else None,
    )


def verdict(targets: Targets | None, rto_s: float | None, rpo_s: float | None) -> Verdict | None:
    """The checks against the targets (harness.measure.judgement decides; kept here for the engine's callers)."""
    return judgement.verdict(targets, rto_s, rpo_s)
