"""`drill backup verify --target <aws file>` against the moto server, with a real PostgreSQL behind the scratch
endpoint for the SQL validation (as test_aws_rpo / test_aws_data do: moto's RDS has no database engine).

- `live_pg` stands in for the source instance's database (the target's writer DSN, `pg_dsn`);
- `restored_pg` for the scratch instance's: a stand-in watches moto and, once the scratch instance exists,
  copies the live database (the snapshot holds what was written before it) into a database that appears only
  when it is complete (created under another name, then renamed), so the harness's "answers SQL" wait is real;
  `drop` seqs are left out to make the restore lose acknowledged writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
import yaml
from aws_world import MOTO_ACCOUNT, REGION, STAGING, CallLog
from typer.testing import CliRunner

from harness.commands import backup as backup_commands
from harness.errors import HarnessError
from harness.faults.intent import IntentLog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "measure"))
from measure_helpers import postgres_running, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "freight-staging-db"
SCRATCH = f"{SOURCE}-restore-test"
DB = "freight"


@pytest.fixture(scope="module")
def live_pg():
    yield from postgres_running()


@pytest.fixture(scope="module")
def restored_pg():
    yield from postgres_running()


def _dsn(pg, db: str = DB) -> str:
    return pg.dsn.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def dbs(live_pg, restored_pg):
    """A fresh `freight` database on the live side with one application table; none on the restored side."""
    for pg in (live_pg, restored_pg):
        for db in (DB, f"{DB}_loading"):
            pg.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    live_pg.sql(f"CREATE DATABASE {DB}")
    with psycopg.connect(_dsn(live_pg), autocommit=True) as conn:
        conn.execute("CREATE TABLE loads (id int PRIMARY KEY, weight int)")
        conn.execute("INSERT INTO loads SELECT g, g * 10 FROM generate_series(1, 30) g")
    return live_pg, restored_pg


class ScratchStandIn:
    """RDS's part of the restore on `restored_pg` (see the module docstring)."""

    def __init__(self, session, live_pg, restored_pg, drop: tuple[int, ...] = ()):
        self.rds = session.client("rds", region_name=REGION)
        self.live, self.restored, self.drop = live_pg, restored_pg, drop
        self.error: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        try:
            while not self.stop.wait(0.02):
                if any(i["DBInstanceIdentifier"] == SCRATCH for i in self.rds.describe_db_instances()["DBInstances"]):
                    self._load()
                    return
        except Exception as err:  # noqa: BLE001 - the test asserts there was none
            self.error = repr(err)

    def _load(self) -> None:
        with psycopg.connect(_dsn(self.live), autocommit=True) as src:
            loads = src.execute("SELECT id, weight FROM loads").fetchall()
            has_ledger = src.execute("SELECT to_regclass('drill_ledger')").fetchone()[0] is not None
            ledger = src.execute("SELECT run_id, seq, client_ts FROM drill_ledger").fetchall() if has_ledger else []
        self.restored.sql(f"CREATE DATABASE {DB}_loading")
        with psycopg.connect(_dsn(self.restored, f"{DB}_loading"), autocommit=True) as dst:
            dst.execute("CREATE TABLE loads (id int PRIMARY KEY, weight int)")
            if has_ledger:
                dst.execute("CREATE TABLE drill_ledger (run_id text, seq bigint, client_ts timestamptz)")
            with dst.cursor() as cur:
                cur.executemany("INSERT INTO loads VALUES (%s, %s)", loads)
                cur.executemany(
                    "INSERT INTO drill_ledger VALUES (%s, %s, %s)", [r for r in ledger if r[1] not in self.drop]
                )
        self.restored.sql(f"ALTER DATABASE {DB}_loading RENAME TO {DB}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert self.error is None, self.error


def _source(aws, tags=STAGING, retention: int = 7) -> None:
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=SOURCE,
        Engine="postgres",
        DBInstanceClass="db.t3.medium",
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        BackupRetentionPeriod=retention,
        Tags=tags,
    )


def _target(tmp_path: Path, live_pg, restored_pg) -> Path:
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    cfg = data["configuration"]
    cfg.update(
        aws_region=REGION,
        rds_instance_id=SOURCE,
        pg_dsn=_dsn(live_pg),
        rds_endpoints={SCRATCH: f"127.0.0.1:{restored_pg.port}"},
    )
    cfg["backup_verify"].update(subnet_group="freight-staging-db-subnets", timeout_s=30, poll_s=0.05)
    data["safety"]["aws"].update(account_ids=[MOTO_ACCOUNT], regions=[REGION])
    path = tmp_path / "aws-verify.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _verify(*args) -> object:
    return CliRunner().invoke(backup_commands.app, ["verify", *[str(a) for a in args]])


def _subnet_group(aws) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for n, az in enumerate("ab")
    ]
    aws.client("rds").create_db_subnet_group(
        DBSubnetGroupName="freight-staging-db-subnets", DBSubnetGroupDescription="db", SubnetIds=subnets
    )


def _changing(calls: CallLog) -> list[str]:
    return [n for n in calls.changing() if n.startswith("rds:")]


def test_a_snapshot_restore_is_validated_timed_recorded_and_deleted(aws, dbs, tmp_path):
    live_pg, restored_pg = dbs
    _source(aws)
    _subnet_group(aws)
    target = _target(tmp_path, live_pg, restored_pg)
    stand_in = ScratchStandIn(aws, live_pg, restored_pg)
    calls = CallLog()
    res = _verify("--target", target, "--writes", 20, "--json", "--reports", tmp_path / "reports")
    stand_in.close()
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["ok"] is True and got["verdict"] == "met" and got["store"] == "rds"
    assert got["source"].startswith(f"rds-snapshot:{SCRATCH}-backup-verify-")  # the drill's own snapshot
    ledger = got["checks"]["ledger"]
    assert (ledger["acknowledged"], ledger["acknowledged_before_backup_stop"], ledger["lost"]) == (20, 20, [])
    assert got["checks"]["row_counts"] == {"drill_ledger": 20, "loads": 30}
    assert 0 <= got["available_s"] <= got["validated_s"] == got["restore_s"] < 30
    assert got["scratch_removed"] is True
    # the undo was recorded, then the calls made in this order, the restore with plan 4.3.1's parameters
    assert _changing(calls) == [
        "rds:CreateDBSnapshot",
        "rds:RestoreDBInstanceFromDBSnapshot",
        "rds:DeleteDBInstance",
        "rds:DeleteDBSnapshot",
    ]
    restore = next(p for n, p in calls.calls if n == "rds:RestoreDBInstanceFromDBSnapshot")
    assert (restore["DBInstanceClass"], restore["MultiAZ"], restore["DBSubnetGroupName"]) == (
        "db.r6g.2xlarge",
        True,
        "freight-staging-db-subnets",
    )
    tags = {t["Key"]: t["Value"] for t in restore["Tags"]}
    assert tags["drill-restored-from"] == SOURCE and tags["Environment"] == "staging"
    deleted = next(p for n, p in calls.calls if n == "rds:DeleteDBInstance")
    assert deleted == {"DBInstanceIdentifier": SCRATCH, "SkipFinalSnapshot": True}
    rds = aws.client("rds")
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [SOURCE]
    assert not any(s["DBSnapshotIdentifier"].startswith(SCRATCH) for s in rds.describe_db_snapshots()["DBSnapshots"])
    [intent] = [i for i in IntentLog().intents().values() if i.fault == "backup-verify"]
    assert intent.state == "undone"
    assert [u["kind"] for u in intent.undo] == ["aws_delete_drill_snapshot", "aws_delete_restored_instance"]
    record = json.loads(Path(got["record"]).read_text())
    assert record["path"] == "backup" and record["target"] == str(target)
    [scenario] = record["scenarios"]
    assert scenario["name"] == "automated restore test: rds" and scenario["status"] == "passed"
    assert scenario["scratch"] == f"rds:{SCRATCH}" and scenario["available_s"] == got["available_s"]
    assert (
        CliRunner()
        .invoke(__import__("harness.cli", fromlist=["app"]).app, ["verify", "--reports", str(tmp_path / "reports")])
        .exit_code
        == 0
    )


def test_rows_missing_in_the_restore_fail_with_the_finding_and_the_scratch_is_deleted(aws, dbs, tmp_path):
    live_pg, restored_pg = dbs
    _source(aws)
    _subnet_group(aws)
    stand_in = ScratchStandIn(aws, live_pg, restored_pg, drop=(3, 4))
    res = _verify("--target", _target(tmp_path, live_pg, restored_pg), "--writes", 20, "--json")
    stand_in.close()
    assert res.exit_code == 1, res.output
    got = json.loads(res.stdout)
    assert got["ok"] is False and got["checks"]["ledger"]["lost"] == [3, 4]
    assert "2 of 20 writes acknowledged before the backup's stop time are missing (seq [3, 4])" in got["failure"]
    assert got["scratch_removed"] is True and got["validated_s"] is None
    assert [i["DBInstanceIdentifier"] for i in aws.client("rds").describe_db_instances()["DBInstances"]] == [SOURCE]


def test_pitr_restores_to_the_latest_restorable_time(aws, dbs, tmp_path):
    live_pg, restored_pg = dbs
    _source(aws)
    _subnet_group(aws)
    stand_in = ScratchStandIn(aws, live_pg, restored_pg)
    calls = CallLog()
    res = _verify("--target", _target(tmp_path, live_pg, restored_pg), "--pitr", "--writes", 10, "--json")
    stand_in.close()
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["source"].startswith(f"rds-pitr:{SOURCE}@") and got["checks"]["ledger"]["present"] == 10
    assert _changing(calls) == ["rds:RestoreDBInstanceToPointInTime", "rds:DeleteDBInstance"]
    restore = next(p for n, p in calls.calls if n == "rds:RestoreDBInstanceToPointInTime")
    assert restore["UseLatestRestorableTime"] is True and restore["TargetDBInstanceIdentifier"] == SCRATCH


def test_refusals_exit_2_before_anything_is_created(aws, dbs, tmp_path):
    live_pg, restored_pg = dbs
    _subnet_group(aws)
    target = _target(tmp_path, live_pg, restored_pg)
    rds = aws.client("rds")

    _source(aws, retention=0)  # automated backups off
    for snap in rds.describe_db_snapshots(DBInstanceIdentifier=SOURCE)["DBSnapshots"]:  # moto takes one anyway
        rds.delete_db_snapshot(DBSnapshotIdentifier=snap["DBSnapshotIdentifier"])
    none = _verify("--target", target, "--writes", 0)
    assert none.exception.exit_code == 2 and "has no available snapshot" in str(none.exception)
    no_pitr = _verify("--target", target, "--writes", 0, "--pitr")
    assert no_pitr.exception.exit_code == 2 and "automated backups are off" in str(no_pitr.exception)
    rds.delete_db_instance(DBInstanceIdentifier=SOURCE, SkipFinalSnapshot=True)

    _source(aws, tags=[{"Key": "Environment", "Value": "production"}])
    untagged = _verify("--target", target, "--writes", 0)
    assert isinstance(untagged.exception, HarnessError) and untagged.exception.exit_code == 2  # the CLI exits 2
    assert "without tag Environment=staging" in str(untagged.exception)
    rds.delete_db_instance(DBInstanceIdentifier=SOURCE, SkipFinalSnapshot=True)
    _source(aws)

    outside = yaml.safe_load(target.read_text())
    outside["safety"]["limits"]["resources"] = ["billing-*"]  # the source is not on the allowlist
    other = tmp_path / "outside.yaml"
    other.write_text(yaml.safe_dump(outside))
    named = _verify("--target", other, "--writes", 0)
    assert named.exception.exit_code == 2 and "names resources outside limits.resources" in str(named.exception)
    assert f"rds-restore-source {SOURCE}" in str(named.exception)

    rds.create_db_instance(
        DBInstanceIdentifier=SCRATCH,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        Tags=STAGING,
    )
    calls = CallLog()
    taken = _verify("--target", target, "--writes", 5)
    assert taken.exception.exit_code == 2 and f"RDS instance {SCRATCH} already exists" in str(taken.exception)
    assert calls.changing() == []  # nothing created, no ledger written either
    with psycopg.connect(_dsn(live_pg), autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('drill_ledger')").fetchone()[0] is None
    assert IntentLog().intents() == {}


def test_a_killed_run_is_undone_by_drill_recover(aws, dbs, tmp_path):
    """kill -9 while the harness waits for the scratch instance to answer SQL (no stand-in loads it): the undo
    recorded before the restore call lets `drill recover` delete the scratch instance and the drill's snapshot."""
    live_pg, restored_pg = dbs
    _source(aws)
    _subnet_group(aws)
    drill = str(Path(sys.executable).with_name("drill"))
    reports = tmp_path / "reports"
    args = ["backup", "verify", "--target", _target(tmp_path, live_pg, restored_pg), "--writes", "5"]
    proc = subprocess.Popen([drill, *map(str, args), "--reports", str(reports)], start_new_session=True)
    rds = aws.client("rds")
    try:
        assert wait_until(
            lambda: any(i["DBInstanceIdentifier"] == SCRATCH for i in rds.describe_db_instances()["DBInstances"]), 30
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    from harness.cli import app

    recover = CliRunner().invoke(app, ["recover", "--reports", str(reports)])  # a fresh process's view: the log
    assert recover.exit_code == 0, recover.output
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [SOURCE]
    assert not any(s["DBSnapshotIdentifier"].startswith(SCRATCH) for s in rds.describe_db_snapshots()["DBSnapshots"])


def test_writes_0_restores_the_newest_snapshot_as_it_is_and_no_dsn_means_no_sql(aws, dbs, tmp_path):
    live_pg, restored_pg = dbs
    _source(aws)  # moto takes an automated snapshot at creation
    _subnet_group(aws)
    rds = aws.client("rds")
    rds.create_db_snapshot(DBSnapshotIdentifier="before-release-42", DBInstanceIdentifier=SOURCE)  # newer, manual
    target = _target(tmp_path, live_pg, restored_pg)
    stand_in = ScratchStandIn(aws, live_pg, restored_pg)
    res = _verify("--target", target, "--writes", 0, "--json")
    stand_in.close()
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["source"] == "rds-snapshot:before-release-42" and got["checks"]["ledger"]["checked"] is False
    assert got["checks"]["row_counts"] == {"loads": 30} and got["validated_s"] is not None

    data = yaml.safe_load(target.read_text())
    data["configuration"]["pg_dsn"] = ""  # the target gives no DSN: restored and timed, not validated through SQL
    target.write_text(yaml.safe_dump(data))
    res = _verify("--target", target, "--writes", 0, "--json")
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["checks"] == {"sql": "not validated: the target gives no DSN (configuration pg_dsn)"}
    assert got["validated_s"] is None and got["restore_s"] == got["available_s"] is not None
    assert got["scratch_removed"] is True
    writes = _verify("--target", target, "--json")  # the default 50 writes need the DSN
    assert writes.exception.exit_code == 2 and "configuration pg_dsn" in str(writes.exception)
