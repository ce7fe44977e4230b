"""`drill run`: run Gherkin drills from features/ against a target and print measured RTO/RPO vs the plan."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from harness.drills import summary
from harness.drills.run import RunRequest, run_drills
from harness.errors import HarnessError


def run(
    features: Annotated[
        list[str] | None, typer.Argument(help="Feature files or folders (default: all of features/).")
    ] = None,
    tags: Annotated[
        str | None, typer.Option("--tags", "-t", help="Tag expression, e.g. 'smoke' or '@quarterly and not @region'.")
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Target to drill.")] = "local",
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Drill plan (plans/*.yaml): scope, people, approvals, success criteria."),
    ] = None,
    approval: Annotated[
        str | None, typer.Option("--approval", help="Change/approval ticket (with --approver).")
    ] = None,
    approver: Annotated[
        str | None, typer.Option("--approver", help="Who approved (must be an approver of the plan).")
    ] = None,
    reports: Annotated[Path, typer.Option("--reports", help="Reports folder (records, runs, Allure results).")] = Path(
        "reports"
    ),
    keep_lab: Annotated[bool, typer.Option("--keep-lab", help="Leave a lab this run started running.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Auto-confirm manual procedure steps (recorded as auto-confirmed).")
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Build the Allure HTML report afterwards (drill report).")
    ] = False,
    outside_window: Annotated[
        str | None,
        typer.Option(
            "--outside-window",
            metavar="REASON",
            help="Run a staging/production drill outside its plan's maintenance window; the reason is recorded.",
        ),
    ] = None,
) -> None:
    """Run drills through pytest-bdd: lab up if needed, progress per step, then a summary table, a chained drill
    record and Allure/JUnit/Cucumber results. Exit 0 all objectives met, 1 one breached, 2 bad input
    (nothing injected), 3 a drill could not complete (or was interrupted: Ctrl-C/SIGTERM undo its faults first).
    One drill at a time per target: a second is refused (exit 2) naming the run that holds it."""
    err = Console(stderr=True)
    loaded_plan = None
    if plan is not None:
        from harness.evidence.plan import load_plan

        loaded_plan = load_plan(plan)
        target = loaded_plan.target if target == "local" and loaded_plan.target else target
    if (approval is None) != (approver is None):
        raise HarnessError("--approval and --approver go together")
    approvals = [{"ticket": approval, "approver": approver, "at": datetime.now(UTC)}] if approval else []
    req = RunRequest(
        features=features or [],
        tags=tags,
        target=target,
        plan=loaded_plan,
        approvals=approvals,
        reports_dir=reports,
        keep_lab=keep_lab,
        yes=yes,
        outside_window=outside_window,
    )
    outcome = run_drills(req, say=lambda m: err.print(f"[dim]{escape(m)}[/]", highlight=False))
    out = Console(width=max(Console().width, 120))
    if outcome.exit_code == 2 and outcome.record is None:
        raise typer.Exit(2)  # pytest printed the catalog errors; nothing ran
    out.print()
    out.print(summary.table(outcome.scenarios))
    for line in summary.problems(outcome.scenarios):
        out.print(f"  {line}", highlight=False, markup=False)
    if outcome.interruption is not None:
        i = outcome.interruption
        err.print(
            f"[bold yellow]interrupted by {i.signal}[/]; the drill stopped {i.child_exit_s} s later"
            + (" (killed after the grace)" if i.killed else ""),
            highlight=False,
        )
        for line in outcome.undone or ["no fault was in force"]:
            err.print(f"  undone: {line}", highlight=False, markup=False)
    out.print(f"run folder: {outcome.run_dir}  (allure-results/, junit.xml, cucumber.json, scenarios/)")
    out.print(f"drill record: {outcome.record}")
    if report:
        from harness.evidence.allure_report import build_report

        built = build_report(
            [outcome.run_dir / "allure-results"],
            reports / "allure-report",
            history_path=reports / "allure-history.jsonl",
        )
        out.print(
            f"report: {built.index_html}" + (f"  (single file: {built.single_file})" if built.single_file else "")
        )
    raise typer.Exit(outcome.exit_code)
