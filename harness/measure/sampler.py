"""The sampler: every probe on its own fixed tick grid, all in one asyncio loop.

Each tick starts a check with the probe's latency budget as its deadline, independent of the interval:
when answers are slower than the interval, checks overlap (several in flight, at most
`max_in_flight(budget, interval)`; a tick that would exceed the cap is skipped and counted). A check never
runs past its budget: a hung target is a failed sample, never a missing one. A sample is stamped with the
moment its check *started* and is `ok`, `degraded` (answered within the budget but slower than the probe's
degraded threshold) or failed. Ticks the loop could not honour (a stall) are skipped rather than bunched,
so spacing stays even.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from harness.measure.clock import Clock
from harness.measure.deadline import drain_stragglers, within
from harness.measure.probes import Probe, ProbeConfigError
from harness.redact import mask


@dataclass(frozen=True, slots=True)
class Sample:
    probe: str
    t: float  # monotonic start of the check
    ok: bool  # the target is up (answered correctly within the budget); degraded samples are ok too
    latency_s: float
    error: str | None = None
    degraded: bool = False  # ok, but slower than the probe's degraded threshold
    member: str | None = None  # for endpoint lists: the member that answered

    @property
    def state(self) -> str:
        return "failed" if not self.ok else "degraded" if self.degraded else "ok"


def describe(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror
    return (mask(f"{type(err).__name__}: {text}") or "")[:200]


def max_in_flight(budget: float, interval: float) -> int:
    """How many checks of one probe may run at once: every check ends by its budget, so a tick grid of
    `interval` never has more than ceil(budget / interval) + 1 under way unless the loop itself fell behind."""
    return math.ceil(budget / interval - 1e-9) + 1


class Sampler:
    def __init__(
        self, probes: list[Probe], interval: float, clock: Clock, degraded: dict[str, float | None] | None = None
    ):
        self.probes, self.interval, self.clock = probes, interval, clock
        self.degraded = degraded or {}
        self.samples: dict[str, list[Sample]] = {p.name: [] for p in probes}
        self.stalls: dict[str, int] = {p.name: 0 for p in probes}
        self.skipped: dict[str, int] = {p.name: 0 for p in probes}  # ticks skipped at the in-flight cap
        # ticks the loop itself could not start on time (it was busy or descheduled past a whole interval):
        # never sampled, so a saturated harness shows it instead of looking healthy
        self.missed: dict[str, int] = {p.name: 0 for p in probes}
        self.expected: dict[str, int] = {p.name: 0 for p in probes}
        self.peak_in_flight: dict[str, int] = {p.name: 0 for p in probes}
        self.caps: dict[str, int] = {p.name: max_in_flight(p.budget, interval) for p in probes}
        # how late past its deadline a timeout may be noticed before we call it our stall, not the target's
        self.stall_slack = max(0.005, 0.25 * interval)
        self.grid_start: float | None = None
        self._in_flight: dict[str, dict[asyncio.Task, float]] = {p.name: {} for p in probes}
        self._horizon: dict[str, float] = {}
        self._tasks: list[asyncio.Task] = []

    async def preflight(self) -> None:
        """Each probe asks its target whether it can work at all (a Prometheus that is unreachable, a query
        it cannot parse): ProbeConfigError names the probe, before any baseline or fault."""
        for probe in self.probes:
            try:
                await within(probe.preflight(), max(2.0, probe.budget))
            except ProbeConfigError:
                raise
            except TimeoutError:
                raise ProbeConfigError(
                    f"probe {probe.name}: its target did not answer the preflight within {max(2.0, probe.budget):g} s"
                ) from None

    async def start(self) -> None:
        await self.preflight()
        for probe in self.probes:
            await probe.open()
            # one untimed warm-up check: first-call costs (lazy imports, TLS contexts, the first connection)
            # belong to this harness, not to the target, and must not fail a 10 ms baseline
            try:
                await within(probe.check(), max(1.0, probe.budget))
            except Exception:  # noqa: BLE001 - a target that is down now is the baseline's business
                await probe.reset()
        start = self.grid_start = self.clock.now()
        self._tasks = [asyncio.create_task(self._run(p, start), name=f"probe {p.name}") for p in self.probes]

    def settled_until(self, name: str) -> float:
        """Samples of `name` that started before this moment are all in: no check started earlier is still
        under way (so a slow check that may yet fail cannot be overtaken by quicker ones after it)."""
        if name in self._horizon:
            return self._horizon[name]
        starts = self._in_flight[name].values()
        return min(starts) if starts else float("inf")

    async def _check(self, probe: Probe, t0: float) -> None:
        out = self.samples[probe.name]
        try:
            member = await within(probe.check(), probe.budget)
            latency = self.clock.now() - t0
            if latency > probe.budget + self.stall_slack:
                # The answer came within the deadline, but our loop noticed it far later: its answer time is
                # our queueing, not the target's. Not observed honestly, so no sample (a stall), like a
                # timeout noticed late.
                self.stalls[probe.name] += 1
                return
            limit = self.degraded.get(probe.name)
            out.append(
                Sample(
                    probe.name,
                    t0,
                    True,
                    latency,
                    degraded=limit is not None and latency > limit,
                    member=member if isinstance(member, str) else None,
                )
            )
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # noqa: BLE001 - any failure of the target is data
            elapsed = self.clock.now() - t0
            if isinstance(err, TimeoutError) and elapsed > probe.budget + self.stall_slack:
                # Our own loop woke up far past the deadline (the process was descheduled, or paused
                # by GC): an answer may have arrived and sat unread. We did not observe the target, so
                # this is no sample at all rather than a failure to blame on it.
                self.stalls[probe.name] += 1
            else:
                out.append(Sample(probe.name, t0, False, elapsed, describe(err)))
            try:
                await probe.reset()
            except Exception:  # noqa: BLE001 - resetting is best effort
                pass

    async def _run(self, probe: Probe, start: float) -> None:
        flying = self._in_flight[probe.name]
        cap = self.caps[probe.name]
        tick = start
        while True:
            t0 = self.clock.now()
            if len(flying) >= cap:
                self.skipped[probe.name] += 1
            else:
                task = asyncio.create_task(self._check(probe, t0))
                flying[task] = t0
                task.add_done_callback(flying.pop)
                self.peak_in_flight[probe.name] = max(self.peak_in_flight[probe.name], len(flying))
            self.expected[probe.name] += 1
            tick += self.interval
            now = self.clock.now()
            if tick <= now:  # overran (stall): skip to the next future tick on the grid, and count what we lost
                lost = int((now - tick) // self.interval + 1)
                self.missed[probe.name] += lost
                self.expected[probe.name] += lost
                tick += lost * self.interval
            await asyncio.sleep(tick - now)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Checks still under way are cut off: what they would have seen is unknown, so nothing that started
        # after the earliest of them counts either (a quicker later check must not stand in for it).
        for name, flying in self._in_flight.items():
            if flying:
                self._horizon[name] = min(flying.values())
            for task in list(flying):
                task.cancel()
            await asyncio.gather(*list(flying), return_exceptions=True)
        await drain_stragglers()
        for probe in self.probes:
            try:
                await within(probe.close(), 1.0)
            except Exception:  # noqa: BLE001 - closing is best effort; the sockets die with the loop
                pass
