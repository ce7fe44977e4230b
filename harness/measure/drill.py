"""The whole `drill measure` flow as a library call: baseline, fault, recovery, wait, verdict, artefacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.errors import EXIT_BREACHED, EXIT_NOT_RECOVERED, EXIT_OK
from harness.measure.analysis import Targets
from harness.measure.ledger import WriterSpec
from harness.measure.probes import ProbeSpec
from harness.measure.result import MeasurementResult
from harness.measure.session import Measurement
from harness.measure.shell import run_shell


def measure_around_fault(probes: list[ProbeSpec], writers: list[WriterSpec], *, interval: float,
                         probe_timeout: float | None, baseline: float, stable: float, timeout: float,
                         fault: str | None, recover: str | None, targets: Targets | None,
                         out_dir: Path | None, run_id: str | None = None,
                         on_phase: Callable[[str], None] = lambda _: None,
                         on_progress: Callable[[dict[str, float]], None] | None = None) -> MeasurementResult:
    """Healthy baseline (TargetUnhealthy, nothing run, if not), then fault, recovery, wait, stop."""
    with Measurement(probes=probes, writers=writers, interval=interval, probe_timeout=probe_timeout,
                     stable=stable, out_dir=out_dir, run_id=run_id) as m:
        on_phase(f"baseline {baseline:g} s")
        m.start()
        m.baseline(baseline)
        t_inject = m.mark_inject(f"fault: {fault}" if fault else "inject")
        if fault:
            on_phase("fault command running")
            m.fault = run_shell(fault, timeout, 0.0)
            m.mark_event(f"fault command exited {m.fault.exit_code}")
        if recover:
            on_phase("recovery command running")
            remaining = timeout - (m.clock.now() - t_inject)
            t = m.mark_event("recovery command started")
            m.recovery = run_shell(recover, max(0.1, remaining), t - t_inject)
            m.mark_event(f"recovery command exited {m.recovery.exit_code}")
        on_phase("waiting for recovery")
        m.wait_recovered(max(0.0, timeout - (m.clock.now() - t_inject)), on_progress=on_progress)
        on_phase("reading back the write ledger" if writers else "analysing")
        return m.stop(targets=targets)


def exit_code(result: MeasurementResult) -> int:
    """0 recovered and within targets, 1 a target breached, 3 not recovered by the deadline."""
    if not result.recovered:
        return EXIT_NOT_RECOVERED
    if result.verdict is not None and not result.verdict.passed:
        return EXIT_BREACHED
    return EXIT_OK
