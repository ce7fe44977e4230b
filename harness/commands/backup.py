"""`drill backup status|verify`: thin wrappers over harness.backup (docs/backup.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness import backup as backup_room
from harness.errors import EXIT_BREACHED, EXIT_OK, HarnessError

app = typer.Typer(no_args_is_help=True, help="Backup validation (plan 4.4): status of the backups, restore tests.")
out = Console()
err = Console(stderr=True)

TargetOpt = Annotated[str, typer.Option("--target", help="target name or file: `local` (the lab) or an AWS file")]
ReportsOpt = Annotated[Path, typer.Option("--reports", help="reports folder holding the drill records")]


def _moment(text: str | None) -> float | None:
    """--at: epoch seconds, ISO-8601 (naive = UTC) or +SECONDS from now."""
    if text is None:
        return None
    try:
        if text.startswith("+"):
            return datetime.now(UTC).timestamp() + float(text[1:])
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HarnessError(f"--at: {text!r} is neither epoch seconds, ISO-8601 nor +SECONDS") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def status(
    target: TargetOpt = "local",
    store: Annotated[list[str], typer.Option("--store", help="postgres, redis or s3 (repeatable; default all)")] = [],  # noqa: B006
    at: Annotated[
        str | None, typer.Option("--at", help="judge ages at this moment (epoch, ISO-8601 or +SECONDS) instead of now")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    reports: ReportsOpt = Path("reports"),
) -> None:
    """Per store of the plan's 4.1 table: newest backup and its age against the limit, retention kept vs
    the policy, size and its trend, failed jobs since the last restore test (an AWS target: RDS retention and
    restorable time, newest snapshot, S3 versioning and lifecycle, ElastiCache and DocumentDB snapshots and
    retention, AWS Backup plans and recovery points, read-only). Exit 1 when a policy is breached."""
    from harness.targets import load

    rows = load(target).backup_status(_moment(at), store, reports)
    _print_and_exit(target, rows, as_json)


def _print_and_exit(target: str, rows: list[dict], as_json: bool) -> None:
    """The table (or JSON) and the findings; exits 1 when any row has a finding."""
    if as_json:
        out.print_json(json.dumps({"target": target, "stores": rows, "ok": all(r["ok"] for r in rows)}))
    else:
        out.print(_status_table(rows))
        for r in rows:
            for f in r["findings"]:
                out.print(f"[red]finding[/] {r['store']}: {f}", highlight=False)
    raise typer.Exit(EXIT_OK if all(r["ok"] for r in rows) else EXIT_BREACHED)


def _status_table(rows: list[dict]) -> Table:
    t = Table(title="backups (plan 4.1; the lab's scaled down: docs/backup.md)", title_justify="left")
    for col in ("store", "newest", "age / limit", "kept / policy", "size", "trend", "failures", "ok"):
        t.add_column(col)
    for r in rows:
        limit = "-" if r["age_limit_s"] is None else f"{r['age_limit_s']:.0f} s"
        age = "-" if r["age_s"] is None else f"{r['age_s']:.0f} s / {limit}"
        trend = r["size_trend"]
        t.add_row(
            r["store"],
            f"{r['newest_label'] or '-'} ({r['newest_type'] or '-'})",
            age,
            f"{r['kept']} / {r['retention']}",
            str(r["size_bytes"] if r["size_bytes"] is not None else "-"),
            f"{trend['change']:+d} B" if trend else "-",
            str(len(r["failures"])),
            "[green]yes[/]" if r["ok"] else "[red]NO[/]",
        )
    return t


def verify(
    target: TargetOpt = "local",
    store: Annotated[str, typer.Option("--store", help="postgres or redis")] = "postgres",
    writes: Annotated[
        int, typer.Option("--writes", help="ledger writes made (and backed up) before the restore; 0: none")
    ] = backup_room.verify.DEFAULT_WRITES,
    pitr: Annotated[
        bool, typer.Option("--pitr", help="AWS: restore to LatestRestorableTime instead of the newest snapshot")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    reports: ReportsOpt = Path("reports"),
) -> None:
    """Automated restore test: restore the newest backup into a scratch instance, check it, time it against
    the RTO, remove the scratch instance, write a chained drill record. An AWS target: the newest RDS snapshot
    (--pitr: LatestRestorableTime) into a tagged scratch instance, deleted by the undo recorded first. Exit 1
    when it fails, 2 when refused (nothing created)."""
    from harness.targets import load

    if writes < 0:
        raise HarnessError(f"--writes must be >= 0, got {writes}")
    progress = lambda s: err.print(f"backup verify: {s}")  # noqa: E731
    result = load(target).backup_verify(store, writes=writes, pitr=pitr, reports=reports, on_step=progress)
    if as_json:
        out.print_json(json.dumps(result.as_dict(), default=str))
    else:
        for s in result.steps:
            mark = "[green]✔[/]" if s["ok"] else "[red]✘[/]"
            out.print(f"{mark} {s['step']} ({s['duration_s']:.2f} s) {s.get('detail') or ''}", highlight=False)
        rto = f" (RTO {result.rto_s:.0f} s)" if result.rto_s is not None else ""
        if result.available_s is not None:
            out.print(f"scratch {result.scratch}: available after {result.available_s} s", highlight=False)
        out.print(f"restore: {result.restore_s} s{rto}; verdict {result.verdict}; record {result.record}")
        if result.failure:
            out.print(f"[red]failed[/]: {result.failure}", highlight=False)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_BREACHED)


app.command("status")(status)
app.command("verify")(verify)
