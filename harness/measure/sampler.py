"""The sampler: every probe on its own fixed tick grid, all in one asyncio loop.

Each tick starts a check with a deadline below the interval, so a hung target is a failed sample, never a
missing one. A sample is stamped with the moment its check *started* (that is the state it observed);
ticks the loop could not honour (a stall) are skipped rather than bunched, so spacing stays even.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.measure.clock import Clock
from harness.measure.deadline import drain_stragglers, within
from harness.measure.probes import Probe
from harness.redact import mask


@dataclass(frozen=True, slots=True)
class Sample:
    probe: str
    t: float  # monotonic start of the check
    ok: bool
    latency_s: float
    error: str | None = None


def describe(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror
    return (mask(f"{type(err).__name__}: {text}") or "")[:200]


class Sampler:
    def __init__(self, probes: list[Probe], interval: float, timeout: float, clock: Clock):
        self.probes, self.interval, self.timeout, self.clock = probes, interval, timeout, clock
        self.samples: dict[str, list[Sample]] = {p.name: [] for p in probes}
        self.stalls: dict[str, int] = {p.name: 0 for p in probes}
        # how late past its deadline a timeout may be noticed before we call it our stall, not the target's
        self.stall_slack = max(0.005, 0.25 * interval)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        for probe in self.probes:
            await probe.open()
            # one untimed warm-up check: first-call costs (lazy imports, TLS contexts, the first connection)
            # belong to this harness, not to the target, and must not fail a 10 ms baseline
            try:
                await within(probe.check(), max(1.0, self.timeout))
            except Exception:  # noqa: BLE001 - a target that is down now is the baseline's business
                await probe.reset()
        start = self.clock.now()
        self._tasks = [asyncio.create_task(self._run(p, start), name=f"probe {p.name}") for p in self.probes]

    async def _run(self, probe: Probe, start: float) -> None:
        out = self.samples[probe.name]
        tick = start
        while True:
            t0 = self.clock.now()
            try:
                await within(probe.check(), self.timeout)
                out.append(Sample(probe.name, t0, True, self.clock.now() - t0))
            except asyncio.CancelledError:
                raise
            except BaseException as err:  # noqa: BLE001 - any failure of the target is data
                elapsed = self.clock.now() - t0
                if isinstance(err, TimeoutError) and elapsed > self.timeout + self.stall_slack:
                    # Our own loop woke up far past the deadline (the process was descheduled, or paused
                    # by GC): an answer may have arrived and sat unread. We did not observe the target, so
                    # this is no sample at all rather than a failure to blame on it.
                    self.stalls[probe.name] += 1
                else:
                    out.append(Sample(probe.name, t0, False, elapsed, describe(err)))
                await probe.reset()
            tick += self.interval
            now = self.clock.now()
            if tick <= now:  # overran (stall): skip to the next future tick on the grid
                tick += ((now - tick) // self.interval + 1) * self.interval
            await asyncio.sleep(tick - now)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await drain_stragglers()
        for probe in self.probes:
            try:
                await within(probe.close(), 1.0)
            except Exception:  # noqa: BLE001 - closing is best effort; the sockets die with the loop
                pass
