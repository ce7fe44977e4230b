"""Backup numbers on a fresh lab: the full backup at start (time, stored size), an incremental, `pgbackrest
verify`, the PostgreSQL and Redis restore tests (`drill backup verify`), then archiving after repeated
db-primary-crash failovers (each a new timeline; the regression the old hand-made archive_command had).

Run (the lab lock held, no lab running): .venv/bin/python bench/backup_restore.py [--repeat 3] [--crashes 3]
Prints a markdown table (paste into BENCHMARKS.md) and stops the lab it started.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import psycopg

from harness.backup import verify_postgres, verify_redis
from harness.faults import runner
from harness.lab import Lab, backup, postgres
from harness.lab.topology import PG_SUPERUSER


def _row(name: str, values: list[float], unit: str = "s") -> str:
    return (
        f"| {name} | {statistics.median(values):.2f} {unit} | {min(values):.2f} | {max(values):.2f} | {len(values)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--crashes", type=int, default=3)
    a = ap.parse_args()
    lab = Lab.up(replication="sync")
    try:
        t0 = time.monotonic()
        lab.wait_backup(300)
        full_wait = time.monotonic() - t0
        full = max(backup.info(lab.ctx)["backup"], key=lambda b: b["timestamp"]["stop"])
        rows = {"full backup (pgBackRest's own start→stop)": [full["timestamp"]["stop"] - full["timestamp"]["start"]]}
        sizes = {"full: database size": full["info"]["size"], "full: stored (lz4)": full["info"]["repository"]["delta"]}
        for _ in range(a.repeat):
            t = time.monotonic()
            job = backup.pg_backup(lab.ctx, "incr", node=postgres.primary_node(lab.ctx))
            assert job["ok"], job
            rows.setdefault("incremental backup", []).append(time.monotonic() - t)
            t = time.monotonic()
            backup.verify(lab.ctx)
            rows.setdefault("pgbackrest verify (whole repository)", []).append(time.monotonic() - t)
        with tempfile.TemporaryDirectory() as reports:
            for _ in range(a.repeat):
                r = verify_postgres(lab, reports=reports)
                assert r.ok, r.failure
                rows.setdefault("postgres restore test: restore → usable", []).append(r.restore_s)
                rows.setdefault("postgres restore test: whole run", []).append(sum(s["duration_s"] for s in r.steps))
                q = verify_redis(lab, reports=reports)
                assert q.ok, q.failure
                rows.setdefault("redis restore test: restore → usable", []).append(q.restore_s)
        newest = max(backup.info(lab.ctx)["backup"], key=lambda b: b["timestamp"]["stop"])
        sizes["newest incremental: stored"] = newest["info"]["repository"]["delta"]
        dsn = lab.pg_dsn("primary", user=PG_SUPERUSER)
        for _ in range(a.crashes):
            fid = runner.inject("db-primary-crash", {}, lab)
            deadline = time.monotonic() + 120
            while lab.postgres_primary() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            runner.undo(fid)
            lab.wait_healthy(180)
        with psycopg.connect(dsn, autocommit=True) as conn:
            segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
            conn.execute("SELECT pg_switch_wal()")
        t = time.monotonic()
        backup.wait_archived(lab.ctx, dsn, segment, 120)
        rows["archived after the crashes (switch → in the repository)"] = [time.monotonic() - t]
        print(
            f"waited for the start's full backup: {full_wait:.1f} s; timeline after {a.crashes} crashes: "
            f"{int(segment[:8], 16)} (segment {segment})"
        )
        print("| step | median | min | max | runs |\n|---|---|---|---|---|")
        for name, values in rows.items():
            print(_row(name, values))
        for name, size in sizes.items():
            print(f"| {name} | {size / 2**20:.1f} MiB | | | 1 |")
    finally:
        runner.recover()
        lab.down()


if __name__ == "__main__":
    main()
