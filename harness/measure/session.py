"""`Measurement`: the synchronous face of the engine, for pytest steps, chaos controls and the CLI.

The probes and writers run in an asyncio loop on a background thread; every public method is plain
blocking code. Typical use:

    with Measurement(probes=[parse_probe_spec("http=http://127.0.0.1:8080/health")]) as m:
        m.start(); m.baseline(2.0); m.mark_inject("kill leader"); ...; m.wait_recovered(300)
        result = m.stop(targets=Targets(rto_s=30, rpo_s=0))
"""

from __future__ import annotations

import asyncio
import gc
import math
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import HarnessError, TargetUnhealthy
from harness.measure import analysis, judgement
from harness.measure.chart import draw_timeline
from harness.measure.clock import Clock
from harness.measure.judgement import Targets
from harness.measure.ledger import LocalLedger, WriterRunner, WriterSpec, classify
from harness.measure.probes import ProbeSpec, check_timing, make_probe
from harness.measure.result import CommandRun, Event, MeasurementResult, write_samples_csv
from harness.measure.sampler import Sample, Sampler
from harness.redact import mask

MIN_INTERVAL = 0.01
BASELINE_ATTEMPTS = 3  # healthy-baseline windows tried before a target is called unhealthy


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def resolve_timeout(interval: float, probe_timeout: float | None) -> float | None:
    """Validate the interval and a run-wide latency budget (`--budget`, formerly `--probe-timeout`).

    Returns the budget, or None: each probe then uses its own or its kind's default (probes.DEFAULT_BUDGET_S).
    The budget is independent of the interval: checks overlap when answers are slower than the interval."""
    if not (math.isfinite(interval) and interval > 0):
        raise HarnessError(f"--interval must be > 0 seconds, got {interval:g}")
    if interval < MIN_INTERVAL:
        raise HarnessError(f"--interval must be >= {MIN_INTERVAL} s (10 ms), got {interval:g}")
    if probe_timeout is not None and not (math.isfinite(probe_timeout) and probe_timeout > 0):
        raise HarnessError(f"--budget must be a positive number of seconds, got {probe_timeout:g}")
    return probe_timeout


class Measurement:
    def __init__(
        self,
        probes: list[ProbeSpec],
        writers: list[WriterSpec] | None = None,
        interval: float = 0.05,
        probe_timeout: float | None = None,
        stable: float = 2.0,
        out_dir: Path | None = None,
        run_id: str | None = None,
        write_timeout: float = 1.0,
        readback_deadline: float = 30.0,
        budget: float | None = None,
        degraded: float | None = None,
    ):
        # `budget` (a run-wide latency budget, where a probe names none) was `probe_timeout`: both work
        default_budget = resolve_timeout(interval, budget if budget is not None else probe_timeout)
        probes = [
            p.with_timing(budget=default_budget, degraded=degraded) if (default_budget or degraded) else p
            for p in probes
        ]
        for p in probes:
            check_timing(p.name, p.budget_s(), p.degraded)
        self.budgets = {p.name: p.budget_s() for p in probes}
        self.probe_timeout = max(self.budgets.values(), default=default_budget or 0.0)
        if not stable > 0:
            raise HarnessError(f"--stable must be > 0 seconds, got {stable:g}")
        names = [p.name for p in probes] + [w.name for w in writers or []]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise HarnessError(f"duplicate probe/writer name(s) {', '.join(dupes)}: give each a NAME@ prefix")
        self.probe_specs, self.writer_specs = list(probes), list(writers or [])
        self.interval, self.stable = interval, stable
        self.write_timeout, self.readback_deadline = write_timeout, readback_deadline
        self.run_id = run_id or new_run_id()
        self.out_dir = Path(out_dir) if out_dir is not None else Path("reports") / "measure" / self.run_id
        self.clock = Clock()
        self.events: list[tuple[str, float]] = []
        self.t_inject: float | None = None
        self.t_fault_end: float | None = None
        self.fault: CommandRun | None = None
        self.recovery: CommandRun | None = None
        self.result: MeasurementResult | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sampler: Sampler | None = None
        self._writers: list[WriterRunner] = []
        self._ledger = LocalLedger(self.out_dir / "ledger.jsonl")
        self._t_start: float | None = None
        self._stopped = False

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Measurement:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> Measurement:
        """Start probes and writers on a background event loop. Returns self."""
        if self._thread is not None:
            raise HarnessError("Measurement.start() called twice")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"measure-{self.run_id}", daemon=True)
        self._thread.start()
        self._ledger.open()
        self._sampler = Sampler(
            [make_probe(s) for s in self.probe_specs],
            self.interval,
            self.clock,
            degraded={s.name: s.degraded for s in self.probe_specs},
        )
        self._writers = [
            WriterRunner(s, self.run_id, self.clock, self._ledger, self.write_timeout) for s in self.writer_specs
        ]

        async def go() -> None:
            await self._sampler.start()
            for w in self._writers:
                await w.start()

        # Move everything allocated so far (libraries, matplotlib, ...) out of the GC's reach: full
        # collections then stay short instead of pausing a 10 ms sampler for tens of milliseconds.
        gc.collect()
        gc.freeze()
        self._t_start = self.clock.now()
        self._call(go(), timeout=30)
        self.mark_event("start")
        return self

    def close(self) -> None:
        """Stop every task and connection and the loop thread. Idempotent; no analysis."""
        if self._loop is None or self._stopped:
            return
        self._stopped = True

        async def halt() -> None:
            await self._sampler.stop()
            for w in self._writers:
                await w.stop()
                await w.close()

        try:
            self._call(halt(), timeout=15)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()
            self._ledger.close()

    # --- the drill's timeline --------------------------------------------------------------------
    def samples(self) -> dict[str, list[Sample]]:
        """A snapshot of the settled samples so far, per probe, in start order: a sample is settled once no
        check that started before it is still under way (checks overlap; a slow one may yet fail)."""
        out = {}
        for name, series in self._sampler.samples.items():
            horizon = self._sampler.settled_until(name)
            out[name] = sorted((s for s in list(series) if s.t < horizon), key=lambda s: s.t)
        return out

    def witness_names(self) -> set[str]:
        return {s.name for s in self.probe_specs if s.witness}

    def baseline(self, seconds: float = 2.0, attempts: int = BASELINE_ATTEMPTS) -> None:
        """Sample for `seconds`; raise TargetUnhealthy naming every probe/writer that failed in each of
        `attempts` windows in a row. One slow sample on a loaded machine is not a sick target; three failed
        windows are."""
        for attempt in range(1, attempts + 1):
            try:
                return self._baseline_window(seconds)
            except TargetUnhealthy:
                if attempt == attempts:
                    raise

    def _baseline_window(self, seconds: float) -> None:
        if self._sampler is None:
            raise HarnessError("Measurement.baseline() before start()")
        t0 = self.clock.now()
        time.sleep(seconds)
        problems = []
        for spec in self.probe_specs:
            window = [s for s in self._sampler.samples[spec.name] if s.t >= t0]
            bad = [s for s in window if not s.ok]
            if not window:
                problems.append(f"--probe {spec.display} ({spec.name}): no sample completed in {seconds:g} s")
            elif bad:
                problems.append(
                    f"--probe {spec.display} ({spec.name}): {len(bad)}/{len(window)} samples failed, "
                    f"last error: {bad[-1].error}"
                )
        for w in self._writers:
            window = [r for r in w.records if r.t_attempt >= t0]
            bad = [r for r in window if r.t_ack is None and r.error is not None]
            if not any(r.t_ack is not None for r in window) or bad:
                last = bad[-1].error if bad else "no write acknowledged"
                problems.append(
                    f"--writer {w.spec.display} ({w.name}): {len(bad)}/{len(window)} writes failed, last error: {last}"
                )
        self.mark_event("baseline ok" if not problems else "baseline failed")
        if problems:
            raise TargetUnhealthy(
                f"target not healthy during the {seconds:g} s baseline, nothing was injected:\n  "
                + "\n  ".join(problems)
            )

    def mark_inject(self, label: str = "inject") -> float:
        """t_inject = now (monotonic). Returns it."""
        self.t_inject = self.clock.now()
        self.events.append((f"inject: {label}" if label != "inject" else label, self.t_inject))
        return self.t_inject

    def mark_fault_end(self, label: str = "fault ended") -> float:
        """The fault stopped acting (its undo ran): the end of the "during" latency phase when the service
        never went down (a latency fault), so "p99 during the fault" means what it says."""
        self.t_fault_end = self.clock.now()
        self.events.append((mask(label), self.t_fault_end))
        return self.t_fault_end

    def mark_event(self, label: str) -> float:
        t = self.clock.now()
        self.events.append((mask(label), t))
        return t

    def recovery_status(self) -> dict[str, float]:
        """Per probe: seconds of unbroken good samples since its last failure after t_inject."""
        t_ref = self.t_inject if self.t_inject is not None else self._t_start
        return {
            name: analysis.probe_recovery(series, t_ref, self.stable).stable_for
            for name, series in self.samples().items()
        }

    def wait_recovered(
        self,
        timeout: float = 300,
        on_progress: Callable[[dict[str, float]], None] | None = None,
    ) -> bool:
        """Block until every probe has been good for >= `stable` s after its last failure (a probe that
        never failed: `stable` s of good samples after t_inject), or `timeout` s pass. Returns recovered?"""
        t_ref = self.t_inject if self.t_inject is not None else self._t_start
        deadline = time.monotonic() + timeout
        witnesses = self.witness_names()
        # A second witness sees a change up to its resolution later: once the harness's own probes are stable
        # it gets that long (plus its own stability window) to agree, but never holds the verdict hostage.
        grace = (
            self.stable
            + self.interval
            + 2
            + max((p.resolution_s for p in self._sampler.probes if p.name in witnesses), default=0.0)
        )
        witness_until = None
        while True:
            snap = self.samples()
            now = time.monotonic()
            if all(analysis.is_stable(series, t_ref, self.stable) for n, series in snap.items() if n not in witnesses):
                witness_until = witness_until or now + grace
                if (
                    now >= witness_until
                    or now >= deadline
                    or all(analysis.is_stable(snap[n], t_ref, self.stable) for n in witnesses)
                ):
                    self.mark_event("recovered")
                    return True
            if time.monotonic() >= deadline:
                self.mark_event("recovery timeout")
                return False
            if on_progress is not None:
                on_progress(self.recovery_status())
            time.sleep(min(0.1, max(self.interval, 0.02)))

    # --- the end ---------------------------------------------------------------------------------
    def stop(self, targets: Targets | None = None) -> MeasurementResult:
        """Stop sampling and writers, read the ledger back, analyse, write the artefacts; return the result."""
        if self.result is not None:
            return self.result
        if self._sampler is None:
            raise HarnessError("Measurement.stop() before start()")
        if self._stopped:
            raise HarnessError(
                "Measurement.stop() after close(): the samples were kept, the writers' rows "
                "were not read back; nothing to analyse"
            )
        t_end = self.clock.now()

        async def halt_and_read_back():
            await self._sampler.stop()
            present = {}
            for w in self._writers:
                await w.stop()
            for w in self._writers:
                present[w.name] = await w.read_back(self.readback_deadline)
                await w.close()
            return present

        present = self._call(halt_and_read_back(), timeout=self.readback_deadline * max(1, len(self._writers)) + 60)
        self.close()
        self.result = self._analyse(targets, t_end, present)
        self._write_artefacts()
        return self.result

    def rejudge(self, targets: Targets | None) -> MeasurementResult:
        """The stopped measurement's verdict against other targets (a Then step that states its own after an
        earlier one stopped the measurement); result.json is rewritten so the evidence agrees."""
        if self.result is None:
            raise HarnessError("Measurement.rejudge() before stop()")
        self.result.verdict = judgement.verdict(targets, self.result.rto_s, self.result.rpo_s)
        self.result.verdict_name = judgement.name(self.result.recovered, self.result.verdict)
        self.result.write_json(self.out_dir / "result.json")
        return self.result

    def _analyse(self, targets, t_end, present) -> MeasurementResult:
        if self.t_inject is None:  # never injected: judge the whole run as if the fault were at the start
            self.t_inject = self._t_start
            self.events.append(("no inject marked: t_inject = start", self._t_start))
        t_inject, samples = self.t_inject, self.samples()
        resolution = {p.name: p.resolution_s for p in self._sampler.probes}
        infos = {
            s.name: analysis.ProbeInfo(
                spec=s.display,
                budget_s=s.budget_s(),
                degraded_s=s.degraded,
                witness=s.witness,
                resolution_s=resolution.get(s.name, 0.0),
            )
            for s in self.probe_specs
        }
        avail = analysis.analyse_availability(
            samples, infos, t_inject, t_end, self.stable, interval=self.interval, t_fault_end=self.t_fault_end
        )
        for probe in avail.probes:
            probe.stalls = self._sampler.stalls.get(probe.name, 0)
            probe.skipped_ticks = self._sampler.skipped.get(probe.name, 0)
            probe.max_in_flight = self._sampler.caps.get(probe.name, 0)
            probe.peak_in_flight = self._sampler.peak_in_flight.get(probe.name, 0)
            probe.missed_ticks = self._sampler.missed.get(probe.name, 0)
            probe.expected_ticks = self._sampler.expected.get(probe.name, 0)
            lost = probe.missed_ticks + probe.stalls
            if probe.expected_ticks and lost > 0.01 * probe.expected_ticks:
                # a saturated harness must not look like a healthy target: say so beside the numbers
                avail.warnings.append(
                    f"probe {probe.name}: the harness could not keep its sampling grid ({lost} of "
                    f"{probe.expected_ticks} ticks missed or stalled); too many probes for this machine, or the "
                    "machine is busy: the stated uncertainty uses the real gaps between samples"
                )
        ledger = LocalLedger.read(self._ledger.path)  # the durable record, not our memory of it
        writers = []
        for w in self._writers:
            attempts = {e["seq"]: e["t"] for e in ledger if e["writer"] == w.name and e["kind"] == "attempt"}
            acks = {e["seq"]: e["t_ack"] for e in ledger if e["writer"] == w.name and e["kind"] == "ack"}
            rows, error = present[w.name]
            cls = classify(set(attempts), set(acks), rows) if rows is not None else None
            writers.append(
                analysis.writer_result(w.name, w.spec.display, w.spec.rate, attempts, acks, cls, error, t_inject)
            )
        rpo = analysis.combine_writers(writers)
        checked = judgement.verdict(targets, avail.rto_s, rpo["rpo_s"])
        return MeasurementResult(
            run_id=self.run_id,
            t_inject_wall=self.clock.iso(t_inject),
            started_wall=self.clock.iso(self._t_start),
            ended_wall=self.clock.iso(t_end),
            interval_s=self.interval,
            probe_timeout_s=round(self.probe_timeout, 6),
            uncertainty_s=round(avail.uncertainty_s, 6),
            stable_s=self.stable,
            recovered=avail.recovered,
            no_outage_observed=avail.no_outage_observed,
            rto_s=avail.rto_s,
            rto_at_least_s=avail.rto_at_least_s,
            detect_s=avail.detect_s,
            outages=avail.outages,
            error_rate=round(avail.error_rate, 6),
            samples_during=avail.samples_during,
            latency=avail.latency,
            probes=avail.probes,
            writers=writers,
            degraded_s=round(avail.degraded_s, 6),
            witnesses=avail.witnesses,
            warnings=avail.warnings,
            events=[
                Event(label=mask(label), t_s=round(t - t_inject, 4), wall=self.clock.iso(t))
                for label, t in sorted(self.events, key=lambda e: e[1])
            ],
            verdict=checked,
            verdict_name=judgement.name(avail.recovered, checked),
            fault=self.fault,
            recovery=self.recovery,
            **rpo,
        )

    def _write_artefacts(self) -> None:
        res, out = self.result, self.out_dir
        res.write_json(out / "result.json")
        samples = self.samples()
        write_samples_csv(
            out / "samples.csv", [s for series in samples.values() for s in series], self.t_inject, self.clock
        )
        ledger = LocalLedger.read(self._ledger.path)
        acks = {
            w.name: [e["t_ack"] for e in ledger if e["writer"] == w.name and e["kind"] == "ack"] for w in self._writers
        }
        lost = {}
        for wr in res.writers:
            by_seq = {e["seq"]: e["t_ack"] for e in ledger if e["writer"] == wr.name and e["kind"] == "ack"}
            lost[wr.name] = [by_seq[s] for s in wr.lost_seqs if s in by_seq]
        draw_timeline(out / "timeline.png", res, samples, self.t_inject, acks, lost)
