"""`drill backup status --target <aws file>`: the ElastiCache, DocumentDB and AWS Backup rows (plan 4.1).

moto answers what it has: ElastiCache replication groups (SnapshotRetentionLimit), AWS Backup plans
(ListBackupPlans, GetBackupPlan), STS. What it lacks is answered on the very client the harness uses, with
responses checked against the operation's output shape (as the AWS API reference documents it; what botocore's
Stubber checks):
- elasticache DescribeSnapshots: moto's snapshots carry no NodeSnapshots / SnapshotCreateTime (one operation
  answered by a before-call hook, the rest of the client is moto's);
- backup ListRecoveryPointsByResource: not in moto (one operation, hook);
- docdb DescribeDBClusters, DescribeDBClusterSnapshots: moto refuses the engine `docdb` (the whole client on
  botocore's Stubber, as tests/cloud/test_aws_docdb.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from aws_world import MOTO_ACCOUNT, REGION, CallLog
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from typer.testing import CliRunner

from harness.commands import backup as backup_commands
from harness.errors import ConfigError
from harness.faults import aws as aws_api

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"aws_region": REGION}
GROUP, DOCDB, PLAN = "freight-staging-cache", "freight-staging-docdb", "freight-staging-daily"
EFS = f"arn:aws:elasticfilesystem:{REGION}:{MOTO_ACCOUNT}:file-system/fs-0123456789abcdef0"


def answer(client, operation: str, *responses: dict) -> list[dict]:
    """Answer `operation` of `client` with `responses` in turn (each checked against the output shape);
    returns the requests it answered (as serialized for the wire)."""
    model = client.meta.service_model.operation_model(operation)
    for r in responses:
        validate_parameters(r, model.output_shape)
    queue, seen = list(responses), []

    def hook(params, **_):
        seen.append(params)
        return AWSResponse("https://stub.invalid", 200, {}, None), queue.pop(0)

    client.meta.events.register(f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}", hook)
    return seen


def _target(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    cfg = data["configuration"]
    cfg.update(
        aws_region=REGION,
        rds_cluster_id="",
        s3_backup_buckets=[],
        backup_elasticache_groups=[GROUP],
        backup_docdb_clusters=[DOCDB],
        backup_plans=[PLAN],
        backup_protected_resources={"efs": EFS},
    )
    path = tmp_path / "aws-backups.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _moto_world(s, retention_days: int = 7, keep_days: int = 35) -> None:
    s.client("elasticache").create_replication_group(
        ReplicationGroupId=GROUP,
        ReplicationGroupDescription="cache",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
        SnapshotRetentionLimit=retention_days,
    )
    s.client("backup").create_backup_plan(
        BackupPlan={
            "BackupPlanName": PLAN,
            "Rules": [
                {
                    "RuleName": "daily",
                    "TargetBackupVaultName": "Default",
                    "ScheduleExpression": "cron(0 3 * * ? *)",
                    "Lifecycle": {"DeleteAfterDays": keep_days},
                }
            ],
        }
    )


def _answers(now: datetime, point_status: str = "COMPLETED", docdb_retention: int = 30):
    """The calls moto lacks, answered on the harness's own clients (shared: aws_api.shared_client)."""
    cache = aws_api.shared_client("elasticache", CONFIG)
    snaps = answer(
        cache,
        "DescribeSnapshots",
        {
            "Snapshots": [
                {
                    "SnapshotName": f"{GROUP}-{day}",
                    "ReplicationGroupId": GROUP,
                    "SnapshotStatus": "available",
                    "SnapshotSource": "automated",
                    "NodeSnapshots": [
                        {"CacheClusterId": f"{GROUP}-001", "SnapshotCreateTime": now - timedelta(hours=3 + 24 * day)}
                    ],
                }
                for day in range(3)
            ]
        },
    )
    backup = aws_api.shared_client("backup", CONFIG)
    points = answer(
        backup,
        "ListRecoveryPointsByResource",
        {
            "RecoveryPoints": [
                {
                    "RecoveryPointArn": f"arn:aws:backup:{REGION}:{MOTO_ACCOUNT}:recovery-point:{name}",
                    "CreationDate": now - timedelta(hours=hours),
                    "Status": status,
                    "BackupVaultName": "Default",
                }
                for name, hours, status in (("rp-old", 26, "COMPLETED"), ("rp-new", 2, point_status))
            ]
        },
    )
    docdb = Stubber(aws_api.shared_client("docdb", CONFIG))
    docdb.add_response(
        "describe_db_clusters",
        {
            "DBClusters": [
                {
                    "DBClusterIdentifier": DOCDB,
                    "Engine": "docdb",
                    "BackupRetentionPeriod": docdb_retention,
                    "LatestRestorableTime": now - timedelta(seconds=100),
                }
            ]
        },
        {"DBClusterIdentifier": DOCDB},
    )
    docdb.add_response(
        "describe_db_cluster_snapshots",
        {
            "DBClusterSnapshots": [
                {
                    "DBClusterSnapshotIdentifier": f"rds:{DOCDB}-2026-12-01",
                    "DBClusterIdentifier": DOCDB,
                    "SnapshotCreateTime": now - timedelta(hours=5),
                    "Status": "available",
                    "SnapshotType": "automated",
                }
            ]
        },
        {"DBClusterIdentifier": DOCDB},
    )
    docdb.activate()
    return snaps, points, docdb


def _status(*args):
    return CliRunner().invoke(backup_commands.app, ["status", *[str(a) for a in args]])


def test_cache_docdb_and_aws_backup_rows_within_policy(aws, tmp_path):
    calls = CallLog()  # first: it makes the default session the harness's shared clients belong to
    _moto_world(aws)
    now = datetime.now(UTC)
    snaps, points, docdb = _answers(now)
    res = _status("--target", _target(tmp_path), "--json")
    docdb.assert_no_pending_responses()
    assert res.exit_code == 0, res.output
    rows = {r["store"]: r for r in json.loads(res.stdout)["stores"]}
    assert list(rows) == [
        f"elasticache:{GROUP}",
        f"docdb:{DOCDB}",
        f"docdb-snapshot:{DOCDB}",
        f"backup-plan:{PLAN}",
        "backup:efs",
    ]
    cache = rows[f"elasticache:{GROUP}"]
    assert (cache["kept"], cache["retention"], cache["newest_label"]) == ("7 days, 3 snapshots", "7 days", f"{GROUP}-0")
    assert 3 * 3600 - 5 < cache["age_s"] < 3 * 3600 + 60 and cache["age_limit_s"] == 129600
    point = rows[f"docdb:{DOCDB}"]
    assert point["kept"] == "30 days" and 95 < point["age_s"] < 160 and point["age_limit_s"] == 300.0
    assert rows[f"docdb-snapshot:{DOCDB}"]["newest_type"] == "automated"
    assert rows[f"backup-plan:{PLAN}"]["kept"] == "1 rule(s), 35 days"
    efs = rows["backup:efs"]
    assert (efs["newest_label"], efs["kept"]) == ("rp-new", "2 of 2 recovery points completed")
    assert len(snaps) == len(points) == 1  # answered by the stand-ins, with the harness's parameters:
    stubbed = [
        (n, p) for n, p in calls.calls if n in ("elasticache:DescribeSnapshots", "backup:ListRecoveryPointsByResource")
    ]
    assert stubbed == [
        ("elasticache:DescribeSnapshots", {"ReplicationGroupId": GROUP}),
        ("backup:ListRecoveryPointsByResource", {"ResourceArn": EFS}),
    ]
    assert calls.changing() == []  # Describe/Get/List only


def test_breaches_are_findings_exit_1(aws, tmp_path):
    _moto_world(aws, retention_days=1, keep_days=14)
    now = datetime.now(UTC)
    _, _, docdb = _answers(now, point_status="FAILED", docdb_retention=7)
    res = _status("--target", _target(tmp_path), "--at", "+86400", "--json")
    docdb.assert_no_pending_responses()
    assert res.exit_code == 1, res.output
    rows = {r["store"]: r["findings"] for r in json.loads(res.stdout)["stores"]}
    assert rows[f"elasticache:{GROUP}"] == [
        "SnapshotRetentionLimit is 1 days, shorter than plan 4.1's 7 days"
    ]  # 27 h old: within a day + 50%
    assert rows[f"docdb:{DOCDB}"][0] == "BackupRetentionPeriod is 7 days, shorter than plan 4.1's 30 days"
    assert "older than the limit of 300 s" in rows[f"docdb:{DOCDB}"][1]
    assert rows[f"backup-plan:{PLAN}"] == [
        f"AWS Backup plan {PLAN} keeps recovery points 14 days, shorter than plan 4.1's 30 days"
    ]
    efs = rows["backup:efs"]
    assert efs[0] == "the newest recovery point of efs is FAILED"
    assert "the newest completed recovery point of efs is" in efs[1] and "older than the limit of 129600 s" in efs[1]


def test_a_bad_list_is_one_error_naming_the_setting(aws, tmp_path):
    path = _target(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["configuration"]["backup_plans"] = "freight-staging-daily"
    path.write_text(yaml.safe_dump(data))
    res = _status("--target", path)
    assert isinstance(res.exception, ConfigError) and res.exception.where == "configuration backup_plans"
