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
from harness.backup.status import backup_records, with_history
from harness.errors import EXIT_BREACHED, EXIT_OK, ConfigError, HarnessError
from harness.evidence.record import load_records, parse_utc
from harness.lab import Lab

app = typer.Typer(no_args_is_help=True, help="Backup validation (plan 4.4): status of the backups, restore tests.")
out = Console()
err = Console(stderr=True)

TargetOpt = Annotated[str, typer.Option("--target", help="target name or file: `local` (the lab) or an AWS file")]
ReportsOpt = Annotated[Path, typer.Option("--reports", help="reports folder holding the drill records")]


def _lab_of(target: str, what: str = "`drill backup verify` reads the local lab's backups only") -> Lab:
    """The lab behind a lab target file (an AWS file takes its own path in each command; Kubernetes: not built)."""
    from harness.targets import load

    provider = load(target).target_file.provider
    if provider != "lab":
        raise HarnessError(
            f"target {target!r} (provider {provider}): {what}; not built yet for this provider (docs/backup.md)"
        )
    return Lab.load()


def _setting(file: object, configuration: dict, key: str) -> object:
    """A configuration value of the target file; a placeholder left in (`<...>`) is an error naming it."""
    value = configuration.get(key)
    if isinstance(value, str) and value.startswith("<"):
        raise ConfigError(str(file), f"configuration {key}", f"{value!r} is still the example's placeholder")
    return value


def _aws_rows(target_obj: object, moment: float | None) -> list[dict]:
    """The AWS rows (harness.backup.aws) for the cluster and buckets the target file's configuration names."""
    from harness.backup import aws as aws_backup
    from harness.faults import aws as aws_api

    cfg, path = target_obj.configuration, target_obj.target_file.path  # type: ignore[attr-defined]
    cluster = _setting(path, cfg, "rds_cluster_id")
    buckets = _setting(path, cfg, "s3_backup_buckets") or []
    if not isinstance(buckets, list) or not all(isinstance(b, str) and not b.startswith("<") for b in buckets):
        raise ConfigError(
            str(path), "configuration s3_backup_buckets", f"must be a list of bucket names, got {buckets!r}"
        )
    more = {key: _names(path, cfg, key) for key in MORE_STORES}
    protected = _setting(path, cfg, "backup_protected_resources") or {}
    if not isinstance(protected, dict) or not all(
        isinstance(a, str) and not a.startswith("<") for a in protected.values()
    ):
        raise ConfigError(
            str(path), "configuration backup_protected_resources", f"must map names to resource ARNs, got {protected!r}"
        )
    if not cluster and not buckets and not any(more.values()) and not protected:
        raise ConfigError(str(path), "configuration", "names neither rds_cluster_id nor s3_backup_buckets")
    now = datetime.now(UTC).timestamp() if moment is None else moment
    rows = aws_backup.aws_status(
        aws_api.session(cfg),
        aws_api.region_of(cfg),
        cluster and str(cluster),
        buckets,
        now,
        f"{path}: configuration rds_cluster_id",
    )
    rows += aws_backup.more_rows(
        lambda service: aws_api.shared_client(service, cfg), now, str(path), *more.values(), protected
    )
    return [r.as_dict() for r in rows]


MORE_STORES = ("backup_elasticache_groups", "backup_docdb_clusters", "backup_plans")


def _names(path: object, cfg: dict, key: str) -> list[str]:
    names = _setting(path, cfg, key) or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n and not n.startswith("<") for n in names):
        raise ConfigError(str(path), f"configuration {key}", f"must be a list of names, got {names!r}")
    return names


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

    target_obj = load(target)
    if target_obj.target_file.provider == "aws":
        if store:
            raise HarnessError("--store: the lab's stores; an AWS target's are the ones its file names")
        rows = _aws_rows(target_obj, _moment(at))
        _print_and_exit(target, rows, as_json)
    lab = _lab_of(target, "`drill backup status` reads the local lab's backups only, and an AWS target's")
    records = load_records(reports)
    moment, rows = _moment(at), []
    for name in [s for s in store if s != "s3"] or ([] if store else list(backup_room.POLICIES)):
        history = backup_records(records, name)
        since = parse_utc(history[-1]["started"]).timestamp() if history else None  # failures since the last test
        [st] = backup_room.lab_status(lab.ctx, now=moment, since=since, stores=[name])
        rows.append(with_history(st, history))
    if not store or "s3" in store:  # the lab's S3 buckets (harness/lab/s3.py)
        rows += backup_room.lab_s3_rows(lab.ctx, now=moment)
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

    runners = {"postgres": backup_room.verify_postgres, "redis": backup_room.verify_redis}
    if store not in runners:
        raise HarnessError(f"--store: {store!r} is not one of {', '.join(runners)}")
    if writes < 0:
        raise HarnessError(f"--writes must be >= 0, got {writes}")
    target_obj = load(target)
    progress = lambda s: err.print(f"backup verify: {s}")  # noqa: E731
    if target_obj.target_file.provider == "aws":
        result = _aws_verify(target, target_obj, store, writes, pitr, reports, progress)
    elif pitr:
        raise HarnessError(
            "--pitr: a point-in-time restore test is the AWS target's; the lab restores its newest backup"
        )
    else:
        lab = _lab_of(target)
        result = runners[store](lab, reports=reports, writes=writes, on_step=progress)
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


def _aws_verify(target: str, target_obj: object, store: str, writes: int, pitr: bool, reports: Path, progress):
    """The RDS restore test (harness.backup.aws_verify) after the target's safety preflight."""
    from harness.backup import aws_verify

    if store != "postgres":
        raise HarnessError(f"--store {store}: an AWS target's restore test is its RDS instance's (postgres)")
    tf = target_obj.target_file  # type: ignore[attr-defined]
    aws_verify.restore_setup(target_obj.configuration, str(tf.path))  # type: ignore[attr-defined]  # placeholders: before STS
    target_obj.preflight()  # type: ignore[attr-defined]
    return aws_verify.verify_rds(
        target,
        tf.environment,
        target_obj.configuration,  # type: ignore[attr-defined]
        str(tf.path),
        reports=reports,
        writes=writes,
        pitr=pitr,
        on_step=progress,
    )


app.command("status")(status)
app.command("verify")(verify)
