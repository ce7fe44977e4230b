"""`drill lab up|status|logs|down`: thin wrappers over harness.lab.Lab."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console

from harness.drills.lock import refuse_while_drilling
from harness.errors import HarnessError
from harness.lab import Lab
from harness.lab.render import status_table

app = typer.Typer(no_args_is_help=True, help="Start, inspect and stop the local lab.")
err = Console(stderr=True)
out = Console()


@app.command()
def up(
    db_replication: str = typer.Option("sync", "--db-replication", help="sync (Patroni synchronous_mode) or async"),
    network: str | None = typer.Option(
        None, "--network", help="netns or loopback (default: netns when root and namespaces work, else loopback)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
) -> None:
    """Start the lab (etcd, Patroni/PostgreSQL, Redis/Sentinel, HAProxy, the app, and its monitoring:
    Prometheus with the blackbox, PostgreSQL and Redis exporters) and wait until healthy."""
    started = time.monotonic()
    with err.status("starting the lab", spinner="dots") as spinner:

        def progress(msg: str) -> None:
            spinner.update(f"[bold]lab up[/] {msg}")
            err.print(f"[dim]{time.monotonic() - started:5.1f}s[/] {msg}", highlight=False)

        lab = Lab.up(replication=db_replication, network=network, progress=progress)
    if lab.already_up:
        err.print(f"[yellow]the lab is already up[/] ({lab.paths.root}); `drill lab status` shows it")
    else:
        err.print(f"[green]lab healthy[/] in {time.monotonic() - started:.1f}s")
    _show(lab.status(), as_json)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """Show every component: zone, address, role, health; the backup; the endpoints. Exit 1 unless healthy
    (a lab whose `drill lab up` has not finished is never healthy)."""
    try:
        lab = Lab.load(partial=True)
    except HarnessError:
        if as_json:
            out.print_json(json.dumps({"up": False, "healthy": False, "components": []}))
            return
        raise
    _show(lab.status(), as_json)


@app.command()
def logs(
    component: str | None = typer.Argument(None, help="e.g. pg-a, redis-a, sentinel-b, haproxy, app-c, backup"),
    lines: int = typer.Option(50, "-n", "--lines", help="last N lines"),
) -> None:
    """Print the last lines of a component's log (or of all of them)."""
    from harness.lab.state import LabPaths, default_state_dir, read_state

    paths = LabPaths(default_state_dir())
    state = read_state(paths) or {"network": "loopback", "replication": "sync", "components": {}}
    print(Lab(paths, state).logs(component, lines))


@app.command()
def down(
    force: bool = typer.Option(
        False, "--force", help="stop the lab even while a drill runs (recorded in its timeline as an outside action)"
    ),
) -> None:
    """Stop every lab process and remove its namespaces/firewall rules. Idempotent; stops a half-started lab
    too. Refused while a `drill run` holds the lab, unless --force."""
    refuse_while_drilling("drill lab down", force)
    try:
        lab = Lab.load(partial=True)
    except HarnessError:
        from harness.lab.network import LabNetwork
        from harness.lab.state import LabPaths, default_state_dir
        from harness.lab.topology import ZONES

        paths = LabPaths(default_state_dir())
        if paths.root.exists():  # no state file: still sweep a network a crashed run may have left
            LabNetwork(
                paths.root,
                mode="netns" if (paths.root / "network-drill.json").exists() else "loopback",
                zones=list(ZONES),
            ).teardown()
        err.print("the lab is not running")
        return
    with err.status("stopping the lab", spinner="dots") as spinner:
        lab.down(progress=lambda m: spinner.update(f"[bold]lab down[/] {m}"))
    err.print("[green]lab stopped[/]")


def _show(st: dict, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(st, default=str))
    else:
        out.print(status_table(st))
    if not st.get("healthy"):
        raise typer.Exit(1)
