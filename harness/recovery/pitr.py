"""pitr (plan 4.3.1; runbook 8.3 scenario 2): point-in-time recovery to just before a bad change.

The plan restores the production database to a new instance at a chosen time, validates it, then switches the
application to it. On the lab:

1. the recovery point is the wall time just before the bad statement (`old_t_fault`, learned from the
   db-corruption / db-accidental-delete fault, or `fault=ID`, or an explicit `target_time`);
2. a WAL switch on the primary makes the archive hold the segment with the bad change;
3. `pgbackrest restore --type=time` restores the newest backup set before the recovery point from the lab's
   pgBackRest repository into a **recovery instance** (plain PostgreSQL 15 as the `postgres` user, its own
   data directory under the lab's state folder, its own port), which replays the archived WAL
   (`archive-get`) up to `recovery_target_time` and promotes;
4. the recovered data is validated against the damaged table;
5. "switch to the recovered database" is done by copying the recovered tables back into the primary cluster in
   one transaction (TRUNCATE + COPY), NOT by re-pointing HAProxy at the recovery instance: the Patroni cluster,
   its replicas and the DR standby stay as they are (they replicate the restored rows), so the lab is healthy
   and re-usable for the next drill, and the data is what a restore-and-switch would give: the database as it
   was at the recovery point. With `tables=all` (the default) every table is restored, so writes made after
   the recovery point are lost, exactly as with the plan's switch of connection strings; `tables=a,b`
   restores only those (a surgical restore that keeps later writes elsewhere);
6. the recovery instance is stopped (by its PID) and removed.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from harness.backup import scratch
from harness.errors import HarnessError
from harness.lab import backup
from harness.lab.context import PG_BIN
from harness.lab.process import is_running
from harness.lab.state import ensure_dir
from harness.lab.topology import PG_DATABASE, PG_SUPERUSER
from harness.recovery.procedure import Context, Procedure, Step, poll

INSTANCE = "pitr"  # component-like name: run/pitr/ (data dir, socket), logs/pitr.log
# Free ports in the lab's range, above the lab's own PostgreSQL/HAProxy ports (15400-15442).
PORT_RANGE = range(15450, 15500)
SCHEMAS_SKIPPED = ("pg_catalog", "information_schema", "pg_toast")


# -- the recovery instance (harness/backup/scratch.py: the restore test starts its scratch instance alike) --------
def _root(ctx: Context) -> Path:
    return scratch.root(ctx.lab, INSTANCE)


def _connect(ctx: Context, db: str = PG_DATABASE) -> psycopg.Connection:
    """Superuser over the instance's own Unix socket (trust, no password)."""
    inst = ctx.facts["instance"]
    return psycopg.connect(
        host=inst["socket_dir"], port=inst["port"], user=PG_SUPERUSER, dbname=db, connect_timeout=3, autocommit=True
    )


def _primary(ctx: Context) -> psycopg.Connection:
    return psycopg.connect(ctx.lab.pg_dsn("primary", user=PG_SUPERUSER), autocommit=True)


def remove_leftover(ctx: Context) -> str | None:
    """Stop and remove a recovery instance an interrupted run left behind (its record names pid + start time)."""
    return scratch.remove(ctx.lab, INSTANCE)


def _log_tail(ctx: Context, lines: int = 6) -> str:
    return scratch.log_tail(ctx.lab, INSTANCE, lines)


def _cleanup_on_failure(action: Callable[[Context], str]) -> Callable[[Context], str]:
    """A failing step after the instance started must not leave it running."""

    @functools.wraps(action)
    def run(ctx: Context) -> str:
        try:
            return action(ctx)
        except BaseException:
            if "instance" in ctx.facts:
                scratch.stop(ctx.facts["instance"]["record"])
            raise

    return run


# -- parameters ---------------------------------------------------------------------------------------------------
def _parse_time(text: str) -> float:
    """Epoch seconds, or ISO-8601 (a naive time is UTC)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HarnessError(f"parameter 'target_time': {text!r} is neither epoch seconds nor ISO-8601") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="microseconds")


def _oldest_backup_stop(ctx: Context) -> float | None:
    """Stop time of the oldest backup the repository keeps (`pgbackrest info`): the earliest recovery point."""
    sets = backup.info(ctx.lab.ctx).get("backup") or []
    return min((float(b["timestamp"]["stop"]) for b in sets), default=None)


def _from_fault(fault_id: str) -> dict[str, Any]:
    from harness.faults.intent import IntentLog

    intent = IntentLog().get(fault_id)
    if not isinstance(intent.detail, dict) or "t_fault" not in intent.detail:
        raise HarnessError(
            f"parameter 'fault': {fault_id} recorded no t_fault (not a db-corruption / db-accidental-delete fault?)"
        )
    return intent.detail


# -- steps --------------------------------------------------------------------------------------------------------
def identify_recovery_point(ctx: Context) -> str:
    detail = _from_fault(ctx.param("fault")) if ctx.param("fault") else {}
    raw = ctx.param("target_time") or ctx.param("old_t_fault") or detail.get("t_fault")
    if raw is None:
        raise HarnessError(
            "no recovery point: give target_time=<ISO-8601 or epoch>, fault=<fault id>, or run "
            "it in a drill after db-corruption / db-accidental-delete (old_t_fault)"
        )
    target = _parse_time(str(raw))
    table = ctx.param("old_table") or detail.get("table")
    if target > time.time():
        raise HarnessError(f"recovery point {_iso(target)} is in the future")
    ctx.lab.wait_backup(float(ctx.param("timeout", "300")))  # the full backup may still be under way
    base_stop = _oldest_backup_stop(ctx)
    if base_stop is None:
        raise HarnessError("the pgBackRest repository holds no backup (`pgbackrest info`): nothing to restore")
    if target < base_stop:
        raise HarnessError(
            f"recovery point {_iso(target)} is before the end of the oldest backup ({_iso(base_stop)}); "
            "no older backup to restore from"
        )
    ctx.facts.update(target=target, table=table, rows=ctx.param("old_rows") or detail.get("rows"))
    return (
        f"restore to {_iso(target)}"
        + (f" (just before the bad change to {table})" if table else "")
        + f"; oldest backup in the repository ended {_iso(base_stop)}"
    )


def archive_wal(ctx: Context) -> str:
    with _primary(ctx) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        conn.execute("SELECT pg_switch_wal()")
    # On timeout the error names pg_stat_archiver's last failed segment: why the archiver is stuck.
    backup.wait_archived(
        ctx.lab.ctx, ctx.lab.pg_dsn("primary", user=PG_SUPERUSER), segment, float(ctx.param("timeout", "120"))
    )
    return f"WAL switched; segment {segment} in the pgBackRest repository (archive-push on the primary)"


def _recovery_settings(target: float, restore_command: str) -> str:
    return f"""restore_command = '{restore_command}'
recovery_target_time = '{_iso(target)}'
recovery_target_inclusive = on
recovery_target_timeline = 'latest'
recovery_target_action = 'promote'
"""


def start_recovery_instance(ctx: Context) -> str:
    lab = ctx.lab
    leftover = remove_leftover(ctx)
    owner = lab.ctx.postgres_owner
    root = ensure_dir(_root(ctx), 0o700, owner)
    data = root / "data"
    # pgBackRest parses "YYYY-MM-DD HH:MM:SS.ffffff+00" to pick the backup set (not ISO's "T").
    when = datetime.fromtimestamp(ctx.facts["target"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    backup.restore(lab.ctx, data, target_time=when)
    ctx.facts["instance"] = inst = scratch.start(
        lab,
        INSTANCE,
        data,
        PORT_RANGE,
        cluster_name="pitr-recovery",
        made_by="the pitr procedure (harness/recovery/pitr.py)",
        recovery=_recovery_settings(ctx.facts["target"], backup.scratch_restore_command(lab.ctx, data)),
    )
    host, port, rec = inst["host"], inst["port"], inst["record"]
    return (
        f"pgbackrest restore --type=time; recovery instance on {host}:{port} (pid {rec['pid']}, data {data.relative_to(lab.paths.root)})"
        + (f"; {leftover}" if leftover else "")
    )


@_cleanup_on_failure
def wait_recovered(ctx: Context) -> str:
    rec = ctx.facts["instance"]["record"]

    def promoted() -> bool:
        if not is_running(rec):
            raise HarnessError("the recovery instance exited: " + _log_tail(ctx))
        with _connect(ctx, "postgres") as conn:
            return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

    try:
        poll(
            "the recovery instance to reach the recovery point and promote",
            promoted,
            float(ctx.param("timeout", "300")),
            interval=0.5,
        )
    except HarnessError:
        if not is_running(rec):  # poll keeps the last error: say what PostgreSQL said
            raise HarnessError(
                "the recovery instance exited before reaching the recovery point: " + _log_tail(ctx)
            ) from None
        raise
    log = ctx.lab.paths.log(INSTANCE).read_text(errors="replace")
    stop = re.findall(r"recovery stopping before commit of transaction (\d+), time ([^\n]+)", log)
    last = re.findall(r"last completed transaction was at log time ([^\n]+)", log)
    return (
        "recovery point reached and promoted"
        + (f"; stopped before transaction {stop[-1][0]} committed at {stop[-1][1].strip()}" if stop else "")
        + (f"; last replayed commit at {last[-1].strip()}" if last else "")
    )


def _row_hashes(conn: psycopg.Connection, table: str) -> list[str]:
    ident = sql.Identifier(*table.split("."))
    conn.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")
    return [r[0] for r in conn.execute(sql.SQL("SELECT md5(t::text) FROM {} t").format(ident)).fetchall()]


def _recovered_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname <> ALL(%s) ORDER BY 1, 2",
        (list(SCHEMAS_SKIPPED),),
    ).fetchall()
    return [t if s == "public" else f"{s}.{t}" for s, t in rows]


@_cleanup_on_failure
def validate(ctx: Context) -> str:
    with _connect(ctx) as rconn:
        tables = _recovered_tables(rconn)
        counts = {
            t: rconn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*t.split(".")))).fetchone()[0]
            for t in tables
        }
        ctx.facts["recovered_tables"] = tables
        table = ctx.facts.get("table")
        if not table:
            return "recovered tables: " + ", ".join(f"{t} ({n} rows)" for t, n in counts.items())
        if table not in tables:
            raise HarnessError(f"the recovered database has no table {table!r}: recovery point too early?")
        recovered = _row_hashes(rconn, table)
    try:
        with _primary(ctx) as pconn:
            damaged = set(_row_hashes(pconn, table))
    except psycopg.errors.UndefinedTable:
        damaged = set()  # dropped by the fault: everything recovered is what it changed
    undone = sum(1 for h in recovered if h not in damaged)
    rows = int(ctx.facts.get("rows") or 0)
    if rows > 0 and undone == 0:
        raise HarnessError(
            f"the recovered {table} is identical to the damaged one, though the fault changed "
            f"{rows} row(s): the recovery point is after the bad change"
        )
    ctx.facts["table_rows"] = len(recovered)
    return (
        f"{table}: {len(recovered)} rows recovered, {undone} of them differ from the damaged table "
        f"(the fault touched {rows or '?'}); {len(tables)} tables in the recovered database"
    )


def _tables_to_restore(ctx: Context) -> list[str]:
    wanted = (ctx.param("tables") or "all").strip()
    recovered = ctx.facts["recovered_tables"]
    if wanted == "all":
        return recovered
    names = [t.strip() for t in wanted.split(",") if t.strip()]
    missing = [t for t in names if t not in recovered]
    if missing:
        raise HarnessError(
            f"parameter 'tables': not in the recovered database: {', '.join(missing)}; it has {', '.join(recovered)}"
        )
    return names


def _recreate_missing(ctx: Context, pconn: psycopg.Connection, tables: list[str]) -> list[str]:
    """Tables the bad change dropped: their definition from the recovered instance (pg_dump --schema-only)."""
    existing = set(_recovered_tables(pconn))
    missing = [t for t in tables if t not in existing]
    inst = ctx.facts["instance"]
    for table in missing:
        out = subprocess.run(
            [
                str(PG_BIN / "pg_dump"),
                "--schema-only",
                "--no-comments",
                "-t",
                table,
                "-h",
                inst["socket_dir"],
                "-p",
                str(inst["port"]),
                "-U",
                PG_SUPERUSER,
                PG_DATABASE,
            ],
            capture_output=True,
            text=True,
            user=ctx.lab.ctx.postgres_user,
        )
        if out.returncode != 0:
            raise HarnessError(f"pg_dump of {table} from the recovery instance failed: {out.stderr.strip()[:300]}")
        pconn.execute(out.stdout)
        pconn.execute("SET search_path TO DEFAULT")  # pg_dump's script empties it for the session
    return missing


def _sequences(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE last_value IS NOT NULL "
        "AND schemaname <> ALL(%s)",
        (list(SCHEMAS_SKIPPED),),
    ).fetchall()
    return {f"{s}.{n}": v for s, n, v in rows}


def _fingerprint(conn: psycopg.Connection, table: str) -> str:
    return "".join(sorted(_row_hashes(conn, table)))


@_cleanup_on_failure
def switch_to_recovered(ctx: Context) -> str:
    tables = _tables_to_restore(ctx)
    copied: dict[str, int] = {}
    with _connect(ctx) as rconn, psycopg.connect(ctx.lab.pg_dsn("primary", user=PG_SUPERUSER)) as pconn:
        # One transaction: the app sees the damaged tables until the commit, then the recovered ones.
        pconn.execute("SET LOCAL lock_timeout = '20s'")
        recreated = _recreate_missing(ctx, pconn, tables)
        idents = [sql.Identifier(*t.split(".")) for t in tables]
        pconn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(idents)))
        for table, ident in zip(tables, idents):
            cols = [
                r[0]
                for r in rconn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                    "AND NOT attisdropped ORDER BY attnum",
                    (table,),
                ).fetchall()
            ]
            col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
            with (
                rconn.cursor().copy(sql.SQL("COPY {} ({}) TO STDOUT (FORMAT binary)").format(ident, col_list)) as out,
                pconn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(ident, col_list)) as inp,
            ):
                for block in out:
                    inp.write(block)
            if _fingerprint(pconn, table) != _fingerprint(rconn, table):
                raise HarnessError(f"{table}: the copy in the primary differs from the recovered one; rolled back")
            copied[table] = rconn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
        # Keep sequences at least where they are: ids handed out after the recovery point are never reused.
        for seq, value in _sequences(rconn).items():
            pconn.execute(
                "SELECT setval(%s, greatest(%s, (SELECT last_value FROM pg_sequences WHERE "
                "schemaname || '.' || sequencename = %s)))",
                (seq, value, seq),
            )
        pconn.commit()
    ctx.facts["restored"] = copied
    return (
        "primary cluster now holds the recovered data: "
        + ", ".join(f"{t} ({n} rows)" for t, n in copied.items())
        + (f"; recreated {', '.join(recreated)}" if recreated else "")
    )


@_cleanup_on_failure
def verify_app(ctx: Context) -> str:
    poll(
        "the app to answer /health 200 through HAProxy",
        lambda: httpx.get(ctx.lab.app_url + "/health", timeout=2.0).status_code == 200,
        float(ctx.param("timeout", "60")),
    )
    table = ctx.facts.get("table")
    if table and table in ctx.facts["restored"]:
        with _primary(ctx) as pconn:
            n = pconn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))).fetchone()[
                0
            ]
        return f"app healthy through HAProxy; {table} has {n} rows on the primary"
    return "app healthy through HAProxy"


def remove_recovery_instance(ctx: Context) -> str:
    inst = ctx.facts.get("instance")
    stopped = scratch.stop(inst["record"]) if inst else False
    root = _root(ctx)
    if root.exists():
        shutil.rmtree(root)
    return (
        f"recovery instance (pid {inst['record']['pid']}) stopped" if stopped else "recovery instance already stopped"
    ) + "; its data directory removed"


PITR = Procedure(
    "pitr",
    "4.3.1, 8.3 scenario 2",
    "point-in-time recovery to just before the bad change",
    steps=(
        Step("identify the recovery point", identify_recovery_point),
        Step(
            "approve the restore (runbook 8.3 scenario 2)",
            manual="Approve the point-in-time restore of the "
            "freight database: every write after the recovery point is given up",
        ),
        Step("archive the WAL up to the bad change (pg_switch_wal)", archive_wal),
        Step("restore the newest backup before the point into a recovery instance", start_recovery_instance),
        Step("wait until the recovery point is reached", wait_recovered),
        Step("validate the recovered database", validate),
        Step("switch to the recovered data (copy back into the primary cluster)", switch_to_recovered),
        Step("verify application connectivity", verify_app),
        Step("stop and remove the recovery instance", remove_recovery_instance),
        Step(
            "tell the application team (runbook 8.3: monitor)",
            manual="Tell the application team the freight "
            "database was restored to the recovery point and which writes after it were given up",
        ),
    ),
    params={
        "old_t_fault": "recovery point, epoch seconds (learned from the fault's t_fault)",
        "old_table": "the damaged table (learned from the fault)",
        "old_rows": "rows the bad change touched (learned from the fault)",
        "fault": "a db-corruption / db-accidental-delete fault id to take t_fault and table from",
        "target_time": "explicit recovery point: ISO-8601 (naive = UTC) or epoch seconds",
        "tables": "all (default: the whole database as of the recovery point) or a comma list",
        "timeout": "seconds for the recovery instance to reach the point (300)",
    },
)


def leftover_instance_running(lab: Any) -> bool:
    """For tests and `lab status` callers: is a recovery instance of this lab still running?"""
    try:
        rec = json.loads((lab.paths.component_dir(INSTANCE) / "instance.json").read_text())
    except (FileNotFoundError, ValueError):
        return False
    return is_running(rec)


__all__ = ["PITR", "remove_leftover", "leftover_instance_running", "INSTANCE"]
