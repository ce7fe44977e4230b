"""The lab's backup store: continuous WAL archive (`backup/wal`, filled by archive_command) and one base
backup (`backup/base`) taken right after the lab is healthy, by a detached pg_basebackup job whose exit
status lands in `backup/base.status` ("running" | "ok" | "failed <rc>")."""

from __future__ import annotations

import os
import shutil
import time

import psycopg

from harness.errors import HarnessError
from harness.lab.context import PG_BIN, LabContext, Launch
from harness.lab.state import ensure_dir


def prepare_store(ctx: LabContext) -> None:
    """Create the WAL archive, writable by the PostgreSQL user (archive_command runs as that user)."""
    owner = ctx.postgres_owner
    ensure_dir(ctx.paths.backup, 0o755, owner)
    ensure_dir(ctx.paths.wal_archive, 0o700, owner)


def launch_base_backup(ctx: LabContext, host: str, port: int) -> Launch:
    """A shell job: pg_basebackup (plain format, WAL streamed, fast checkpoint) then write its status."""
    base, status = ctx.paths.base_backup, ctx.paths.base_backup_status
    if base.exists():
        shutil.rmtree(base)
    status.write_text("running\n")
    os.chown(status, *ctx.postgres_owner)  # the job (PostgreSQL user) overwrites it when done
    # Retried: a switchover or failover during the backup cuts its replication stream (HAProxy
    # shuts the old primary's sessions down); the next attempt goes to the new primary.
    script = (
        f'for attempt in 1 2 3 4 5; do rm -rf "$3"; '
        f'"{PG_BIN}/pg_basebackup" -h "$1" -p "$2" -U replicator -D "$3" -Fp -X stream '
        f"--checkpoint=fast --no-password --label=drill-lab-base; rc=$?; "
        f"[ $rc -eq 0 ] && break; sleep 2; done; "
        f'if [ $rc -eq 0 ]; then echo ok > "$4"; else echo "failed $rc" > "$4"; fi'
    )
    return Launch(
        argv=["/bin/sh", "-c", script, "drill-lab-base-backup", host, str(port), str(base), str(status)],
        user=ctx.postgres_user,
        env={"PGPASSFILE": str(ctx.paths.component_dir("backup") / "pgpass")},
    )


def status(ctx: LabContext) -> str:
    try:
        return ctx.paths.base_backup_status.read_text().strip() or "running"
    except FileNotFoundError:
        return "not started"


def archived_wal(ctx: LabContext) -> list[str]:
    try:
        return sorted(p.name for p in ctx.paths.wal_archive.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return []


def wait(ctx: LabContext, primary_dsn: str, timeout: float = 60.0) -> dict:
    """Block until the base backup finished and at least one WAL segment is archived (forcing a WAL
    switch if needed). Returns {"base": path, "wal": [...]}; HarnessError on failure or timeout."""
    deadline = time.monotonic() + timeout
    while (st := status(ctx)) in ("running", "not started"):
        if time.monotonic() > deadline:
            raise HarnessError(f"base backup still {st} after {timeout:.0f}s (see logs/backup.log)")
        time.sleep(0.2)
    if st != "ok":
        raise HarnessError(f"base backup {st} (see the lab's logs/backup.log)")
    switched = False
    while not any(len(n) == 24 for n in archived_wal(ctx)):
        if not switched:
            # A segment is archived only once full or switched: switch so PITR has a segment right away.
            with psycopg.connect(primary_dsn, autocommit=True) as conn:
                conn.execute("SELECT pg_switch_wal()")
            switched = True
        if time.monotonic() > deadline:
            raise HarnessError("no WAL segment archived in time; check archive_command in the pg logs")
        time.sleep(0.2)
    return {"base": str(ctx.paths.base_backup), "wal": archived_wal(ctx)}
