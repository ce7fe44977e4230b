"""`drill backup status` on the lab: per store of the plan's 4.1 table, the newest backup and its age against
the limit that applies (a continuous store's restorable point against the RPO, a snapshot store's newest
snapshot against its schedule), retention kept vs the policy, size and its trend, failed jobs since a time.

The sources are the tools' own: `pgbackrest info` (backup sets, their sizes and times, the archive's range),
pg_stat_archiver on the primary (the newest archived segment's time), the RDB files in the backup folder and
the schedule's job log. `now` is a parameter: a check may be run "later" without touching the data.

The lab's S3 endpoint (harness/lab/s3.py) adds one row per bucket (`lab_s3_rows`), in the shape of the AWS
target's S3 rows: versioning (a finding unless Enabled), the lifecycle rule's days against the plan's 90 (a
finding when there is none or it keeps less), the primary's replication rule to the DR bucket, and the age of
the newest version under the drill prefix (shown, not judged: versioning is continuous).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from harness.backup.policy import POLICIES, SCHEDULE_GRACE, StorePolicy
from harness.errors import HarnessError
from harness.lab import backup as lab_backup
from harness.lab import s3 as lab_s3
from harness.lab.context import LabContext
from harness.lab.topology import PG_SUPERUSER, SPECS

ARCHIVING_NODES = ("pg-a", "pg-b", "pg-c")  # the primary cluster's (pg-dr archives into the DR stanza)


@dataclass
class StoreStatus:
    store: str
    plan_row: str
    lab_policy: str
    newest: str | None  # ISO time the newest backup ended (snapshot: taken)
    newest_label: str | None
    newest_type: str | None
    restorable_until: str | None  # continuous stores: the newest point a restore can reach
    age_s: float | None  # of the restorable point (continuous) or of the newest backup
    age_limit_s: float
    age_limit_source: str
    kept: int
    retention: int
    size_bytes: int | None  # stored size of the newest backup
    sizes: list[int] = field(default_factory=list)  # stored sizes of the kept backups, oldest first
    failures: list[dict[str, Any]] = field(default_factory=list)  # failed jobs since `since`
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds") if t is not None else None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _failures(ctx: LabContext, store: str, since: float | None) -> list[dict[str, Any]]:
    return [
        j
        for j in lab_backup.read_jobs(ctx)
        if j.get("store") == store and not j.get("ok") and (since is None or _epoch(j["started"]) >= since)
    ]


def _age_finding(st: StoreStatus, what: str) -> None:
    if st.age_s is None:
        st.findings.append(f"no {what}")
    elif st.age_s > st.age_limit_s:
        st.findings.append(
            f"{what} is {st.age_s:.0f} s old, older than the limit of {st.age_limit_s:.0f} s ({st.age_limit_source})"
        )


def _retention_finding(st: StoreStatus, unit: str) -> None:
    if st.kept > st.retention:
        st.findings.append(f"{st.kept} {unit} kept, more than the policy's {st.retention}: expiry is not running")


def _archived_until(ctx: LabContext) -> float | None:
    """When a node last archived a file into the repository: the newest `last_archived_time` of
    pg_stat_archiver over the running nodes (over their Unix sockets). archive-push reports success only once
    the file is stored, so the archive reaches at least that point. None if no node has archived yet."""
    newest = None
    for node in ARCHIVING_NODES:
        dsn = (
            f"host={ctx.paths.component_dir(node)} port={SPECS[node].ports['pg']} user={PG_SUPERUSER} "
            "dbname=postgres connect_timeout=2"
        )
        try:
            st = lab_backup.archiver_state(dsn)
        except psycopg.Error:  # a stopped or starting node: ask the next
            continue
        if st["last_archived_time"] is not None:
            t = st["last_archived_time"].timestamp()
            newest = t if newest is None else max(newest, t)
    return newest


def postgres_status(ctx: LabContext, now: float, since: float | None, policy: StorePolicy) -> StoreStatus:
    info = lab_backup.info(ctx)
    sets = sorted(info.get("backup") or [], key=lambda b: b["timestamp"]["stop"])
    newest = sets[-1] if sets else None
    newest_stop = float(newest["timestamp"]["stop"]) if newest else None
    archived = _archived_until(ctx)
    restorable = max((t for t in (newest_stop, archived) if t is not None), default=None)
    limit, source = policy.age_limit()
    st = StoreStatus(
        store="postgres",
        plan_row=policy.plan_row,
        lab_policy=policy.lab_policy,
        newest=_iso(newest_stop),
        newest_label=newest["label"] if newest else None,
        newest_type=newest["type"] if newest else None,
        restorable_until=_iso(restorable),
        age_s=round(now - restorable, 1) if restorable is not None else None,
        age_limit_s=limit,
        age_limit_source=source,
        kept=sum(1 for b in sets if b["type"] == "full"),
        retention=policy.retention,
        size_bytes=newest["info"]["repository"]["delta"] if newest else None,
        sizes=[b["info"]["repository"]["delta"] for b in sets],
        failures=_failures(ctx, "postgres", since),
    )
    code = (info.get("status") or {}).get("code", 0)
    if code != 0:
        st.findings.append(f"pgbackrest info: {(info.get('status') or {}).get('message')} (code {code})")
    _age_finding(st, "the newest restorable point (backup or archived WAL)")
    if newest_stop is not None and now - newest_stop > policy.frequency_s * SCHEDULE_GRACE:
        st.findings.append(
            f"newest backup set {st.newest_label} is {now - newest_stop:.0f} s old, older than its schedule "
            f"({policy.frequency_s:.0f} s + 50%): a scheduled backup was missed"
        )
    if any(b.get("error") for b in sets):
        st.findings.append(
            "pgBackRest marks a kept backup as having page checksum errors: "
            + ", ".join(b["label"] for b in sets if b.get("error"))
        )
    _retention_finding(st, "full backup sets")
    if st.failures:
        st.findings.append(f"{len(st.failures)} failed backup job(s): {st.failures[-1].get('error', '?')[:200]}")
    return st


def redis_status(ctx: LabContext, now: float, since: float | None, policy: StorePolicy) -> StoreStatus:
    snaps = lab_backup.redis_snapshots(ctx)
    newest = snaps[-1] if snaps else None
    taken = newest.stat().st_mtime if newest else None
    limit, source = policy.age_limit()
    st = StoreStatus(
        store="redis",
        plan_row=policy.plan_row,
        lab_policy=policy.lab_policy,
        newest=_iso(taken),
        newest_label=newest.name if newest else None,
        newest_type="rdb" if newest else None,
        restorable_until=None,
        age_s=round(now - taken, 1) if taken is not None else None,
        age_limit_s=limit,
        age_limit_source=source,
        kept=len(snaps),
        retention=policy.retention,
        size_bytes=newest.stat().st_size if newest else None,
        sizes=[p.stat().st_size for p in snaps],
        failures=_failures(ctx, "redis", since),
    )
    _age_finding(st, "the newest RDB snapshot")
    _retention_finding(st, "snapshots")
    if st.failures:
        st.findings.append(f"{len(st.failures)} failed snapshot job(s): {st.failures[-1].get('error', '?')[:200]}")
    return st


STORES = {"postgres": postgres_status, "redis": redis_status}


def lab_status(
    ctx: LabContext, *, now: float | None = None, since: float | None = None, stores: list[str] | None = None
) -> list[StoreStatus]:
    """One StoreStatus per store (all by default). `now`: the moment ages are judged at (default: now)."""
    wanted = stores or list(STORES)
    unknown = [s for s in wanted if s not in STORES]
    if unknown:
        raise HarnessError(f"unknown store {', '.join(unknown)}; the lab's stores: {', '.join(STORES)}")
    moment = time.time() if now is None else now
    return [STORES[s](ctx, moment, since, POLICIES[s]) for s in wanted]


def backup_records(records: list[dict[str, Any]], store: str) -> list[dict[str, Any]]:
    """The restore tests of `store` among drill records (path `backup`), oldest first."""
    out = []
    for rec in records:
        if rec.get("path") != "backup":
            continue
        for sc in rec.get("scenarios") or []:
            if (sc.get("backup") or {}).get("store") == store:
                out.append(
                    {
                        "record": rec["id"],
                        "started": rec["started"],
                        "label": sc["backup"].get("label"),
                        "size": sc["backup"].get("size"),
                        "status": sc.get("status"),
                        "restore_s": (sc.get("measured") or {}).get("rto_s"),
                    }
                )
    return out


def with_history(st: StoreStatus, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The status as JSON plus the trend across the records: sizes backed up by past restore tests, the last
    restore test (when, how long, its status)."""
    sizes = [h["size"] for h in history if h.get("size") is not None]
    trend = None
    if sizes and st.size_bytes is not None:
        trend = {"previous": sizes[-1], "now": st.size_bytes, "change": st.size_bytes - sizes[-1]}
    return {**st.as_dict(), "record_sizes": sizes, "size_trend": trend, "last_restore_test": (history or [None])[-1]}


# -- the lab's S3 buckets ----------------------------------------------------------------------------------------
PLAN_ROW_S3 = "S3 Data: Versioning, Continuous, 90 days; Cross-Region Replication, Continuous, Same as source"


def lifecycle_days(rules: list[dict[str, Any]]) -> int | None:
    """The days the enabled lifecycle rules keep old versions for: the shortest NoncurrentVersionExpiration (or
    Expiration) among them; None when no enabled rule expires anything."""
    days = []
    for rule in rules or []:
        if rule.get("Status") != "Enabled":
            continue
        for section, field_name in (("NoncurrentVersionExpiration", "NoncurrentDays"), ("Expiration", "Days")):
            value = (rule.get(section) or {}).get(field_name)
            if isinstance(value, int):
                days.append(value)
    return min(days) if days else None


def _s3_base(bucket: str) -> dict[str, Any]:
    """A bucket's row before anything is read (the table's keys, as the AWS target's S3 rows have them)."""
    return {
        "store": f"s3:{bucket}",
        "plan_row": PLAN_ROW_S3,
        "lab_policy": f"moto S3 on the lab, versioned, lifecycle {lab_s3.LIFECYCLE_DAYS} days (unscaled)",
        "newest": None,
        "newest_label": None,
        "newest_type": None,
        "age_s": None,
        "age_limit_s": None,
        "age_limit_source": "not judged: versioning keeps every write",
        "versioning": None,
        "lifecycle_days": None,
        "kept": "?",
        "retention": f"versioning Enabled, {lab_s3.LIFECYCLE_DAYS} days",
        "size_bytes": None,
        "size_trend": None,
        "failures": [],
        "findings": [],
        "ok": False,
    }


def _s3_row(s3: Any, bucket: str, now: float, primary: bool) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    row = _s3_base(bucket)
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status") or "never enabled"
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules") or []
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        listing = s3.list_object_versions(Bucket=bucket, Prefix=lab_s3.DRILL_PREFIX)
    except ClientError as err:
        row["findings"].append(f"bucket {bucket}: {err.response.get('Error', {}).get('Code', 'error')}")
        return row
    days = lifecycle_days(rules)
    row.update(versioning=versioning, lifecycle_days=days)
    row["kept"] = f"versioning {versioning}, lifecycle " + (f"{days} days" if days is not None else "none")
    if versioning != "Enabled":
        row["findings"].append(f"versioning is {versioning}: an overwritten or deleted object cannot be restored")
    if days is None:
        row["findings"].append("no enabled lifecycle rule expiring old versions")
    elif days < lab_s3.LIFECYCLE_DAYS:
        row["findings"].append(
            f"lifecycle keeps old versions {days} days, less than the policy's {lab_s3.LIFECYCLE_DAYS}"
        )
    versions = listing.get("Versions", [])
    if versions:
        newest = max(versions, key=lambda v: v["LastModified"])
        row.update(
            newest=newest["LastModified"].isoformat(timespec="seconds"),
            newest_label=f"{newest['Key']}@{newest['VersionId'][:8]}",
            newest_type="version",
            age_s=round(now - newest["LastModified"].timestamp(), 1),
        )
    if primary:
        try:
            rules = s3.get_bucket_replication(Bucket=bucket)["ReplicationConfiguration"].get("Rules", [])
        except ClientError:
            rules = []
        to_dr = [r for r in rules if r.get("Status") == "Enabled" and lab_s3.DR_BUCKET in r["Destination"]["Bucket"]]
        if not to_dr:
            row["findings"].append(f"no enabled replication rule to {lab_s3.DR_BUCKET}")
    row["ok"] = not row["findings"]
    return row


def lab_s3_rows(ctx: LabContext, *, now: float | None = None) -> list[dict[str, Any]]:
    """One row per lab bucket (primary, DR), read-only; the endpoint not answering is a finding on both."""
    moment = time.time() if now is None else now
    endpoint = lab_s3.endpoint_url(ctx)
    if not lab_s3.answering(endpoint):
        rows = [_s3_base(b) for b in (lab_s3.BUCKET, lab_s3.DR_BUCKET)]
        for row in rows:
            row["findings"].append(f"the lab's S3 endpoint {endpoint} does not answer")
        return rows
    return [
        _s3_row(lab_s3.client(endpoint, lab_s3.PRIMARY_REGION), lab_s3.BUCKET, moment, True),
        _s3_row(lab_s3.client(endpoint, lab_s3.DR_REGION), lab_s3.DR_BUCKET, moment, False),
    ]


def lab_rows(ctx: LabContext, now: float | None, stores: list[str], reports: Any) -> list[dict[str, Any]]:
    """`drill backup status` on the lab: a row per store named (postgres, redis, s3; none: all), each with its
    history from the drill records under `reports` (failures counted since the last restore test)."""
    from harness.evidence.record import load_records, parse_utc

    records = load_records(reports)
    rows = []
    for name in [s for s in stores if s != "s3"] or ([] if stores else list(POLICIES)):
        history = backup_records(records, name)
        since = parse_utc(history[-1]["started"]).timestamp() if history else None  # failures since the last test
        [st] = lab_status(ctx, now=now, since=since, stores=[name])
        rows.append(with_history(st, history))
    if not stores or "s3" in stores:  # the lab's S3 buckets (harness/lab/s3.py)
        rows += lab_s3_rows(ctx, now=now)
    return rows
