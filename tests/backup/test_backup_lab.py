"""Backup validation on the session's shared sync lab (netns when root): pgBackRest and the RDB snapshots as
`drill lab up` leaves them, the restore tests, a corrupted backup, and archiving across timeline changes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from faultlab_helpers import drill, lab_session
from typer.testing import CliRunner

from harness.backup import lab_status, verify_postgres
from harness.backup.verify import SCRATCH
from harness.cli import app
from harness.evidence.integrity import verify as verify_records
from harness.evidence.record import load_records
from harness.lab import backup
from harness.lab.topology import PG_SUPERUSER

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def _primary_rows(lab) -> dict[str, int]:
    with psycopg.connect(lab.pg_dsn("primary", user=PG_SUPERUSER), autocommit=True, connect_timeout=3) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        }


def test_status_after_lab_up_is_within_policy_and_a_later_clock_is_a_finding(lab, tmp_path: Path):
    lab.wait_backup(180)
    fine = CliRunner().invoke(app, ["backup", "status", "--json", "--reports", str(tmp_path)])
    assert fine.exit_code == 0, fine.output
    rows = {r["store"]: r for r in json.loads(fine.output)["stores"]}
    pg, rdb = rows["postgres"], rows["redis"]
    assert pg["ok"] and rdb["ok"], (pg["findings"], rdb["findings"])
    assert pg["newest_type"] in ("full", "incr") and pg["kept"] >= 1 and pg["size_bytes"] > 0
    assert pg["age_s"] is not None and pg["age_s"] < pg["age_limit_s"] == 300  # younger than the RPO
    assert rdb["kept"] >= 1 and rdb["size_bytes"] > 0

    # The clock of the check moves, not the data: 400 s later the restorable point is older than the RPO.
    later = lab_status(lab.ctx, now=time.time() + 400, stores=["postgres"])[0]
    assert not later.ok and any("older than the limit of 300 s" in f for f in later.findings), later.findings
    breached = CliRunner().invoke(app, ["backup", "status", "--at", "+400", "--reports", str(tmp_path)])
    assert breached.exit_code == 1 and "finding" in breached.output, breached.output


def test_postgres_restore_test_validates_against_the_ledger_and_records_it(lab, tmp_path: Path):
    before = _primary_rows(lab)
    result = verify_postgres(lab, reports=tmp_path, writes=30)
    assert result.ok and result.verdict == "met", (result.failure, result.steps)
    ledger = result.checks["ledger"]
    assert ledger["acknowledged_before_backup_stop"] == 30 and ledger["present"] == 30 and ledger["lost"] == []
    assert result.checks["schema"]["missing"] == []
    assert result.checks["row_counts"]["loads"] == before.get("loads", 0)
    assert 0 < result.restore_s < result.rto_s == 3600
    assert result.scratch_removed and not lab.paths.component_dir(SCRATCH).exists()
    report = verify_records(tmp_path)
    assert report.ok, report.summary()
    assert Path(result.record).exists()


def test_backup_validation_feature_passes_on_the_lab(lab, tmp_path: Path):
    """features/backup_validation.feature through `drill run` (the shared lab is used, not stopped): both
    restore tests, Redis included (marker keys, redis-check-rdb), pass and land in the run's record."""
    feature = ROOT / "features" / "backup_validation.feature"
    done = drill("run", str(feature), "--yes", "--reports", str(tmp_path), timeout=300, cwd=ROOT, CI="true")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    [record] = load_records(tmp_path)
    assert [s["status"] for s in record["scenarios"]] == ["passed", "passed"]
    assert not lab.paths.component_dir(SCRATCH).exists()
    lab.wait_healthy(30)  # still up for the next tests


def test_a_corrupted_backup_fails_with_pgbackrests_verdict_and_touches_nothing_live(lab, tmp_path: Path):
    newest = max(backup.info(lab.ctx)["backup"], key=lambda b: b["timestamp"]["stop"])
    files = [
        p for p in (backup.repo_dir(lab.ctx) / "backup" / backup.STANZA / newest["label"]).rglob("*") if p.is_file()
    ]
    victim = max((p for p in files if "pg_data" in p.parts), key=lambda p: p.stat().st_size)
    original = victim.read_bytes()
    before = _primary_rows(lab)
    flipped = bytearray(original)
    for i in range(len(flipped) // 2, len(flipped) // 2 + 16):
        flipped[i] ^= 0xFF
    victim.write_bytes(bytes(flipped))
    try:
        run = CliRunner().invoke(app, ["backup", "verify", "--writes", "0", "--reports", str(tmp_path)])
    finally:
        victim.write_bytes(original)  # the shared lab's repository is whole again for the next tests
    assert run.exit_code == 1, run.output
    assert "pgbackrest verify failed" in run.output, run.output
    assert not lab.paths.component_dir(SCRATCH).exists()
    assert _primary_rows(lab) == before  # the live cluster untouched
    assert backup.verify(lab.ctx)  # and the repository verifies again once the file is restored


def _current_segment(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]


def test_archiving_survives_timeline_changes(lab):
    """Switchovers put the cluster on a new timeline each time (as failovers do); the archive keeps up."""
    dsn = lab.pg_dsn("primary", user=PG_SUPERUSER)
    first_timeline = int(_current_segment(dsn)[:8], 16)
    for _ in range(2):
        lab.switchover()
        lab.wait_healthy(60)
    with psycopg.connect(dsn, autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        conn.execute("SELECT pg_switch_wal()")
    assert int(segment[:8], 16) >= first_timeline + 2, (segment, first_timeline)
    backup.wait_archived(lab.ctx, dsn, segment, 30)  # on timeout: names pg_stat_archiver's last_failed_wal
