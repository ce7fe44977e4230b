"""`drill objectives`: the DR plan's recovery objectives as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness import objectives as catalog_mod
from harness.errors import HarnessError


def objectives(
    component: Annotated[
        str | None, typer.Option("--component", "-c", help="Only this component (id, name or alias).")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", "-s", help="With --component: one failure scenario.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    file: Annotated[Path | None, typer.Option("--file", help="Objectives file (default: objectives.yaml).")] = None,
    check_plan: Annotated[
        Path | None,
        typer.Option("--check-plan", help="Compare the catalog with a DR plan (markdown) and list every difference."),
    ] = None,
) -> None:
    """Print the DR plan's RTO/RPO objectives (plan §1.1 and §5), in seconds, with the plan's own words."""
    catalog = catalog_mod.load(file)
    if check_plan is not None:
        problems = catalog_mod.check_against_plan(catalog, check_plan)
        for p in problems:
            Console(stderr=True).print(f"[red]✗[/] {p}", highlight=False)
        if problems:
            raise typer.Exit(1)
        Console().print(f"[green]✓[/] every RTO/RPO row of {check_plan.name} is in {catalog.path.name}, word for word")
        return
    if scenario:
        if not component:
            raise HarnessError("--scenario needs --component")
        rows = [catalog.lookup(component, scenario)]
    elif component:
        comp = catalog.component(component)
        rows = [o for o in catalog.objectives() if o.component == comp.id]
    else:
        rows = catalog.objectives()
    if as_json:
        typer.echo(json.dumps([_as_dict(o) for o in rows], indent=2))
        return
    table = Table(title=f"Recovery objectives ({catalog.path.name})", show_lines=False)
    for col in ("§", "component", "scenario"):
        table.add_column(col, no_wrap=True)
    for col in ("RTO target", "RPO target", "criticality", "procedure"):
        table.add_column(col, overflow="fold")
    for o in rows:
        table.add_row(
            o.section,
            o.component,
            o.scenario or "(class)",
            _cell(o.rto),
            _cell(o.rpo),
            o.criticality.value if o.criticality else "-",
            o.procedure or "",
        )
    console = Console()
    if not console.is_terminal:  # piped or captured: don't squeeze the table into 80 columns
        console = Console(width=170)
    console.print(table)


def _cell(bound: catalog_mod.Bound) -> str:
    if bound.judged_s is None:
        return f"[dim]{bound.text}[/]"
    return f"{bound.judged_s:g} s  [dim]({bound.text})[/]"


def _as_dict(o: catalog_mod.Objective) -> dict:
    d = o.model_dump(mode="json")
    d["key"], d["source"] = o.key, o.source
    for b in ("rto", "rpo"):
        d[b]["judged_s"] = getattr(o, b).judged_s
    return d
