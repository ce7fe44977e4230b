"""`drill backup status --target <aws file>` against the moto server: RDS retention and restorable time, the
newest snapshot, S3 versioning and lifecycle, read-only; breaches exit 1, a bad target file is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from aws_world import REGION, STAGING, CallLog
from typer.testing import CliRunner

from harness.commands import backup as backup_commands
from harness.errors import ConfigError, HarnessError

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "freight-staging"
GOOD, BARE = "freight-staging-documents", "freight-staging-exports"


def _target(tmp_path: Path, cluster: str = CLUSTER, buckets: list[str] | None = None) -> Path:
    """targets/aws-staging.example.yaml with the rehearsal's region, cluster and buckets filled in."""
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    data["configuration"]["aws_region"] = REGION
    data["configuration"]["rds_cluster_id"] = cluster
    data["configuration"]["s3_backup_buckets"] = [GOOD] if buckets is None else buckets
    path = tmp_path / "aws-backups.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _world(s, retention_days: int = 30) -> None:
    rds = s.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier=CLUSTER,
        Engine="aurora-postgresql",
        MasterUsername="drill",
        MasterUserPassword="not-a-secret-1",
        BackupRetentionPeriod=retention_days,
        Tags=STAGING,
    )
    rds.create_db_cluster_snapshot(DBClusterIdentifier=CLUSTER, DBClusterSnapshotIdentifier="before-release-42")
    s3 = s.client("s3")
    for bucket in (GOOD, BARE):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=GOOD, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=GOOD,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                }
            ]
        },
    )


def _status(*args: str):
    return CliRunner().invoke(backup_commands.app, ["status", *[str(a) for a in args]])


def test_a_compliant_environment_passes_and_nothing_is_changed(aws, tmp_path):
    _world(aws)
    target = _target(tmp_path)
    calls = CallLog()
    res = _status("--target", target, "--json")
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    rows = {r["store"]: r for r in got["stores"]}
    assert list(rows) == [f"rds:{CLUSTER}", f"rds-snapshot:{CLUSTER}", f"s3:{GOOD}"] and got["ok"] is True
    point = rows[f"rds:{CLUSTER}"]
    assert (point["kept"], point["retention"], point["age_limit_s"]) == ("30 days", "30 days", 300.0)
    # moto answers LatestRestorableTime with the moment of the request (just after `now` was taken)
    assert -5 < point["age_s"] < 60 and point["newest"] is not None
    snap = rows[f"rds-snapshot:{CLUSTER}"]
    assert (snap["newest_label"], snap["newest_type"]) == ("before-release-42", "manual")
    assert snap["kept"] == "2 snapshots"  # moto's automated one at creation and ours
    assert rows[f"s3:{GOOD}"]["kept"] == "versioning Enabled, 1 lifecycle rule(s)"
    assert calls.names() and calls.changing() == []  # Describe/Get only
    table = _status("--target", target)  # the table too (narrow: cells wrap)
    assert table.exit_code == 0 and "rds:" in table.stdout and "s3:" in table.stdout and "finding" not in table.stdout


def test_breaches_exit_1_with_one_finding_each(aws, tmp_path):
    _world(aws, retention_days=7)
    res = _status("--target", _target(tmp_path, buckets=[GOOD, BARE]), "--at", "+600", "--json")
    assert res.exit_code == 1, res.output
    rows = {r["store"]: r for r in json.loads(res.stdout)["stores"]}
    point = rows[f"rds:{CLUSTER}"]
    assert point["ok"] is False and len(point["findings"]) == 2
    assert "BackupRetentionPeriod is 7 days, shorter than plan 4.1's 30 days" in point["findings"][0]
    assert 590 < point["age_s"] <= 601 and "older than the limit of 300 s" in point["findings"][1]
    assert rows[f"rds-snapshot:{CLUSTER}"]["ok"] is True  # 10 minutes is within a day
    bare = rows[f"s3:{BARE}"]
    assert bare["kept"] == "versioning never enabled, 0 lifecycle rule(s)"
    assert [f.split(":")[0] for f in bare["findings"]] == [
        "versioning is never enabled",
        "no enabled lifecycle rule",
    ]
    assert rows[f"s3:{GOOD}"]["ok"] is True
    # a day and a half later the newest snapshot is overdue as well
    late = json.loads(_status("--target", _target(tmp_path), "--at", f"+{86400 * 1.5 + 60:.0f}", "--json").stdout)
    snap = next(r for r in late["stores"] if r["store"].startswith("rds-snapshot:"))
    assert snap["ok"] is False and "older than the limit of 129600 s" in snap["findings"][0]


def test_a_missing_bucket_is_a_finding_and_bad_settings_are_errors(aws, tmp_path):
    _world(aws)
    res = _status("--target", _target(tmp_path, buckets=["freight-staging-gone"]), "--json")
    assert res.exit_code == 1
    gone = json.loads(res.stdout)["stores"][-1]
    assert (gone["store"], gone["findings"]) == (
        "s3:freight-staging-gone",
        ["bucket freight-staging-gone does not exist"],
    )

    missing = _status("--target", _target(tmp_path, cluster="freight-nope"))
    assert isinstance(missing.exception, HarnessError)
    assert "configuration rds_cluster_id: no RDS cluster 'freight-nope'" in str(missing.exception)
    assert "aws-backups.yaml" in str(missing.exception)

    placeholder = _status("--target", _target(tmp_path, buckets=["<BACKUP_BUCKET>"]))
    assert isinstance(placeholder.exception, ConfigError)
    assert placeholder.exception.where == "configuration s3_backup_buckets"
    assert _status("--target", _target(tmp_path), "--store", "postgres").exit_code != 0
