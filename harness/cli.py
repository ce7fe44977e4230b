"""`drill`: the command line. Thin by design: each command lives in harness/commands/<room>.py and is a
few lines calling the library, so the same thing works from Python, a Gherkin step or an experiment."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from harness.commands import backup as backup_commands
from harness.commands import evidence as evidence_commands
from harness.commands import fault as fault_commands
from harness.commands import lab as lab_commands
from harness.commands import measure as measure_commands
from harness.commands import metrics as metrics_commands
from harness.commands import objectives as objectives_commands
from harness.commands import plan as plan_commands
from harness.commands import report as report_commands
from harness.commands import run as run_commands
from harness.errors import HarnessError

app = typer.Typer(
    name="drill",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Inject real failures, measure real RTO and RPO against the DR plan, keep the evidence.",
)
app.command("run")(run_commands.run)
app.command("plan")(plan_commands.plan)
app.command("objectives")(objectives_commands.objectives)
app.command("measure")(measure_commands.measure)
app.add_typer(lab_commands.app, name="lab")
app.add_typer(backup_commands.app, name="backup")
app.add_typer(fault_commands.app, name="fault")
app.add_typer(fault_commands.procedure_app, name="procedure")
app.command("recover")(fault_commands.recover)
evidence_commands.register(app)  # verify, finding, history, due, audit
report_commands.register(app)  # report
metrics_commands.register(app)  # metrics


def main() -> None:
    try:
        app()
    except HarnessError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
