"""`drill backup verify` on the lab: the plan's §4.4 "automated restore test", validated against what the
application wrote, with one chained drill record per run (path `backup`; plan 6.2 "Component Recovery Tests:
Database Recovery").

PostgreSQL:
1. `pgbackrest verify`: every file of the repository against its manifest checksum (a corrupted backup file
   fails here, with pgBackRest's own verdict; nothing is restored);
2. a write ledger: `writes` rows committed through HAProxy into `drill_ledger` (each acknowledged one appended,
   fsynced, to `ledger.jsonl`), then an incremental backup, so the newest backup holds known writes (`writes=0`
   restores the newest backup as it is and checks no ledger);
3. `pgbackrest restore --type=immediate --set=<newest>` into a **scratch instance** (its own data directory
   under the lab's state folder, its own port; never a live node), started and polled until it accepts SQL
   as a primary: the time from the restore's start to then is the restore duration, judged against the
   component's RTO (objectives.yaml);
4. checks on the scratch instance: the live primary's tables all there (schema), row counts, and every ledger
   row acknowledged before the backup's stop time present;
5. the scratch instance stopped (by its PID) and removed, whatever happened.

Redis: `redis-check-rdb` on the newest snapshot (after `writes` marker keys and a fresh snapshot), the snapshot
loaded into a scratch redis-server, its key count and every marker key checked, the scratch server stopped and
removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.backup import scratch
from harness.backup.policy import POLICIES
from harness.errors import HarnessError
from harness.evidence.record import RecordBuilder
from harness.lab import backup as lab_backup
from harness.lab import postgres as lab_postgres
from harness.lab.process import is_running, spawn
from harness.lab.state import ensure_dir
from harness.lab.topology import PG_DATABASE, PG_SUPERUSER
from harness.measure import judgement
from harness.measure.judgement import Targets

SCRATCH = "backup-verify"  # component-like name: run/backup-verify/, logs/backup-verify.log
# Free ports above the lab's own and the pitr recovery instance's (15450-15499).
PORT_RANGE = range(15500, 15550)
LEDGER_TABLE = "drill_ledger"  # the measurement writer's table (harness/measure/ledger.py)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
DEFAULT_WRITES = 50


@dataclass
class VerifyResult:
    store: str
    ok: bool
    verdict: str  # judgement word: met | rto-breached | not-recovered
    backup_label: str | None = None
    backup_stop: float | None = None
    backup_size: int | None = None
    restore_s: float | None = None
    rto_s: float | None = None
    rto_source: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # {step, ok, duration_s, detail}
    checks: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    scratch_removed: bool = False
    record: str | None = None
    # AWS restore tests (harness/backup/aws_verify.py): where the restore went and its two durations
    scratch: str | None = None  # the scratch instance (rds:<id>)
    source: str | None = None  # what was restored (rds-snapshot:<id>, rds-pitr:<instance>@<time>)
    available_s: float | None = None  # restore call -> the scratch instance `available`
    validated_s: float | None = None  # restore call -> the SQL checks passed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ValidationFailed(HarnessError):
    """The restored data failed a check (`validate_restored`): `checks` holds what was found."""

    def __init__(self, message: str, checks: dict[str, Any]):
        super().__init__(message)
        self.checks = checks


class StepRun:
    """Timed steps of one restore test; the first failing step ends it (its message is the failure)."""

    def __init__(self, result: VerifyResult, on_step: Callable[[str], None]):
        self.result, self.on_step = result, on_step

    def step(self, name: str, action: Callable[[], str]) -> None:
        self.on_step(name)
        t0 = time.monotonic()
        try:
            detail = action()
        except HarnessError as err:
            self.result.steps.append(
                {"step": name, "ok": False, "duration_s": round(time.monotonic() - t0, 3), "detail": str(err)}
            )
            raise
        self.result.steps.append(
            {"step": name, "ok": True, "duration_s": round(time.monotonic() - t0, 3), "detail": detail}
        )


def _scratch_root(lab: Any) -> Path:
    return scratch.root(lab, SCRATCH)


def remove_scratch(lab: Any) -> bool:
    """Stop the scratch instance this (or an interrupted) run started, by its recorded PID, and remove its
    folder. True when nothing is left."""
    scratch.remove(lab, SCRATCH)
    return not _scratch_root(lab).exists()


def _poll(what: str, cond: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except (psycopg.Error, OSError) as err:
            last = err
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({last})" if last else ""))


def restore_rto(store: str) -> tuple[float | None, str]:
    obj = POLICIES[store].rto()
    return obj.rto.judged_s, f"{obj.source} {obj.component_name}: {obj.scenario_name} (RTO {obj.rto.text})"


@dataclass
class _Test:
    """What one restore test's steps share (the skeleton `_restore_test` makes it)."""

    run: StepRun
    result: VerifyResult
    facts: dict[str, Any]  # "instance": the scratch server's process record (stopped by the skeleton)
    ledger: Path
    run_id: str
    target_rto: float | None


def _restore_test(
    lab: Any,
    store: str,
    body: Callable[[_Test], None],
    reports: str | Path | None,
    writes: int,
    out_dir: Path | None,
    on_step: Callable[[str], None],
    rto_s: float | None,
    record: bool,
) -> VerifyResult:
    """The skeleton of both lab restore tests: the RTO, the record, a leftover scratch instance removed, the
    store's steps (`body`; the first failing one ends it), the scratch instance stopped and removed whatever
    happened, the chained record."""
    target_rto, rto_source = restore_rto(store)
    if rto_s is not None:
        target_rto, rto_source = rto_s, "given"
    result = VerifyResult(store=store, ok=False, verdict=judgement.NOT_RECOVERED, rto_s=target_rto)
    result.rto_source = rto_source
    run_id = f"backup-verify-{uuid.uuid4().hex[:8]}"
    # record=False: a Gherkin drill runs the test and its own run's record holds the verdict.
    rec = RecordBuilder(reports, target="local", environment="lab", path="backup", live=record)
    rec.event("drill-started", {"store": store, "run_id": run_id, "writes": writes, "rto_s": target_rto})
    out = out_dir or Path(rec.reports_dir) / "backup" / run_id
    out.mkdir(parents=True, exist_ok=True)
    test = _Test(StepRun(result, on_step), result, {}, out / "ledger.jsonl", run_id, target_rto)
    try:
        remove_scratch(lab)  # one an interrupted run left behind
        body(test)
        result.ok = True
    except HarnessError as err:
        result.failure = str(err)
    finally:
        scratch.stop(test.facts.get("instance"))
        result.scratch_removed = remove_scratch(lab)
        result.steps.append(
            {"step": "stop and remove the scratch instance", "ok": result.scratch_removed, "duration_s": 0.0}
        )
    return finish_record(rec, result, out, record)


# -- PostgreSQL ----------------------------------------------------------------------------------------------
def write_ledger(dsn: str, run_id: str, count: int, ledger: Path) -> list[dict[str, Any]]:
    """`count` acknowledged writes into `drill_ledger` through `dsn` (the lab: HAProxy; AWS: the target's
    writer DSN), each appended (fsynced) to the ledger once committed."""
    acked: list[dict[str, Any]] = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn, ledger.open("a") as f:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (run_id text, seq bigint, client_ts timestamptz, "
                "PRIMARY KEY (run_id, seq))"
            ).format(sql.Identifier(LEDGER_TABLE))
        )
        for seq in range(1, count + 1):
            client_ts = time.time()
            conn.execute(
                sql.SQL("INSERT INTO {} (run_id, seq, client_ts) VALUES (%s, %s, to_timestamp(%s))").format(
                    sql.Identifier(LEDGER_TABLE)
                ),
                (run_id, seq, client_ts),
            )
            entry = {"kind": "ack", "run_id": run_id, "seq": seq, "client_ts": client_ts, "ack_ts": time.time()}
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())  # acknowledged = in the ledger on disk before the next write
            acked.append(entry)
    return acked


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname <> ALL(%s) ORDER BY 1, 2",
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    return [t if s == "public" else f"{s}.{t}" for s, t in rows]


def validate_restored(
    restored: psycopg.Connection, live: psycopg.Connection, run_id: str, acked: list[dict[str, Any]], cutoff: float
) -> tuple[dict[str, Any], str]:
    """The checks of a restored PostgreSQL against the live one and the write ledger (the lab's scratch
    instance and an AWS scratch RDS instance alike): every live table present, row counts, every ledger row
    acknowledged at or before `cutoff` (the backup's stop / snapshot / restore time, epoch) present.
    Returns (checks, summary); HarnessError naming each finding when a check fails."""
    tables = _tables(restored)
    counts = {
        t: restored.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*t.split(".")))).fetchone()[0]
        for t in tables
    }
    present: set[int] = set()
    if acked and LEDGER_TABLE in tables:
        present = {
            r[0]
            for r in restored.execute(
                sql.SQL("SELECT seq FROM {} WHERE run_id = %s").format(sql.Identifier(LEDGER_TABLE)), (run_id,)
            ).fetchall()
        }
    live_tables = _tables(live)
    missing_tables = [t for t in live_tables if t not in tables]
    due = [a["seq"] for a in acked if a["ack_ts"] <= cutoff]
    lost = sorted(set(due) - present)
    checks = {
        "schema": {"live_tables": len(live_tables), "restored_tables": len(tables), "missing": missing_tables},
        "row_counts": counts,
        "ledger": {
            "run_id": run_id,
            "acknowledged": len(acked),
            "acknowledged_before_backup_stop": len(due),
            "present": len(present),
            "lost": lost,
            "checked": bool(acked),
        },
    }
    problems = []
    if missing_tables:
        problems.append(f"tables of the live database missing from the restore: {', '.join(missing_tables)}")
    if lost:
        problems.append(
            f"{len(lost)} of {len(due)} writes acknowledged before the backup's stop time are missing (seq {lost[:10]})"
        )
    if problems:
        raise ValidationFailed("; ".join(problems), checks)
    summary = f"{len(tables)} tables (every live one), {sum(counts.values())} rows; " + (
        f"all {len(due)} writes acknowledged before the backup stop present" if acked else "no ledger"
    )
    return checks, summary


def verify_postgres(
    lab: Any,
    *,
    reports: str | Path | None = None,
    writes: int = DEFAULT_WRITES,
    out_dir: Path | None = None,
    on_step: Callable[[str], None] = lambda _s: None,
    rto_s: float | None = None,
    record: bool = True,
) -> VerifyResult:
    """The PostgreSQL restore test on the lab (see the module's docstring); always writes a chained record."""
    ctx = lab.ctx

    def body(t: _Test) -> None:
        run, result, facts, ledger, run_id, target_rto = t.run, t.result, t.facts, t.ledger, t.run_id, t.target_rto
        run.step("verify the repository (pgbackrest verify)", lambda: lab_backup.verify(ctx))

        def write_and_back_up() -> str:
            facts["acked"] = write_ledger(lab.pg_dsn("primary"), run_id, writes, ledger)
            job = lab_backup.pg_backup(ctx, "incr", node=lab_postgres.primary_node(ctx))
            if not job["ok"]:
                raise HarnessError(f"incremental backup failed: {job.get('error')}")
            return f"{len(facts['acked'])} writes acknowledged (ledger {ledger.name}); incremental backup taken"

        if writes > 0:
            run.step("write a ledger and back it up", write_and_back_up)

        def newest() -> str:
            sets = sorted(lab_backup.info(ctx).get("backup") or [], key=lambda b: b["timestamp"]["stop"])
            if not sets:
                raise HarnessError("the pgBackRest repository holds no backup (`pgbackrest info`)")
            b = sets[-1]
            result.backup_label, result.backup_stop = b["label"], float(b["timestamp"]["stop"])
            result.backup_size = b["info"]["repository"]["delta"]
            return f"newest backup {b['label']} ({b['type']}, {result.backup_size} bytes stored)"

        run.step("find the newest backup (pgbackrest info)", newest)
        root = ensure_dir(_scratch_root(lab), 0o700, ctx.postgres_owner)
        data = root / "data"
        t_restore = time.monotonic()

        def restore() -> str:
            lab_backup.restore(ctx, data, set_label=result.backup_label, immediate=True)
            inst = scratch.start(lab, SCRATCH, data, PORT_RANGE, cluster_name=SCRATCH, made_by="`drill backup verify`")
            host, port, facts["instance"] = inst["host"], inst["port"], inst["record"]
            facts["dsn"] = dict(host=str(root), port=port, user=PG_SUPERUSER, dbname=PG_DATABASE, connect_timeout=3)
            return f"pgbackrest restore --type=immediate --set={result.backup_label}; scratch instance on {host}:{port}"

        run.step("restore the newest backup into a scratch instance", restore)

        def usable() -> str:
            def promoted() -> bool:
                if not is_running(facts["instance"]):
                    raise HarnessError("the scratch instance exited: " + scratch.log_tail(lab, SCRATCH, 5))
                with psycopg.connect(**facts["dsn"], autocommit=True) as conn:
                    return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

            _poll("the scratch instance to accept SQL as a primary", promoted, max(60.0, target_rto or 0))
            result.restore_s = round(time.monotonic() - t_restore, 3)
            return f"usable {result.restore_s:.1f} s after the restore started"

        run.step("wait until the scratch instance is usable", usable)

        def validate() -> str:
            with (
                psycopg.connect(**facts["dsn"], autocommit=True) as restored,
                psycopg.connect(lab.pg_dsn("primary", user=PG_SUPERUSER), autocommit=True, connect_timeout=3) as live,
            ):
                try:
                    result.checks, summary = validate_restored(
                        restored, live, run_id, facts.get("acked", []), result.backup_stop or 0
                    )
                except ValidationFailed as failed:
                    result.checks = failed.checks
                    raise
            return summary

        run.step("validate the restore (schema, row counts, ledger)", validate)

    return _restore_test(lab, "postgres", body, reports, writes, out_dir, on_step, rto_s, record)


# -- Redis ---------------------------------------------------------------------------------------------------
def verify_redis(
    lab: Any,
    *,
    reports: str | Path | None = None,
    writes: int = DEFAULT_WRITES,
    out_dir: Path | None = None,
    on_step: Callable[[str], None] = lambda _s: None,
    rto_s: float | None = None,
    record: bool = True,
) -> VerifyResult:
    """The Redis restore test on the lab: markers, a snapshot, redis-check-rdb, a scratch redis-server."""
    import redis

    ctx = lab.ctx

    def body(t: _Test) -> None:
        run, result, facts, ledger, run_id = t.run, t.result, t.facts, t.ledger, t.run_id
        markers = {f"drill:backup-verify:{run_id}:{i}": f"{i}" for i in range(1, writes + 1)}

        def mark_and_snapshot() -> str:
            from harness.lab import redis_cache

            addr = next((a for a in redis_cache.sentinel_masters(ctx).values() if a), None)
            if addr is None:
                raise HarnessError("no Sentinel names a Redis primary")
            live = redis_cache.client(*addr, timeout=3)
            with ledger.open("a") as f:
                for key, value in markers.items():
                    live.set(key, value)
                    f.write(json.dumps({"kind": "ack", "key": key, "ack_ts": time.time()}) + "\n")
            job = lab_backup.redis_snapshot(ctx)
            if not job["ok"]:
                raise HarnessError(f"RDB snapshot failed: {job.get('error')}")
            return f"{len(markers)} marker keys written on {addr[0]}:{addr[1]}; snapshot {job['file']}"

        if writes > 0:
            run.step("write marker keys and snapshot", mark_and_snapshot)

        def check_rdb() -> str:
            snaps = lab_backup.redis_snapshots(ctx)
            if not snaps:
                raise HarnessError(f"no RDB snapshot in {lab_backup.redis_dir(ctx)}")
            facts["rdb"] = snaps[-1]
            result.backup_label, result.backup_size = snaps[-1].name, snaps[-1].stat().st_size
            result.backup_stop = snaps[-1].stat().st_mtime
            out_ = subprocess.run(["redis-check-rdb", str(snaps[-1])], capture_output=True, text=True, timeout=60)
            text = " | ".join(x.strip() for x in (out_.stdout + out_.stderr).splitlines() if x.strip())[-400:]
            if out_.returncode != 0:
                raise HarnessError(f"redis-check-rdb failed (rc {out_.returncode}): {text}")
            return f"redis-check-rdb: {text[-160:]}"

        run.step("check the newest snapshot (redis-check-rdb)", check_rdb)
        root = ensure_dir(_scratch_root(lab), 0o700)
        t_restore = time.monotonic()

        def restore() -> str:
            shutil.copy2(facts["rdb"], root / "dump.rdb")
            host = ctx.host("edge")
            port = scratch.free_port(host, PORT_RANGE, "scratch instance")
            conf = root / "redis.conf"
            conf.write_text(
                f'bind {host}\nport {port}\nprotected-mode no\ndir {root}\ndbfilename dump.rdb\nsave ""\n'
                "appendonly no\ndaemonize no\n"
                'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"\n'
            )
            proc = spawn(["redis-server", str(conf)], lab.paths.log(SCRATCH))
            facts["instance"] = proc.to_dict()
            (root / "instance.json").write_text(json.dumps(facts["instance"]))
            facts["addr"] = (host, port)
            return f"snapshot {facts['rdb'].name} loaded by a scratch redis-server on {host}:{port}"

        run.step("restore the newest snapshot into a scratch instance", restore)

        def usable() -> str:
            from harness.lab import redis_cache

            def loaded() -> bool:
                if not is_running(facts["instance"]):
                    raise HarnessError("the scratch redis-server exited: " + scratch.log_tail(lab, SCRATCH, 5))
                try:
                    c = redis_cache.client(*facts["addr"], timeout=1)
                    return c.ping() and int(c.info("persistence").get("loading", 1)) == 0
                except redis.RedisError:
                    return False

            _poll("the scratch redis-server to load the snapshot", loaded, 60.0)
            result.restore_s = round(time.monotonic() - t_restore, 3)
            return f"usable {result.restore_s:.2f} s after the restore started"

        run.step("wait until the scratch instance is usable", usable)

        def validate() -> str:
            from harness.lab import redis_cache

            c = redis_cache.client(*facts["addr"], timeout=3)
            keys = int(c.dbsize())
            got = c.mget(list(markers)) if markers else []
            lost = [k for k, v in zip(markers, got) if v is None or v.decode() != markers[k]]
            result.checks = {"key_count": keys, "markers": {"written": len(markers), "lost": lost[:10]}}
            if lost:
                raise HarnessError(f"{len(lost)} of {len(markers)} marker keys written before the snapshot missing")
            if writes > 0 and keys < len(markers):
                raise HarnessError(f"the restore holds {keys} keys, fewer than the {len(markers)} markers")
            return f"{keys} keys; all {len(markers)} marker keys present with their values"

        run.step("validate the restore (key count, marker keys)", validate)

    return _restore_test(lab, "redis", body, reports, writes, out_dir, on_step, rto_s, record)


# -- the record ----------------------------------------------------------------------------------------------
def finish_record(
    rec: RecordBuilder, result: VerifyResult, out: Path, record: bool, policy: str | None = None
) -> VerifyResult:
    """Judge the restore time against the RTO and write the chained record; `policy`: the POLICIES entry
    whose objective applies (default the result's store: an AWS RDS restore test is judged as `postgres`)."""
    pol = POLICIES[policy or result.store]
    if result.ok and not result.scratch_removed:
        result.ok, result.failure = False, "the scratch instance could not be removed"
    checked = judgement.verdict(Targets(rto_s=result.rto_s), result.restore_s, None) if result.ok else None
    result.verdict = judgement.name(result.ok, checked) if result.rto_s is not None else judgement.name(result.ok, None)
    if result.ok and checked is not None and not checked.passed:
        result.ok = False
    for s in result.steps:
        rec.event("recovery-step", {k: v for k, v in s.items() if k != "ok"} | {"ok": s["ok"]})
    if result.failure:
        rec.event("aborted", {"by": "harness", "reason": result.failure[:500]})
    (out / "result.json").write_text(json.dumps(result.as_dict(), indent=2, default=str))
    rec.scenario(
        name=f"automated restore test: {result.store}",
        feature="backup verify",
        tags=["component", "weekly", "backup"],
        objective_key=f"{pol.component}/{pol.restore_scenario}",
        objective_source=result.rto_source,
        measurement={
            "rto_s": result.restore_s,
            "recovered": result.ok or (result.failure is None),
            "verdict": checked.model_dump() if checked is not None else None,
        },
        status="passed" if result.ok else "failed",
        verdict_name=result.verdict,
        extra={
            "backup": {"store": result.store, "label": result.backup_label, "size": result.backup_size},
            "checks": result.checks,
            "failure": result.failure,
            "scratch_removed": result.scratch_removed,
            **{
                k: getattr(result, k)
                for k in ("scratch", "source", "available_s", "validated_s")
                if getattr(result, k) is not None
            },
        },
    )
    rec.event("drill-finished", {"scenarios": 1})
    if record:
        rec.evidence(out)
        result.record = str(rec.finish())
    return result
