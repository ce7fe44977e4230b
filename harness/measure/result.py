"""The result of one measurement: a pydantic model (result.json) plus the raw samples as CSV.

Times named `*_s` inside a run are seconds relative to t_inject (negative = before the fault);
durations (`rto_s`, `rpo_s`, `interval_s`...) are plain seconds. No field ever holds a secret: every
DSN/URL/command is masked before it gets here.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class Window(BaseModel):
    start_s: float
    end_s: float | None = Field(None, description="first good sample after the outage; null = still failing")
    open_until_s: float | None = Field(None, description="still open: the last sample seen, for its length")


class LostWindow(BaseModel):
    first_s: float
    last_s: float


class Percentiles(BaseModel):
    n: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class PhaseLatency(BaseModel):
    before: Percentiles
    during: Percentiles
    after: Percentiles


class ProbeResult(BaseModel):
    name: str
    spec: str
    samples: int
    failures: int
    failures_before_inject: int
    stalls: int = Field(0, description="timeouts discarded because the harness itself woke up late")
    detect_s: float | None
    recover_s: float | None = Field(description="this probe's t_recover - t_inject; 0 if it never failed")
    recovered: bool
    outages: list[Window]
    last_error: str | None
    budget_s: float | None = Field(None, description="latency budget: a slower answer is a failed sample")
    degraded_threshold_s: float | None = Field(None, description="a slower answer within budget is degraded")
    degraded_samples: int = 0
    degraded_s: float = Field(0.0, description="seconds degraded after t_inject (its windows' union)")
    degraded_windows: list[Window] = []
    skipped_ticks: int = Field(0, description="ticks not sampled because the in-flight cap was reached")
    missed_ticks: int = Field(0, description="ticks the harness itself started too late to sample (overloaded)")
    expected_ticks: int = Field(0, description="ticks of the grid while sampling")
    max_in_flight: int = Field(0, description="the cap on overlapping checks: ceil(budget / interval) + 1")
    peak_in_flight: int = 0
    last_member: str | None = Field(None, description="endpoint lists: the member that answered last")


class WitnessResult(BaseModel):
    """A second witness (the team's own monitoring), measured beside the harness's probes."""

    name: str
    spec: str
    resolution_s: float = Field(description="how late it can see a change (scrape interval), beyond sampling")
    recovered: bool
    outage_observed: bool
    detect_s: float | None
    recover_s: float | None
    uncertainty_s: float


class WriterResult(BaseModel):
    name: str
    spec: str
    rate_per_s: float
    attempted: int
    acked: int
    failed: int
    present: int | None
    lost_writes: int | None
    unexpected_writes: int | None
    indeterminate_writes: int
    indeterminate_present: int | None
    lost_seqs: list[int] = []
    unexpected_seqs: list[int] = []
    rpo_s: float | None
    lost_window: LostWindow | None
    readback_error: str | None = None
    # Lost writes acknowledged at or after t_inject: outside the RPO (which counts data from before the
    # fault), e.g. the writes after the recovery point that a point-in-time restore gives up. None: unknown.
    lost_after_fault: int | None = None
    lost_after_fault_window: LostWindow | None = None


class Event(BaseModel):
    label: str
    t_s: float
    wall: str


class Check(BaseModel):
    target_s: float
    measured_s: float | None
    margin_s: float | None = Field(description="target - measured; negative = breached by that much")
    ok: bool


class Verdict(BaseModel):
    rto: Check | None = None
    rpo: Check | None = None
    passed: bool


class CommandRun(BaseModel):
    command: str
    exit_code: int | None = Field(description="null = still running at the deadline and killed")
    started_s: float
    duration_s: float
    stderr_tail: str = ""


class MeasurementResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    t_inject_wall: str
    started_wall: str
    ended_wall: str
    interval_s: float
    probe_timeout_s: float = Field(description="the largest probe latency budget of the run")
    uncertainty_s: float = Field(
        description="the error bar of rto_s and detect_s: (t_r - t_f) + L_r of the "
        "probe that recovered last, or interval + longest answer (docs/measure.md)"
    )
    stable_s: float
    recovered: bool
    no_outage_observed: bool
    rto_s: float | None = Field(description="t_recover - t_inject; null when not recovered")
    rto_at_least_s: float | None = Field(None, description="when not recovered: time from inject to the end")
    detect_s: float | None
    outages: dict[str, list[Window]]
    error_rate: float = Field(description="failed / all samples between t_inject and t_recover")
    samples_during: int
    latency: dict[str, PhaseLatency]
    degraded_s: float = Field(0.0, description="seconds any probe was degraded after t_inject (union)")
    witnesses: list[WitnessResult] = []
    warnings: list[str] = []
    rpo_s: float | None
    lost_writes: int | None
    acked_writes: int
    attempted_writes: int
    unexpected_writes: int | None
    indeterminate_writes: int
    lost_window: LostWindow | None
    lost_after_fault_writes: int | None = Field(
        None,
        description="lost writes acknowledged at or after t_inject (not in the RPO): for a point-in-time "
        "restore, the writes after the recovery point it gave up; null when unknown or measured before the field",
    )
    lost_after_fault_window: LostWindow | None = None
    probes: list[ProbeResult]
    writers: list[WriterResult]
    events: list[Event]
    verdict: Verdict | None = None
    verdict_name: str | None = Field(
        None,
        description="the judgement's word: met, no-targets, rto-breached, "
        "rpo-breached, rto-breached+rpo-breached, not-recovered (harness.measure."
        "judgement)",
    )
    fault: CommandRun | None = None
    recovery: CommandRun | None = None

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def write_samples_csv(path: Path, samples, t_inject: float, clock) -> None:
    """One row per sample, in time order: t_s relative to inject, wall time, probe, ok, latency, error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["t_s", "wall", "probe", "ok", "state", "latency_ms", "error", "member"])
        for s in sorted(samples, key=lambda s: s.t):
            out.writerow(
                [
                    f"{s.t - t_inject:.4f}",
                    clock.iso(s.t),
                    s.probe,
                    int(s.ok),
                    s.state,
                    f"{s.latency_s * 1000:.2f}",
                    s.error or "",
                    s.member or "",
                ]
            )
