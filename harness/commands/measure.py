"""`drill measure`: measure the real RTO/RPO of any system around any fault. A thin wrapper over
harness.measure.drill.measure_around_fault; the semantics are documented in docs/measure.md.

Every run that gets past validation appends a drill record (path `measure`) to `<reports>/records/`, the
same chain as Gherkin drills and `chaos run`: written live from the first event, chained at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.errors import HarnessError
from harness.evidence.record import RecordBuilder
from harness.measure import Targets, judgement, parse_probe_spec, parse_writer_spec
from harness.measure.drill import exit_code, measure_around_fault
from harness.measure.session import new_run_id, resolve_timeout
from harness.measure.summary import summary_table


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise HarnessError(f"{name} must be > 0 seconds, got {value:g}")


def measure(
    probe: Annotated[
        list[str],
        typer.Option(
            "--probe",
            help="[NAME@]KIND=TARGET[|opt=val]; KIND: http, tcp, "
            "postgres, redis, prometheus, cmd; every kind takes budget=S and "
            "degraded=S. Repeatable.",
        ),
    ] = [],  # noqa: B006
    writer: Annotated[
        list[str], typer.Option("--writer", help="postgres=DSN or redis=URL: write ledger for RPO. Repeatable.")
    ] = [],  # noqa: B006
    rate: Annotated[float, typer.Option(help="writes per second per writer")] = 20.0,
    interval: Annotated[float, typer.Option(help="probe interval, seconds (>= 0.01)")] = 0.05,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            "--probe-timeout",
            help="latency budget of every probe that names none, seconds: a slower "
            "answer is a failure (default per kind: http 1, tcp/postgres/redis 0.5)",
        ),
    ] = None,
    degraded: Annotated[
        float | None,
        typer.Option(
            help="degraded threshold of every probe that names none, seconds: a slower answer within the budget "
            "is up but degraded (default: none)"
        ),
    ] = None,
    baseline: Annotated[float, typer.Option(help="healthy baseline before the fault, seconds")] = 2.0,
    stable: Annotated[float, typer.Option(help="stability window that counts as recovered, seconds")] = 2.0,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="give up waiting for recovery after this many seconds (default: the judgement's deadline, "
            "max(2 x --rto, --rto + 60 s) capped at 3600, or 300 without --rto)"
        ),
    ] = None,
    fault: Annotated[
        str | None, typer.Option(help="shell command that injects the fault (t_inject = its start)")
    ] = None,
    recover: Annotated[str | None, typer.Option(help="shell command run after the fault command")] = None,
    rto: Annotated[float | None, typer.Option(help="RTO target, seconds")] = None,
    rpo: Annotated[float | None, typer.Option(help="RPO target, seconds (needs --writer)")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="also write the result JSON here")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default <reports>/measure/<run-id>/)")] = None,
    reports: Annotated[
        Path, typer.Option("--reports", help="reports folder: the drill record is chained into <reports>/records/")
    ] = Path("reports"),
    name: Annotated[
        str, typer.Option("--name", help="the scenario name the record and `drill history` show")
    ] = "drill-measure",
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
    for option, value in (("--baseline", baseline), ("--stable", stable), ("--timeout", timeout)):
        _positive(option, value)
    if rto is not None and rto < 0:
        raise HarnessError(f"--rto must be >= 0 seconds, got {rto:g}")
    if rpo is not None and rpo < 0:
        raise HarnessError(f"--rpo must be >= 0 seconds, got {rpo:g}")
    if rpo is not None and not writers:
        raise HarnessError("--rpo needs at least one --writer: RPO is measured with a write ledger")
    if not name.strip():
        raise HarnessError("--name must not be empty")
    applied = judgement.applicable_targets(inline=Targets(rto_s=rto, rpo_s=rpo), has_writer=bool(writers))
    targets = applied.targets if applied.targets.any else None
    deadline = judgement.deadline(applied.rto_s, explicit=timeout)
    run_id = new_run_id()
    out_dir = out or reports / "measure" / run_id
    rec = RecordBuilder(reports, target=", ".join(p.display for p in probes), environment="unspecified", path="measure")
    rec.event(
        "drill-started",
        {
            "run_id": run_id,
            "probes": [f"{p.name}@{p.display}" for p in probes],
            "writers": [f"{w.name}@{w.display}" for w in writers],
            "fault": fault,
            "recover": recover,
            "targets": {"rto_s": rto, "rpo_s": rpo},
            "deadline_s": deadline,
        },
    )

    # --- run, with progress on stderr -----------------------------------------------------------
    with err.status("starting") as status:

        def on_progress(stable_for: dict[str, float]) -> None:
            parts = [f"{name}: {min(s, stable):.1f}/{stable:g} s stable" for name, s in stable_for.items()]
            status.update("waiting for recovery — " + ", ".join(parts))

        def on_phase(phase: str) -> None:
            status.update(phase)
            if not err.is_terminal:  # CI logs get one line per phase instead of a spinner
                err.print(f"drill measure: {phase}", highlight=False)

        try:
            result = measure_around_fault(
                probes,
                writers,
                interval=interval,
                probe_timeout=budget,
                baseline=baseline,
                stable=stable,
                timeout=deadline,
                fault=fault,
                recover=recover,
                targets=targets,
                out_dir=out_dir,
                run_id=run_id,
                on_phase=on_phase,
                on_progress=on_progress,
                on_event=rec.event,
            )
        except HarnessError as failure:  # e.g. unhealthy before the fault: nothing injected; recorded as broken
            _record(rec, name, None, applied, out_dir, probes, writers, str(failure))
            raise
    Console().print(summary_table(result))
    if json_file is not None:
        result.write_json(json_file)
    path = _record(rec, name, result, applied, out_dir, probes, writers)
    err.print(f"result: {out_dir / 'result.json'}" + (f" and {json_file}" if json_file else ""))
    err.print(f"record: {path}")
    raise typer.Exit(exit_code(result))


def _record(
    rec: RecordBuilder, name: str, result, applied, out_dir: Path, probes, writers, failure: str | None = None
) -> Path:
    """Finish the run's drill record: one scenario, the judgement's word, the artefacts as evidence."""
    word = judgement.name_of(result)
    status = "broken" if result is None else "passed" if judgement.passed(word) else "failed"
    if failure is not None:
        rec.event("aborted", {"by": "harness", "reason": failure[:500]})
    rec.scenario(
        name=name,
        objective_key=None,
        objective_source="inline" if applied.targets.any else None,
        measurement=result,
        status=status,
        verdict_name=word,
        extra={
            "probes": [f"{p.name}@{p.display}" for p in probes],
            "writers": [f"{w.name}@{w.display}" for w in writers],
            **({"rpo_not_judged": applied.rpo_not_judged} if applied.rpo_not_judged else {}),
        },
    )
    rec.event("scenario-finished", {"scenario": name, "status": status, "verdict": word})
    rec.event("drill-finished", {"scenarios": 1})
    if out_dir.exists():
        rec.evidence(out_dir)
    return rec.finish()
