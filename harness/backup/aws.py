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
from datetime import UTC, datetime
from typing import Any

from harness.backup.policy import POLICIES, SCHEDULE_GRACE
from harness.errors import ConfigError, HarnessError

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


# -- ElastiCache, DocumentDB, AWS Backup (plan 4.1) ------------------------------------------------------------
PLAN_ELASTICACHE_RETENTION_DAYS = 7  # plan 4.1: ElastiCache, Manual Snapshots, Daily, 7 days
PLAN_DOCDB_RETENTION_DAYS = 30  # plan 4.1: DocumentDB, Automated Snapshots, Daily, 30 days (+ logs, 7 days)
PLAN_BACKUP_RETENTION_DAYS = 30  # plan 4.1: EFS, AWS Backup, Daily, 30 days
PLAN_ROW_ELASTICACHE = "ElastiCache: Manual Snapshots, Daily, 7 days"
PLAN_ROW_DOCDB = "DocumentDB: Automated Snapshots, Daily, 30 days; Transaction Logs, Continuous, 7 days"
PLAN_ROW_BACKUP = "EFS: AWS Backup, Daily, 30 days"
DAILY = (PLAN_SNAPSHOT_EVERY_S * SCHEDULE_GRACE, "plan 4.1: daily + 50%")


def _row(store: str, plan_row: str, limit: tuple[float | None, str | None], retention: str) -> AwsBackupRow:
    return AwsBackupRow(
        store=store,
        plan_row=plan_row,
        newest_label=None,
        newest_type=None,
        newest=None,
        age_s=None,
        age_limit_s=limit[0],
        age_limit_source=limit[1],
        kept="?",
        retention=retention,
    )


def elasticache_row(client: Any, group_id: str, now: float, where: str) -> AwsBackupRow:
    """A replication group's SnapshotRetentionLimit (days) against plan 4.1's 7, and its newest snapshot's
    age (the first node snapshot's SnapshotCreateTime) against the daily schedule. A cache snapshot is
    judged against its schedule, not the RPO, as on the lab: a daily snapshot can never meet a seconds RPO."""
    from botocore.exceptions import ClientError

    try:
        group = client.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]
    except ClientError as err:
        if _client_error_code(err) == "ReplicationGroupNotFoundFault":
            raise HarnessError(f"{where}: no ElastiCache replication group {group_id!r}") from None
        raise
    row = _row(f"elasticache:{group_id}", PLAN_ROW_ELASTICACHE, DAILY, f"{PLAN_ELASTICACHE_RETENTION_DAYS} days")
    days = int(group.get("SnapshotRetentionLimit") or 0)
    row.kept = f"{days} days"
    if days < PLAN_ELASTICACHE_RETENTION_DAYS:
        row.findings.append(
            f"SnapshotRetentionLimit is {days} days, shorter than plan 4.1's {PLAN_ELASTICACHE_RETENTION_DAYS} days"
            + (" (0: automatic snapshots are off)" if days == 0 else "")
        )
    snaps = [
        s
        for page in client.get_paginator("describe_snapshots").paginate(ReplicationGroupId=group_id)
        for s in page["Snapshots"]
        if s.get("SnapshotStatus") == "available" and s.get("NodeSnapshots")
    ]
    taken = [(min(n["SnapshotCreateTime"] for n in s["NodeSnapshots"]), s) for s in snaps]
    newest = max(taken, key=lambda t: t[0], default=None)
    if newest:
        row.newest_label, row.newest_type = newest[1]["SnapshotName"], newest[1].get("SnapshotSource")
        row.kept += f", {len(snaps)} snapshots"
    _age(row, newest[0] if newest else None, now, "the newest available cache snapshot")
    return row


def docdb_rows(client: Any, cluster_id: str, now: float, where: str) -> list[AwsBackupRow]:
    """A DocumentDB cluster's BackupRetentionPeriod against plan 4.1's 30 days and LatestRestorableTime against
    the RPO (objectives.yaml documentdb), then its newest available cluster snapshot against the daily schedule."""
    from botocore.exceptions import ClientError

    try:
        cluster = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    except ClientError as err:
        if _client_error_code(err) == "DBClusterNotFoundFault":
            raise HarnessError(f"{where}: no DocumentDB cluster {cluster_id!r}") from None
        raise
    rpo = _catalog_rpo("documentdb")
    point = _row(f"docdb:{cluster_id}", PLAN_ROW_DOCDB, rpo, f"{PLAN_DOCDB_RETENTION_DAYS} days")
    point.newest_label, point.newest_type = "latest restorable time", "point-in-time"
    days = int(cluster.get("BackupRetentionPeriod") or 0)
    point.kept = f"{days} days"
    if days < PLAN_DOCDB_RETENTION_DAYS:
        point.findings.append(
            f"BackupRetentionPeriod is {days} days, shorter than plan 4.1's {PLAN_DOCDB_RETENTION_DAYS} days"
        )
    _age(point, cluster.get("LatestRestorableTime"), now, "the latest restorable time")
    done = [
        s
        for page in client.get_paginator("describe_db_cluster_snapshots").paginate(DBClusterIdentifier=cluster_id)
        for s in page["DBClusterSnapshots"]
        if s.get("Status") == "available"
    ]
    newest = max(done, key=lambda s: s["SnapshotCreateTime"], default=None)
    snap = _row(f"docdb-snapshot:{cluster_id}", PLAN_ROW_DOCDB, DAILY, "one a day")
    snap.kept = f"{len(done)} snapshots"
    if newest:
        snap.newest_label, snap.newest_type = newest["DBClusterSnapshotIdentifier"], newest.get("SnapshotType")
    _age(snap, newest["SnapshotCreateTime"] if newest else None, now, "the newest available cluster snapshot")
    return [point, snap]


def _catalog_rpo(component: str) -> tuple[float | None, str | None]:
    from harness import objectives

    obj = objectives.load().lookup(component)
    return obj.rpo.judged_s, f"RPO {obj.rpo.text} ({obj.source}, {obj.component})"


def backup_plan_row(client: Any, name: str) -> AwsBackupRow:
    """An AWS Backup plan named in the file: it exists, and its longest rule keeps recovery points at least
    plan 4.1's 30 days (DeleteAfterDays; a rule without one keeps them forever)."""
    row = _row(f"backup-plan:{name}", PLAN_ROW_BACKUP, (None, None), f">= {PLAN_BACKUP_RETENTION_DAYS} days")
    plans = [p for page in client.get_paginator("list_backup_plans").paginate() for p in page["BackupPlansList"]]
    found = next((p for p in plans if p.get("BackupPlanName") == name), None)
    if found is None:
        row.kept = "no such plan"
        row.findings.append(f"no AWS Backup plan named {name}")
        return row
    rules = client.get_backup_plan(BackupPlanId=found["BackupPlanId"])["BackupPlan"].get("Rules") or []
    keeps = [(r.get("Lifecycle") or {}).get("DeleteAfterDays") for r in rules]
    longest = None if any(k is None for k in keeps) else max(keeps, default=0)
    row.kept = f"{len(rules)} rule(s), " + ("kept forever" if longest is None else f"{longest} days")
    if not rules:
        row.findings.append(f"AWS Backup plan {name} has no rule: nothing is backed up")
    elif longest is not None and longest < PLAN_BACKUP_RETENTION_DAYS:
        row.findings.append(
            f"AWS Backup plan {name} keeps recovery points {longest} days, shorter than plan 4.1's "
            f"{PLAN_BACKUP_RETENTION_DAYS} days"
        )
    return row


def recovery_point_row(client: Any, name: str, arn: str, now: float) -> AwsBackupRow:
    """The newest recovery point of a protected resource: its status (the newest must be COMPLETED) and its
    age against the daily schedule. ListRecoveryPointsByResource gives no lifecycle: how long points are kept
    is the plan's rule (`backup_plan_row`)."""
    row = _row(f"backup:{name}", PLAN_ROW_BACKUP, DAILY, "the plan's rule")
    points = [
        p
        for page in client.get_paginator("list_recovery_points_by_resource").paginate(ResourceArn=arn)
        for p in page["RecoveryPoints"]
    ]
    points.sort(key=lambda p: p["CreationDate"])
    completed = [p for p in points if p.get("Status") == "COMPLETED"]
    row.kept = f"{len(completed)} of {len(points)} recovery points completed"
    if points and points[-1].get("Status") != "COMPLETED":
        row.findings.append(
            f"the newest recovery point of {name} is {points[-1].get('Status')}"
            + (f": {points[-1]['StatusMessage']}" if points[-1].get("StatusMessage") else "")
        )
    newest = completed[-1] if completed else None
    if newest:
        row.newest_label = newest["RecoveryPointArn"].rsplit(":", 1)[-1]
        row.newest_type = "AWS Backup"
    _age(row, newest["CreationDate"] if newest else None, now, f"the newest completed recovery point of {name}")
    return row


def more_rows(
    client: Any,
    now: float,
    path: str,
    elasticache: list[str],
    docdb: list[str],
    plans: list[str],
    protected: dict[str, str],
) -> list[AwsBackupRow]:
    """The rows beyond RDS and S3, in this order: ElastiCache groups, DocumentDB clusters, AWS Backup plans,
    protected resources. `client(service)` gives the boto3 client (one per service, shared: a rehearsal can
    answer the calls moto lacks on it)."""
    rows = [
        elasticache_row(client("elasticache"), g, now, f"{path}: configuration backup_elasticache_groups")
        for g in elasticache
    ]
    for c in docdb:
        rows += docdb_rows(client("docdb"), c, now, f"{path}: configuration backup_docdb_clusters")
    rows += [backup_plan_row(client("backup"), p) for p in plans]
    rows += [recovery_point_row(client("backup"), n, arn, now) for n, arn in protected.items()]
    return rows


# -- the status of an AWS target file (drill backup status --target <aws file>) -------------------------------
def status_rows(cfg: dict[str, Any], path: Any, moment: float | None) -> list[dict[str, Any]]:
    """`drill backup status` on an AWS target: the rows for the cluster, buckets, ElastiCache groups, DocumentDB
    clusters, backup plans and protected resources its configuration (`cfg`, from the file at `path`) names;
    ConfigError naming the field for a placeholder or a malformed list. Read-only."""
    from harness.faults import aws as aws_api

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
    rows = aws_status(
        aws_api.session(cfg),
        aws_api.region_of(cfg),
        cluster and str(cluster),
        buckets,
        now,
        f"{path}: configuration rds_cluster_id",
    )
    rows += more_rows(lambda service: aws_api.shared_client(service, cfg), now, str(path), *more.values(), protected)
    return [r.as_dict() for r in rows]


MORE_STORES = ("backup_elasticache_groups", "backup_docdb_clusters", "backup_plans")


def _names(path: object, cfg: dict[str, Any], key: str) -> list[str]:
    names = _setting(path, cfg, key) or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n and not n.startswith("<") for n in names):
        raise ConfigError(str(path), f"configuration {key}", f"must be a list of names, got {names!r}")
    return names


def _setting(file: object, configuration: dict[str, Any], key: str) -> object:
    """A configuration value of the target file; a placeholder left in (`<...>`) is an error naming it."""
    value = configuration.get(key)
    if isinstance(value, str) and value.startswith("<"):
        raise ConfigError(str(file), f"configuration {key}", f"{value!r} is still the example's placeholder")
    return value
