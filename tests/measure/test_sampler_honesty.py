"""The sampler never passes off its own overload as the target's state: ticks it could not start are
counted, and an answer it noticed only after the budget is no sample (a stall), not an "ok"."""

from __future__ import annotations

import asyncio
import time

from harness.measure.clock import Clock
from harness.measure.probes import Probe, ProbeSpec
from harness.measure.sampler import Sampler


class BlockingProbe(Probe):
    """A check that blocks the whole event loop (as a CPU-starved harness does) for `hold` seconds."""

    def __init__(self, name: str, budget: float, hold: float):
        super().__init__(ProbeSpec(kind="cmd", target="true", name=name), budget)
        self.hold = hold

    async def check(self) -> None:
        time.sleep(self.hold)  # noqa: ASYNC251 - blocking on purpose: the loop cannot run anything else


def run(probes, interval: float, seconds: float) -> Sampler:
    async def go():
        sampler = Sampler(probes, interval, Clock())
        await sampler.start()
        await asyncio.sleep(seconds)
        await sampler.stop()
        return sampler

    return asyncio.run(go())


def test_ticks_the_loop_could_not_start_are_counted_as_missed():
    sampler = run([BlockingProbe("slow-loop", budget=1.0, hold=0.035)], interval=0.01, seconds=0.6)
    # each check blocks the loop for 3.5 intervals: about 3 of every 4 ticks cannot be started
    assert sampler.missed["slow-loop"] > sampler.expected["slow-loop"] / 2
    assert sampler.expected["slow-loop"] >= 0.5 / 0.01


def test_an_answer_noticed_after_the_budget_is_a_stall_not_an_ok_sample():
    sampler = run([BlockingProbe("late", budget=0.05, hold=0.12)], interval=0.2, seconds=0.9)
    assert sampler.stalls["late"] >= 2
    assert all(s.latency_s <= 0.05 + sampler.stall_slack for s in sampler.samples["late"] if s.ok)
