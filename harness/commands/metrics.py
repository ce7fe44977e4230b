"""`drill metrics`: the newest drill result per scenario and objective as OpenMetrics text; a thin wrapper over
harness.evidence.openmetrics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.errors import HarnessError
from harness.evidence import chain as chain_mod
from harness.evidence import openmetrics, paths


def records_in(directory: Path | None) -> tuple[Path, list[dict]]:
    """(the records directory, its records in chain order). `directory` is a records directory or a reports
    directory holding `records/`; None: the default reports directory's."""
    d = Path(directory) if directory is not None else paths.records_dir()
    if not (d / "chain.json").exists() and (d / "records" / "chain.json").exists():
        d = d / "records"
    records = chain_mod.Chain(d, label="record").entries() if d.is_dir() else []
    if not records:
        raise HarnessError(f"no drill records in {d}; run a drill first (`drill run`) or pass --records DIR")
    return d, records


def _write_atomically(path: Path, text: str) -> None:
    """A textfile collector or a scrape must never read half a file: tmp file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def metrics(
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            metavar="DIR",
            show_default=False,
            help="Drill records directory (or a reports directory holding records/). "
            "Default: $DRILL_REPORTS_DIR/records, else ./reports/records.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            show_default=False,
            help="Write the text to FILE (atomically, e.g. for node_exporter's textfile collector) instead of stdout.",
        ),
    ] = None,
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="URL",
            show_default=False,
            help="PUT the metrics to the Pushgateway at URL (e.g. http://127.0.0.1:9091), replacing the job's group.",
        ),
    ] = None,
    job: Annotated[str, typer.Option("--job", help="Pushgateway job name for --push.")] = "drill",
) -> None:
    """Export the newest result per scenario and objective as OpenMetrics: drill_rto_seconds, drill_rpo_seconds,
    drill_lost_writes, drill_verdict (1 met, 0 breached or not completed), drill_timestamp_seconds; labels
    scenario, objective, target, path. Prints to stdout unless --out or --push is given."""
    err = Console(stderr=True)
    where, found = records_in(records)
    rows = openmetrics.latest(openmetrics.export_rows(found))
    text = openmetrics.render(rows)
    if out is not None:
        _write_atomically(out, text)
        err.print(f"{len(rows)} result(s) from {where} written to {out}", highlight=False, soft_wrap=True)
    if push is not None:
        shown = openmetrics.push(push, text, job=job)
        err.print(f"{len(rows)} result(s) from {where} pushed to {shown}", highlight=False, soft_wrap=True)
    if out is None and push is None:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add `drill metrics` to the root app."""
    app.command("metrics")(metrics)
