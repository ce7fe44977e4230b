"""`drill report`: build the Allure 3 HTML report from drill results; a thin wrapper over
harness.evidence.allure_report."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.evidence import allure_report
from harness.evidence.paths import reports_dir


def report(
    results: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="RESULTS_DIR",
            help="Allure results directories (holding *-result.json). Default: the newest reports/**/allure-results.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Report directory, cleared and rebuilt. Default: reports/allure-report.", show_default=False
        ),
    ] = None,
    single_file: Annotated[
        bool,
        typer.Option("--single-file/--no-single-file", help="Also write report.html: one file that opens offline."),
    ] = True,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="History file kept across builds for trends. Default: reports/allure-history.jsonl.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Report title.")] = "DR drills",
    serve: Annotated[bool, typer.Option("--serve", help="Serve the report on 127.0.0.1 until Ctrl-C.")] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --serve (0: any free port).", min=0, max=65535)] = 0,
) -> None:
    """Build the Allure 3 HTML report: a served report and a single file that opens offline."""
    err = Console(stderr=True)
    dirs = results or [allure_report.latest_results()]
    if not results:
        err.print(f"results: {dirs[0]}", highlight=False, soft_wrap=True)
    built = allure_report.build_report(
        dirs, out or reports_dir() / allure_report.DEFAULT_OUT, name=name, history_path=history, single_file=single_file
    )
    typer.echo(f"report:      {built.index_html}  (multi-file: serve it, `drill report --serve`)")
    if built.single_file:
        typer.echo(f"single file: {built.single_file}  (opens offline from file://)")
    if serve:
        _serve(built.out_dir, port, err)


def _serve(out_dir: Path, port: int, err: Console) -> None:
    server = allure_report.serve_report(out_dir, port)
    typer.echo(f"serving on {server.url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        err.print("stopped serving")
    finally:
        server.close()


def register(app: typer.Typer) -> None:
    """Add `drill report` to the root app."""
    app.command("report")(report)
