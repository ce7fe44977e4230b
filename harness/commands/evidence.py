"""`drill verify | finding | history | due | audit`: thin wrappers over harness.evidence.

Registered on the root app with `evidence_commands.register(app)`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError
from harness.evidence import audit as audit_mod
from harness.evidence import cadence, findings
from harness.evidence import history as history_mod
from harness.evidence import integrity as verify_mod
from harness.evidence import record as record_mod
from harness.measure import judgement

ReportsOpt = Annotated[
    Path | None, typer.Option("--reports", help="Reports directory (default: $DRILL_REPORTS_DIR or ./reports).")
]


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=170)  # piped: don't squeeze tables


def verify(
    reports: ReportsOpt = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head", help="Head hash quoted elsewhere (e.g. the drill ticket); fail if the chain's differs."
        ),
    ] = None,
) -> None:
    """Check every record, finding and evidence file against the hash chain (and signatures if DRILL_SIGNING_KEY is set)."""
    report = verify_mod.verify(reports)
    table = Table(title=f"Evidence chain in {report.reports_dir}")
    for col in ("chain", "#", "id", "when", "hash", "evidence", "signature", "status"):
        table.add_column(col, overflow="fold")
    for r in report.rows:
        status = (
            "[red]" + r.problems[0].replace("[", r"\[") + "[/]"
            if not r.ok
            else "[yellow]" + r.note.replace("[", r"\[") + "[/]"
            if r.note
            else "[green]ok[/]"
        )
        table.add_row(
            r.chain,
            str(r.seq) if r.seq else "-",
            r.id,
            r.when or "-",
            (r.hash or "-")[:12],
            r.evidence,
            r.signature,
            status,
        )
    out = _console()
    out.print(table)
    problems = report.problems
    if expect_head and expect_head != report.head:
        problems = [*problems, f"chain head {report.head} is not the expected {expect_head}"]
    if problems:
        err = Console(stderr=True)
        err.print(f"[bold red]✗ NOT intact[/]: {problems[0]}", highlight=False, soft_wrap=True)
        for p in problems[1:]:
            err.print(f"  also: {p}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(f"[green]✓[/] {report.summary()}", highlight=False, soft_wrap=True)


finding_app = typer.Typer(
    no_args_is_help=True, help="Issues found by drills and their corrective actions (append-only)."
)


@finding_app.command("add")
def finding_add(
    record: Annotated[str, typer.Option("--record", help="Drill record id (or a unique prefix).")],
    title: Annotated[str, typer.Option("--title", help="The issue, in one line.")],
    owner: Annotated[str, typer.Option("--owner", help="Who owns the corrective action.")],
    due: Annotated[str, typer.Option("--due", help="Due date, YYYY-MM-DD.")],
    action: Annotated[str, typer.Option("--action", help="The corrective action.")],
    reports: ReportsOpt = None,
) -> None:
    """Open a finding against a drill record."""
    f = findings.add_finding(reports, record, title, owner, due, action)
    typer.echo(f"{f.id} opened on {f.record}: {f.title} (owner {f.owner}, due {f.due})")


@finding_app.command("close")
def finding_close(
    finding_id: Annotated[str, typer.Argument(metavar="ID", help="Finding id, e.g. F-0001.")],
    reference: Annotated[str, typer.Option("--reference", help="Ticket, PR or document that fixed it.")],
    reports: ReportsOpt = None,
) -> None:
    """Close a finding, citing what fixed it."""
    f = findings.close_finding(reports, finding_id, reference)
    typer.echo(f"{f.id} closed: {f.reference}")


@finding_app.command("list")
def finding_list(
    open_only: Annotated[bool, typer.Option("--open", help="Only open findings.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reports: ReportsOpt = None,
) -> None:
    """List findings (all, or only open ones)."""
    rows = findings.list_findings(reports, open_only=open_only)
    if as_json:
        typer.echo(json.dumps([f.model_dump(mode="json") for f in rows], indent=2))
        return
    today = datetime.now(UTC).date()
    table = Table(title="Findings" + (" (open)" if open_only else ""))
    for col in ("id", "record", "title", "owner", "due", "action", "status"):
        table.add_column(col, overflow="fold")
    for f in rows:
        status = (
            f"closed {f.closed_at[:10]}: {f.reference}"
            if not f.is_open
            else "[red]open, overdue[/]"
            if f.overdue(today)
            else "open"
        )
        table.add_row(f.id, f.record, f.title, f.owner, f.due.isoformat(), f.action, status)
    _console().print(table)


def history(
    scenario: Annotated[str | None, typer.Option("--scenario", help="Only this scenario.")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="Also write a PNG trend chart here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reports: ReportsOpt = None,
) -> None:
    """Measured RTO/RPO per scenario across drills, against the targets."""
    rows = history_mod.history_rows(record_mod.load_records(reports), scenario)
    if scenario and not rows:
        raise HarnessError(f"no drill record has a scenario named '{scenario}'")
    if chart:
        history_mod.write_history_chart(rows, chart)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    table = Table(title="RTO/RPO history")
    for col in (
        "date",
        "quarter",
        "type",
        "path",
        "scenario",
        "RTO",
        "target",
        "RPO",
        "target",
        "lost",
        "verdict",
        "record",
    ):
        table.add_column(col, overflow="fold")
    for r in rows:
        word = judgement.label(r.verdict)  # the judgement's word, as every path prints it
        verdict = (
            "[yellow]not completed[/]"
            if r.status == "broken"
            else "[red]FAILED[/]"
            if r.status == "failed" and judgement.passed(r.verdict or "")
            else f"[green]{word}[/]"
            if judgement.passed(r.verdict or "")
            else f"[red]{word}[/]"
        )
        table.add_row(
            r.started.date().isoformat(),
            r.quarter,
            r.plan_type,
            r.path,
            r.scenario,
            _s(r.rto_s),
            _s(r.rto_target_s),
            _s(r.rpo_s),
            _s(r.rpo_target_s),
            "-" if r.lost_writes is None else str(r.lost_writes),
            verdict,
            r.record,
        )
    _console().print(table)
    if chart:
        typer.echo(f"chart: {chart}")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s" if value % 1 else f"{value:g} s"


def due(
    today: Annotated[str | None, typer.Option("--today", help="Pretend today is YYYY-MM-DD.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any drill type is overdue.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reports: ReportsOpt = None,
) -> None:
    """Which drills of the plan's §6.1 cadence are overdue, due soon (14 days; weekly restore tests: 2) or fine."""
    try:
        day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    except ValueError:
        raise HarnessError(f"--today '{today}' is not a date like 2025-03-31") from None
    rows = cadence.due(record_mod.load_records(reports), day)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        table = Table(title=f"Drill cadence (plan §6.1) as of {day}")
        for col in ("test", "frequency", "last", "next due", "status", "last record"):
            table.add_column(col, overflow="fold")
        colour = {"overdue": "red", "due soon": "yellow", "ok": "green"}
        for r in rows:
            table.add_row(
                r.name,
                r.frequency,
                r.last.isoformat() if r.last else "never",
                r.next_due.isoformat() if r.next_due else "now",
                f"[{colour[r.status]}]{r.status}[/]",
                r.last_record or "-",
            )
        _console().print(table)
    if strict and cadence.any_overdue(rows):
        raise typer.Exit(1)


def audit(
    record: Annotated[str | None, typer.Argument(help="Record id or unique prefix (default: the latest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="HTML file (default: reports/audit/<id>.html).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print it to PDF with headless Chromium.")] = False,
    reports: ReportsOpt = None,
) -> None:
    """Write the after-action report of a drill: one self-contained HTML file (and PDF)."""
    html_path, pdf_path = audit_mod.write_audit(reports, record, out, pdf)
    typer.echo(f"after-action report: {html_path}")
    if pdf_path:
        typer.echo(f"pdf: {pdf_path}")


def register(app: typer.Typer) -> None:
    """Add these commands to the root `drill` app."""
    app.command("verify")(verify)
    app.add_typer(finding_app, name="finding")
    app.command("history")(history)
    app.command("due")(due)
    app.command("audit")(audit)
