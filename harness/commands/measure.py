"""`drill measure`: measure the real RTO/RPO of any system around any fault. A thin wrapper over
harness.measure.drill.measure_around_fault; the semantics are documented in docs/measure.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from harness.errors import HarnessError
from harness.measure import Targets, parse_probe_spec, parse_writer_spec
from harness.measure.drill import exit_code, measure_around_fault
from harness.measure.session import new_run_id, resolve_timeout
from harness.measure.summary import summary_table


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise HarnessError(f"{name} must be > 0 seconds, got {value:g}")


def measure(
    probe: Annotated[list[str], typer.Option("--probe", help="[NAME@]KIND=TARGET[|opt=val]; KIND: http, tcp, "
                                             "postgres, redis, prometheus, cmd; every kind takes budget=S and "
                                             "degraded=S. Repeatable.")] = [],  # noqa: B006
    writer: Annotated[list[str], typer.Option("--writer", help="postgres=DSN or redis=URL: write ledger for "
                                              "RPO. Repeatable.")] = [],  # noqa: B006
    rate: Annotated[float, typer.Option(help="writes per second per writer")] = 20.0,
    interval: Annotated[float, typer.Option(help="probe interval, seconds (>= 0.01)")] = 0.05,
    budget: Annotated[Optional[float], typer.Option(
        "--budget", "--probe-timeout", help="latency budget of every probe that names none, seconds: a slower "
        "answer is a failure (default per kind: http 1, tcp/postgres/redis 0.5)")] = None,
    degraded: Annotated[Optional[float], typer.Option(
        help="degraded threshold of every probe that names none, seconds: a slower answer within the budget "
        "is up but degraded (default: none)")] = None,
    baseline: Annotated[float, typer.Option(help="healthy baseline before the fault, seconds")] = 2.0,
    stable: Annotated[float, typer.Option(help="stability window that counts as recovered, seconds")] = 2.0,
    timeout: Annotated[float, typer.Option(help="give up waiting for recovery after this many seconds")] = 300.0,
    fault: Annotated[Optional[str], typer.Option(help="shell command that injects the fault (t_inject = its "
                                                 "start)")] = None,
    recover: Annotated[Optional[str], typer.Option(help="shell command run after the fault command")] = None,
    rto: Annotated[Optional[float], typer.Option(help="RTO target, seconds")] = None,
    rpo: Annotated[Optional[float], typer.Option(help="RPO target, seconds (needs --writer)")] = None,
    json_file: Annotated[Optional[Path], typer.Option("--json", help="also write the result JSON here")] = None,
    out: Annotated[Optional[Path], typer.Option(help="output folder (default reports/measure/<run-id>/)")] = None,
) -> None:
    """Measure RTO/RPO of any system around any fault.

    Exit 0 recovered and within targets, 1 a target breached, 3 not recovered by --timeout,
    2 bad usage or target unhealthy before the fault (the fault command is then NOT run).
    """
    err = Console(stderr=True)
    # --- validate everything before anything touches the target -------------------------------
    if not probe:
        raise HarnessError("--probe: at least one probe is required (e.g. --probe http=http://127.0.0.1:8080/health)")
    probes = [parse_probe_spec(p, "--probe") for p in probe]
    if not 0 < rate <= 1000:
        raise HarnessError(f"--rate must be > 0 and <= 1000 writes/s, got {rate:g}")
    writers = [parse_writer_spec(w, rate=rate, option="--writer") for w in writer]
    resolve_timeout(interval, budget)
    if degraded is not None and not (degraded > 0):
        raise HarnessError(f"--degraded must be a positive number of seconds, got {degraded:g}")
    probes = [p.with_timing(budget=budget, degraded=degraded) for p in probes]  # names the probe if they clash
    for name, value in (("--baseline", baseline), ("--stable", stable), ("--timeout", timeout)):
        _positive(name, value)
    if rto is not None and rto < 0:
        raise HarnessError(f"--rto must be >= 0 seconds, got {rto:g}")
    if rpo is not None and rpo < 0:
        raise HarnessError(f"--rpo must be >= 0 seconds, got {rpo:g}")
    if rpo is not None and not writers:
        raise HarnessError("--rpo needs at least one --writer: RPO is measured with a write ledger")
    targets = Targets(rto_s=rto, rpo_s=rpo) if rto is not None or rpo is not None else None
    run_id = new_run_id()
    out_dir = out or Path("reports") / "measure" / run_id

    # --- run, with progress on stderr -----------------------------------------------------------
    with err.status("starting") as status:
        def on_progress(stable_for: dict[str, float]) -> None:
            parts = [f"{name}: {min(s, stable):.1f}/{stable:g} s stable" for name, s in stable_for.items()]
            status.update("waiting for recovery — " + ", ".join(parts))

        def on_phase(phase: str) -> None:
            status.update(phase)
            if not err.is_terminal:  # CI logs get one line per phase instead of a spinner
                err.print(f"drill measure: {phase}", highlight=False)

        result = measure_around_fault(
            probes, writers, interval=interval, probe_timeout=budget, baseline=baseline, stable=stable,
            timeout=timeout, fault=fault, recover=recover, targets=targets, out_dir=out_dir, run_id=run_id,
            on_phase=on_phase, on_progress=on_progress,
        )
    Console().print(summary_table(result))
    if json_file is not None:
        result.write_json(json_file)
    err.print(f"result: {out_dir / 'result.json'}" + (f" and {json_file}" if json_file else ""))
    raise typer.Exit(exit_code(result))
