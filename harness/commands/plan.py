"""`drill plan`: dry run of a drill on a target — every fault, its concrete targets, its undo and its guard,
without touching anything (AWS: read-only describe calls only)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console


def plan(
    features: Annotated[
        list[str] | None, typer.Argument(help="Feature files or folders (default: all of features/).")
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Target name (targets/NAME.yaml) or path.")] = "local",
    tags: Annotated[str | None, typer.Option("--tags", "-t", help="Tag expression, e.g. 'smoke'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what `drill run` would do on a target, fault by fault: concrete targets (AWS: from describe calls),
    API calls, undo, blast-radius verdict against the target's limits, abort guards. Changes nothing."""
    from dataclasses import asdict

    from harness.dryrun import plan_drill

    view = plan_drill(target, features or [], tags)
    out = Console(width=max(Console().width, 140))
    if as_json:
        out.print_json(json.dumps(asdict(view), default=str))
        return
    for line in view.lines():
        out.print(line, highlight=False, markup=False)
