"""`drill fault list|inject|undo|pending`, `drill recover` and `drill procedure list|run` (the faults room).

Thin wrappers over harness.faults.runner. `fault inject` prints the blast radius (stderr), injects, prints the
id (stdout, so `ID=$(drill fault inject ...)` works) and returns; the fault stays until `drill fault undo ID`,
`drill fault undo --all` or `drill recover`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.drills.lock import refuse_while_drilling
from harness.errors import EXIT_NOT_RECOVERED, HarnessError
from harness.faults import registry, runner
from harness.faults.base import BlastRadius
from harness.faults.intent import IntentLog

app = typer.Typer(no_args_is_help=True, help="Inject, list and undo faults (the fault vocabulary).")
procedure_app = typer.Typer(no_args_is_help=True, help="Recovery procedures (the plan's runbooks).")

_err = Console(stderr=True, highlight=False, soft_wrap=True)
_out = Console(highlight=False, soft_wrap=True)


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['pid=12', 'group=false'] → {'pid': '12', 'group': 'false'}; malformed → one HarnessError."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise HarnessError(f"malformed parameter {item!r}: expected key=value (e.g. pid=1234)")
        if key in params:
            raise HarnessError(f"parameter '{key}' given twice")
        params[key] = value
    return params


def _target_for(name: str) -> Any:
    """The running lab for lab faults, None for local ones. An unknown fault refuses before any lookup.
    `drill fault` acts on the local lab: its target (targets/local.yaml) is preflighted once first."""
    cls = registry.get(name)
    from harness import targets

    target = targets.load("local")
    target.preflight()
    if not cls.needs_lab:
        return None
    return target.connect(bring_up=False).lab


def _show_blast(blast: BlastRadius) -> None:
    _err.print("[bold]blast radius[/]")
    for line in blast.lines():
        _err.print(f"  {escape(line)}")


def _name_column(table: Table, header: str, names: list[str]) -> None:
    """Names are what a user copies into a command: never wrapped, always whole; the other columns fold."""
    table.add_column(header, no_wrap=True, min_width=max(map(len, names), default=len(header)))


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """List the fault vocabulary: name, parameters, plan section, undo."""
    faults = registry.list_faults()
    if as_json:
        _out.print_json(
            json.dumps(
                [
                    {
                        "name": c.name,
                        "params": c.param_help(),
                        "plan_section": c.plan_section,
                        "summary": c.summary,
                        "undo": c.undo_summary,
                        "needs_lab": c.needs_lab,
                    }
                    for c in faults
                ]
            )
        )
        return
    table = Table(title="faults")
    _name_column(table, "name", [c.name for c in faults])
    for col in ("parameters", "plan section", "undo"):
        table.add_column(col, overflow="fold")
    for c in faults:
        table.add_row(c.name, c.param_help() or "-", c.plan_section, c.undo_summary)
    _out.print(table)


@app.command("inject")
def inject_cmd(
    name: str = typer.Argument(..., help="fault name, see `drill fault list`"),
    params: list[str] | None = typer.Argument(None, help="key=value parameters"),
    force: bool = typer.Option(
        False, "--force", help="inject even while a drill runs (recorded in its timeline as an outside action)"
    ),
) -> None:
    """Inject a fault and leave it in force; prints its id. Undo with `drill fault undo ID` or `drill recover`.
    Refused while a `drill run` holds the lab, unless --force."""
    raw = parse_assignments(params or [])
    registry.get(name).parse(raw)  # bad input fails before any lab lookup
    refuse_while_drilling(" ".join(["drill fault inject", name, *(params or [])]), force)
    fault_id = runner.inject(name, raw, _target_for(name), log=IntentLog(), show=_show_blast)
    _err.print(f"[green]injected[/] {name}; undo with: drill fault undo {fault_id}")
    _out.print(fault_id)


@app.command("undo")
def undo_cmd(
    fault_id: str | None = typer.Argument(None, metavar="ID", help="id printed by inject"),
    all_: bool = typer.Option(False, "--all", help="undo every pending fault, newest first"),
) -> None:
    """Undo one fault (by id or unique id prefix) or, with --all, every pending fault."""
    if bool(fault_id) == all_:
        raise HarnessError("give exactly one of: a fault ID, or --all")
    reports = runner.undo_all() if all_ else [runner.undo(fault_id)]
    if not reports:
        _err.print("no pending faults")
    _report(reports)


@app.command("pending")
def pending_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Faults recorded in the intent log and not yet undone."""
    pending = runner.pending()
    if as_json:
        _out.print_json(
            json.dumps(
                [
                    {
                        "id": i.id,
                        "fault": i.fault,
                        "params": i.params,
                        "state": i.state,
                        "undo": i.undo,
                        "error": i.error,
                    }
                    for i in pending
                ]
            )
        )
        return
    if not pending:
        _err.print("no pending faults")
    for i in pending:
        _out.print(escape(f"{i.id} {i.fault} {i.state} {json.dumps(i.params)} undo steps: {len(i.undo)}"))


def recover(
    reports_dir: Path | None = typer.Option(
        None, "--reports", help="Reports directory (default: $DRILL_REPORTS_DIR or ./reports)."
    ),
) -> None:
    """Undo everything the intent log says is still in force (after a crashed or killed drill), finish a drill
    record whose chaining a kill stopped part way, then seal the record of every killed drill run into the chain
    as incomplete."""
    from harness.drills.recover import seal_killed_runs
    from harness.evidence import integrity

    def evidence() -> None:
        # A torn append first: sealing appends to the chain, which must be whole before it grows.
        _complete_records(integrity.complete_interrupted(reports_dir))
        for line in seal_killed_runs(reports_dir):
            _out.print(escape(line))

    reports = runner.recover()  # faults first: evidence bookkeeping never delays an undo
    if reports:
        _report(reports, then=evidence)
        return
    _err.print("nothing to recover: no pending faults")
    evidence()


def _complete_records(lines: list[str]) -> None:
    for line in lines:
        _out.print("[green]✓[/] " + escape(line))


def _report(reports: list[runner.UndoReport], then: Any = None) -> None:
    for r in reports:
        _out.print(("[green]✓[/] " if r.ok else "[bold red]✗[/] ") + escape(r.line()))
    if then is not None:
        then()  # e.g. finish a torn drill record, before a failed undo ends the command
    if not all(r.ok for r in reports):
        _err.print("[bold red]some undo steps failed[/]; fix the cause and run `drill recover` again")
        raise typer.Exit(EXIT_NOT_RECOVERED)


@procedure_app.command("list")
def procedure_list() -> None:
    """List the recovery procedures (implemented ones first; the rest are planned)."""
    from harness import recovery

    table = Table(title="procedures")
    _name_column(table, "name", [*recovery.PROCEDURES, *registry.PROCEDURES])
    for col in ("plan section", "what it does", "parameters", "status"):
        table.add_column(col, overflow="fold")
    for p in recovery.PROCEDURES.values():
        table.add_row(p.name, p.plan_section, p.summary, ", ".join(p.params) or "-", "runnable")
    for p in registry.PROCEDURES.values():
        if p.name not in recovery.PROCEDURES:
            table.add_row(p.name, p.plan_section, p.summary, "-", "planned")
    _out.print(table)


@procedure_app.command("run")
def procedure_run(
    name: str = typer.Argument(..., help="procedure name, see `drill procedure list`"),
    params: list[str] | None = typer.Argument(None, help="key=value parameters"),
    yes: bool = typer.Option(False, "--yes", help="auto-confirm manual steps (as CI=true does)"),
    as_json: str | None = typer.Option(None, "--json", help="also write the run report here"),
) -> None:
    """Run a recovery procedure against the lab, printing each step's duration."""
    from harness import recovery
    from harness.lab import Lab

    proc = recovery.get(name)
    raw = parse_assignments(params or [])
    confirmer = recovery.Confirmer(auto=True if yes else None)
    report = proc.run(
        Lab.load(),
        raw,
        confirm=confirmer,
        log=lambda r: _out.print(("[green]✓[/] " if r.ok else "[bold red]✗[/] ") + escape(r.line())),
    )
    _out.print(f"{proc.name}: {'done' if report.ok else 'FAILED'} in {report.duration_s:.2f}s")
    if as_json:
        with open(as_json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=2)
    if not report.ok:
        raise typer.Exit(EXIT_NOT_RECOVERED)


# Standalone entry point with the same commands and error handling as `drill`, usable before (or without)
# the registration in harness/cli.py: python -m harness.commands.fault fault list
standalone = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
standalone.add_typer(app, name="fault")
standalone.add_typer(procedure_app, name="procedure")
standalone.command("recover")(recover)


def main() -> None:
    try:
        standalone()
    except HarnessError as err:
        _err.print(f"[bold red]error:[/] {escape(str(err))}")
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        _err.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
