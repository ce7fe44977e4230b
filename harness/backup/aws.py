"""`drill backup status --target <aws file>`: the plan's 4.1 backups of an AWS environment, read-only.

What is read (Describe/Get calls only, through the boto3 session the caller hands in):
- the RDS (Aurora) cluster the target file names (`rds_cluster_id`): BackupRetentionPeriod against plan 4.1's
  30 days of automated snapshots (RDS keeps the transaction logs for point-in-time restore as long, so the
  7 days of logs are covered too), and LatestRestorableTime's age against the RPO (objectives.yaml);
- the cluster's snapshots, manual and automated: the newest one and its age against the daily schedule + 50%;
- every S3 bucket the file names (`s3_backup_buckets`): versioning must be Enabled and the lifecycle must have
  an enabled rule (what expires old versions; without one the versions are kept forever, unpriced).

`now` is a parameter, as for the lab: a check can be judged "later" without touching AWS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from harness.backup.policy import POLICIES, SCHEDULE_GRACE
from harness.errors import HarnessError

PLAN_RDS_RETENTION_DAYS = 30  # plan 4.1: RDS PostgreSQL, Automated Snapshots, Daily, 30 days
PLAN_SNAPSHOT_EVERY_S = 86400.0  # plan 4.1: daily
PLAN_ROW_RDS = "RDS PostgreSQL: Automated Snapshots, Daily, 30 days; Transaction Logs, Continuous, 7 days"
PLAN_ROW_S3 = "S3: versioned, old versions expired by a lifecycle rule"


@dataclass
class AwsBackupRow:
    """One line of the table; the keys of `as_dict` are the lab rows' (harness.backup.status.StoreStatus)."""

    store: str  # rds:<cluster>, rds-snapshot:<cluster>, s3:<bucket>
    plan_row: str
    newest_label: str | None
    newest_type: str | None
    newest: str | None  # ISO time
    age_s: float | None
    age_limit_s: float | None
    age_limit_source: str | None
    kept: str  # what AWS has (retention days, snapshot count, versioning)
    retention: str  # what the plan asks
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "size_bytes": None, "size_trend": None, "failures": [], "ok": self.ok}


def _age(row: AwsBackupRow, when: datetime | None, now: float, what: str) -> None:
    if when is None:
        row.findings.append(f"no {what}")
        return
    row.newest = when.isoformat(timespec="seconds")
    row.age_s = round(now - when.timestamp(), 1)
    if row.age_limit_s is not None and row.age_s > row.age_limit_s:
        row.findings.append(
            f"{what} is {row.age_s:.0f} s old, older than the limit of {row.age_limit_s:.0f} s ({row.age_limit_source})"
        )


def _client_error_code(err: Exception) -> str | None:
    return (getattr(err, "response", None) or {}).get("Error", {}).get("Code")


def rds_rows(session: Any, region: str, cluster_id: str, now: float, where: str) -> list[AwsBackupRow]:
    """The cluster's retention and restorable point, then its newest snapshot. `where` names the setting in
    the target file for the error when the cluster does not exist."""
    from botocore.exceptions import ClientError

    rds = session.client("rds", region_name=region)
    try:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    except ClientError as err:
        if _client_error_code(err) == "DBClusterNotFoundFault":
            raise HarnessError(f"{where}: no RDS cluster {cluster_id!r} in {region}") from None
        raise
    rpo, rpo_source = POLICIES["postgres"].age_limit()
    days = int(cluster.get("BackupRetentionPeriod") or 0)
    point = AwsBackupRow(
        store=f"rds:{cluster_id}",
        plan_row=PLAN_ROW_RDS,
        newest_label="latest restorable time",
        newest_type="point-in-time",
        newest=None,
        age_s=None,
        age_limit_s=rpo,
        age_limit_source=rpo_source,
        kept=f"{days} days",
        retention=f"{PLAN_RDS_RETENTION_DAYS} days",
    )
    if days < PLAN_RDS_RETENTION_DAYS:
        point.findings.append(
            f"BackupRetentionPeriod is {days} days, shorter than plan 4.1's {PLAN_RDS_RETENTION_DAYS} days"
            + (" (0: automated backups are off)" if days == 0 else "")
        )
    _age(point, cluster.get("LatestRestorableTime"), now, "the latest restorable time")

    snaps = rds.get_paginator("describe_db_cluster_snapshots").paginate(DBClusterIdentifier=cluster_id)
    done = [
        s for page in snaps for s in page["DBClusterSnapshots"] if s.get("Status") == "available"
    ]  # a snapshot still being taken cannot be restored yet
    done.sort(key=lambda s: s["SnapshotCreateTime"])
    newest = done[-1] if done else None
    snap = AwsBackupRow(
        store=f"rds-snapshot:{cluster_id}",
        plan_row=PLAN_ROW_RDS,
        newest_label=newest["DBClusterSnapshotIdentifier"] if newest else None,
        newest_type=newest.get("SnapshotType") if newest else None,
        newest=None,
        age_s=None,
        age_limit_s=PLAN_SNAPSHOT_EVERY_S * SCHEDULE_GRACE,
        age_limit_source="plan 4.1: daily + 50%",
        kept=f"{len(done)} snapshots",
        retention="one a day",
    )
    _age(snap, newest["SnapshotCreateTime"] if newest else None, now, "the newest available snapshot")
    return [point, snap]


def s3_row(session: Any, region: str, bucket: str) -> AwsBackupRow:
    """Versioning and lifecycle of one bucket."""
    from botocore.exceptions import ClientError

    s3 = session.client("s3", region_name=region)
    row = AwsBackupRow(
        store=f"s3:{bucket}",
        plan_row=PLAN_ROW_S3,
        newest_label=None,
        newest_type=None,
        newest=None,
        age_s=None,
        age_limit_s=None,
        age_limit_source=None,
        kept="?",
        retention="Enabled, >= 1 rule",
    )
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status") or "never enabled"
    except ClientError as err:
        if _client_error_code(err) != "NoSuchBucket":
            raise
        row.kept = "no such bucket"
        row.findings.append(f"bucket {bucket} does not exist")
        return row
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules") or []
    except ClientError as err:
        if _client_error_code(err) != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    enabled = [r for r in rules if r.get("Status") == "Enabled"]
    row.kept = f"versioning {versioning}, {len(enabled)} lifecycle rule(s)"
    if versioning != "Enabled":
        row.findings.append(f"versioning is {versioning}: an overwritten or deleted object cannot be restored")
    if not enabled:
        row.findings.append("no enabled lifecycle rule: old versions are never expired")
    return row


def aws_status(
    session: Any, region: str, cluster_id: str | None, buckets: list[str], now: float, where: str
) -> list[AwsBackupRow]:
    """The rows for the cluster (if named) and each bucket, in that order."""
    rows = rds_rows(session, region, cluster_id, now, where) if cluster_id else []
    return rows + [s3_row(session, region, b) for b in buckets]
