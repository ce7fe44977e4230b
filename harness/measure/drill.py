"""The whole `drill measure` flow as a library call: baseline, fault, recovery, wait, verdict, artefacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.measure import judgement
from harness.measure.judgement import Targets
from harness.measure.ledger import WriterSpec
from harness.measure.probes import ProbeSpec
from harness.measure.result import MeasurementResult
from harness.measure.session import Measurement
from harness.measure.shell import run_shell


def measure_around_fault(
    probes: list[ProbeSpec],
    writers: list[WriterSpec],
    *,
    interval: float,
    probe_timeout: float | None,
    baseline: float,
    stable: float,
    timeout: float,
    fault: str | None,
    recover: str | None,
    targets: Targets | None,
    out_dir: Path | None,
    run_id: str | None = None,
    on_phase: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[dict[str, float]], None] | None = None,
    on_event: Callable[[str, dict[str, Any]], None] = lambda _k, _d: None,
) -> MeasurementResult:
    """Healthy baseline (TargetUnhealthy, nothing run, if not), then fault, recovery, wait, stop.

    `on_event(kind, detail)` is told each step as it happens (the drill record's timeline, written live)."""
    with Measurement(
        probes=probes,
        writers=writers,
        interval=interval,
        probe_timeout=probe_timeout,
        stable=stable,
        out_dir=out_dir,
        run_id=run_id,
    ) as m:
        on_phase(f"baseline {baseline:g} s")
        m.start()
        m.baseline(baseline)
        on_event("baseline-ok", {"seconds": baseline, "probes": [p.name for p in probes]})
        t_inject = m.mark_inject(f"fault: {fault}" if fault else "inject")
        on_event("fault-injected", {"command": fault})
        if fault:
            on_phase("fault command running")
            m.fault = run_shell(fault, timeout, 0.0)
            m.mark_event(f"fault command exited {m.fault.exit_code}")
            on_event(
                "fault-command-exited", {"exit_code": m.fault.exit_code, "duration_s": round(m.fault.duration_s, 3)}
            )
        if recover:
            on_phase("recovery command running")
            remaining = timeout - (m.clock.now() - t_inject)
            t = m.mark_event("recovery command started")
            m.recovery = run_shell(recover, max(0.1, remaining), t - t_inject)
            m.mark_event(f"recovery command exited {m.recovery.exit_code}")
            on_event(
                "recovery-step",
                {
                    "step": "recovery command",
                    "command": recover,
                    "exit_code": m.recovery.exit_code,
                    "duration_s": round(m.recovery.duration_s, 3),
                },
            )
        on_phase("waiting for recovery")
        recovered = m.wait_recovered(max(0.0, timeout - (m.clock.now() - t_inject)), on_progress=on_progress)
        on_event("recovered" if recovered else "not-recovered", {"waited_s": round(m.clock.now() - t_inject, 3)})
        on_phase("reading back the write ledger" if writers else "analysing")
        return m.stop(targets=targets)


def exit_code(result: MeasurementResult) -> int:
    """0 recovered and within targets, 1 a target breached, 3 not recovered by the deadline (the judgement's
    word decides: harness.measure.judgement.exit_code)."""
    return judgement.exit_code(judgement.name_of(result))
