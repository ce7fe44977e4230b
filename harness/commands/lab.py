"""`drill lab ...` (owned by the lab room; filled in by issue 3)."""

import typer

app = typer.Typer(no_args_is_help=True, help="Start, inspect and stop the local lab.")
