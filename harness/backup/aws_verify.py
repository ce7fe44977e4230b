"""`drill backup verify --target <aws file>`: the plan's §4.4 automated restore test on RDS, the way plan 4.3.1
restores (a NEW instance, never over the source), validated with the lab's own checks and recorded alike.

1. refusals before anything is created (exit 2): the source instance (configuration `rds_instance_id`) missing,
   outside the target's `safety.limits.resources` or without its `safety.aws.resource_tags`; the scratch
   instance's name taken by an existing instance; nothing to restore (no available snapshot; for `--pitr`,
   automated backups off);
2. `writes` ledger rows committed through the target's writer DSN (configuration `pg_dsn`; each acknowledged
   one fsynced to `ledger.jsonl`, harness.backup.verify.write_ledger), then the restore point is made to hold
   them: a manual snapshot of the source (tagged, deleted again by the undo), or, with `pitr`, the wait until
   LatestRestorableTime has passed the last acknowledgement (`writes=0`: the newest available snapshot as it
   is, automated or manual);
3. the intent log records the undo (delete the scratch instance, SkipFinalSnapshot, only while it carries the
   drill-restored-from tag; and the drill's own snapshot) BEFORE the restore call, so a killed run is undone
   by `drill recover`; then RestoreDBInstanceFromDBSnapshot (or RestoreDBInstanceToPointInTime with
   UseLatestRestorableTime) with the `backup_verify` parameters of the target file (plan 4.3.1: instance
   class, Multi-AZ, subnet group) and tags that mark the instance drill-owned;
4. wait until the scratch instance is `available` (time to available), then validate through SQL where the
   target gives a DSN for it (`rds_endpoints`, as pitr does; else its Endpoint): the same checks as the lab
   (harness.backup.verify.validate_restored: schema, row counts, every ledger row acknowledged before the
   snapshot's / restore's time present): time to validated, judged against the component's RTO;
5. the undo runs whatever happened; one chained drill record (path `backup`) as on the lab.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from harness import safety
from harness.backup import verify as lab_verify
from harness.backup.verify import VerifyResult
from harness.errors import ConfigError, HarnessError
from harness.evidence.record import RecordBuilder
from harness.faults import aws as aws_api
from harness.faults import aws_data, runner
from harness.faults.intent import IntentLog
from harness.faults.plan import FaultPlan
from harness.measure import judgement
from harness.safety import Resource

PLAN_INSTANCE_CLASS = "db.r6g.2xlarge"  # plan 4.3.1: --db-instance-class db.r6g.2xlarge --multi-az
RESTORED_TAG = "drill-restored-from"  # the tag the undo (harness.faults.aws) requires before it deletes
OWNED_TAG = "drill-owned"
STORE = "rds"  # the record's store: kept apart from the lab's `postgres` restore tests in `drill backup status`
FAILED_STATES = ("failed", "incompatible-restore", "incompatible-parameters", "storage-full", "deleting")


@dataclass(frozen=True)
class RestoreSetup:
    """The `backup_verify` block of the target file's configuration, checked."""

    source: str
    scratch: str
    instance_class: str
    multi_az: bool
    subnet_group: str | None
    timeout_s: float
    poll_s: float


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<")


def restore_setup(configuration: dict[str, Any], path: str) -> RestoreSetup:
    """The scratch restore's parameters; a placeholder or a bad value is one ConfigError naming the setting."""
    source = aws_api.conf(configuration, "rds_instance_id")
    if not source or _placeholder(source):
        raise ConfigError(path, "configuration rds_instance_id", f"{source!r}: name the RDS instance to restore")
    block = configuration.get("backup_verify") or {}
    if not isinstance(block, dict):
        raise ConfigError(path, "configuration backup_verify", "must be a mapping")
    known = {"scratch_instance", "instance_class", "multi_az", "subnet_group", "timeout_s", "poll_s"}
    if unknown := sorted(set(block) - known):
        raise ConfigError(path, f"configuration backup_verify.{unknown[0]}", f"unknown setting; known: {sorted(known)}")
    values = {k: aws_api.conf(block, k) for k in known}
    for key, value in values.items():
        if _placeholder(value):
            raise ConfigError(
                path, f"configuration backup_verify.{key}", f"{value!r} is still the example's placeholder"
            )
    scratch = str(values["scratch_instance"] or "{source}-restore-test").replace("{source}", str(source))
    try:
        timeout_s, poll_s = float(values["timeout_s"] or 3600), float(values["poll_s"] or 15)
    except (TypeError, ValueError):
        raise ConfigError(path, "configuration backup_verify.timeout_s/poll_s", "must be numbers of seconds") from None
    if scratch == source:
        raise ConfigError(path, "configuration backup_verify.scratch_instance", "must not be the source instance")
    return RestoreSetup(
        source=str(source),
        scratch=scratch,
        instance_class=str(values["instance_class"] or PLAN_INSTANCE_CLASS),
        multi_az=values["multi_az"] in (True, "true", "yes", "1", None),  # plan 4.3.1: --multi-az
        subnet_group=str(values["subnet_group"]) if values["subnet_group"] else None,
        timeout_s=timeout_s,
        poll_s=poll_s,
    )


def _code(err: Exception) -> str | None:
    return (getattr(err, "response", None) or {}).get("Error", {}).get("Code")


def _instance(rds: Any, ident: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except ClientError as err:
        if _code(err) == "DBInstanceNotFound":
            return None
        raise


def newest_snapshot(rds: Any, source: str) -> dict[str, Any] | None:
    """The newest `available` snapshot of the instance, automated or manual."""
    pages = rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=source)
    done = [s for p in pages for s in p["DBSnapshots"] if s.get("Status") == "available"]
    return max(done, key=lambda s: s["SnapshotCreateTime"], default=None)


def _scratch_tags(source: str, run_id: str, required: dict[str, str]) -> list[dict[str, str]]:
    tags = {**required, RESTORED_TAG: source, OWNED_TAG: f"drill backup verify {run_id}"}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def refusals(
    rds: Any, setup: RestoreSetup, clearance: safety.Clearance, *, pitr: bool, writes: int, region: str
) -> dict[str, Any]:
    """Everything checked before anything is created; HarnessError (exit 2) naming the first problem.
    Returns what was found (the source, the snapshot to restore)."""
    src = _instance(rds, setup.source)
    if src is None:
        raise HarnessError(f"configuration rds_instance_id: no RDS instance {setup.source!r} in {region}")
    resources = [
        Resource(
            kind="rds-restore-source",  # a named kind: checked against limits.resources and the tags
            id=setup.source,
            az=src.get("AvailabilityZone"),
            role="source (read only)",
            tags=aws_api.tag_dict(src.get("TagList")),
            acted=False,
        ),
        Resource(
            kind="rds-instance-new",
            id=setup.scratch,
            role="scratch restore (deleted afterwards)",
            tags={t["Key"]: t["Value"] for t in _scratch_tags(setup.source, "-", clearance.required_tags)},
        ),
    ]
    safety.check_blast("backup verify", resources, clearance.limits, clearance.required_tags)
    if _instance(rds, setup.scratch) is not None:
        raise HarnessError(
            f"RDS instance {setup.scratch} already exists: the scratch restore needs a new name "
            "(a killed run's scratch instance is deleted by `drill recover`); nothing was created"
        )
    found: dict[str, Any] = {"source": src}
    if pitr:
        if not src.get("BackupRetentionPeriod") or not src.get("LatestRestorableTime"):
            raise HarnessError(
                f"RDS instance {setup.source}: automated backups are off (no LatestRestorableTime): "
                "nothing to restore to a point in time; nothing was created"
            )
    elif writes == 0:
        found["snapshot"] = newest_snapshot(rds, setup.source)
        if found["snapshot"] is None:
            raise HarnessError(f"RDS instance {setup.source} has no available snapshot to restore; nothing was created")
    return found


def _poll(what: str, cond: Callable[[], Any], timeout: float, interval: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def verify_rds(
    target: str,
    environment: str,
    configuration: dict[str, Any],
    path: str,
    *,
    reports: str | Path | None = None,
    writes: int = lab_verify.DEFAULT_WRITES,
    pitr: bool = False,
    on_step: Callable[[str], None] = lambda _s: None,
    intent_log: str | None = None,
) -> VerifyResult:
    """The RDS restore test (see the module's docstring). Needs this process's AWS safety clearance (the
    target's preflight). Refusals raise before anything is created; otherwise one chained record is written."""
    clearance = safety.current()
    if clearance is None or clearance.provider != "aws" or clearance.identity is None:
        raise safety.SafetyRefused("no AWS safety preflight ran in this process; nothing was touched")
    region = aws_api.region_of(configuration)
    setup = restore_setup(configuration, path)
    dsn = aws_api.conf(configuration, "pg_dsn")
    dsn = None if not dsn or _placeholder(dsn) else str(dsn)
    if writes > 0 and dsn is None:
        raise ConfigError(
            path, "configuration pg_dsn", "the ledger writes need the writer's DSN (or --writes 0: no ledger)"
        )
    rds = aws_api.client("rds", configuration)
    found = refusals(rds, setup, clearance, pitr=pitr, writes=writes, region=region)

    rto_s, rto_source = lab_verify.restore_rto("postgres")
    result = VerifyResult(store=STORE, ok=False, verdict=judgement.NOT_RECOVERED, rto_s=rto_s, rto_source=rto_source)
    result.scratch = f"rds:{setup.scratch}"
    run_id = f"backup-verify-{uuid.uuid4().hex[:8]}"
    rec = RecordBuilder(reports, target=target, environment=environment, path="backup")
    rec.event(
        "drill-started",
        {"store": STORE, "run_id": run_id, "writes": writes, "rto_s": rto_s, "pitr": pitr, "source": setup.source},
    )
    run = lab_verify.StepRun(result, on_step)
    out = Path(rec.reports_dir) / "backup" / run_id
    out.mkdir(parents=True, exist_ok=True)
    facts: dict[str, Any] = {"acked": []}
    log = IntentLog(intent_log) if intent_log else IntentLog()
    undo_where = {
        "region": region,
        "profile": aws_api.conf(configuration, "aws_profile_name") or None,
        "account": clearance.identity.account,
    }
    tags = _scratch_tags(setup.source, run_id, clearance.required_tags)
    try:
        if writes > 0:

            def write() -> str:
                try:
                    facts["acked"] = lab_verify.write_ledger(dsn, run_id, writes, out / "ledger.jsonl")
                except psycopg.Error as err:  # its text names host, port and user, never the password
                    raise HarnessError(f"the ledger writes through pg_dsn failed: {_first_line(err)}") from None
                return f"{len(facts['acked'])} writes acknowledged through the writer (ledger ledger.jsonl)"

            run.step("write a ledger through the target's writer", write)
        if pitr and facts["acked"]:
            last_ack = facts["acked"][-1]["ack_ts"]

            def restorable() -> str:
                def passed() -> bool:
                    lrt = (_instance(rds, setup.source) or {}).get("LatestRestorableTime")
                    return bool(lrt and lrt.timestamp() >= last_ack)

                _poll("LatestRestorableTime to pass the last write", passed, setup.timeout_s, setup.poll_s)
                return f"LatestRestorableTime is past the last acknowledged write ({_iso(last_ack)})"

            run.step("wait until the writes are restorable (LatestRestorableTime)", restorable)

        def restore() -> str:
            plan = FaultPlan(
                fault="backup-verify",
                summary=f"restore test of RDS instance {setup.source} into scratch instance {setup.scratch}",
                region=region,
                calls=[
                    "rds:RestoreDBInstanceToPointInTime(UseLatestRestorableTime)"
                    if pitr
                    else "rds:RestoreDBInstanceFromDBSnapshot",
                    f"rds:DeleteDBInstance({setup.scratch}, SkipFinalSnapshot) (the undo)",
                ],
                undo_summary=f"delete the scratch instance {setup.scratch} (only while tagged {RESTORED_TAG})",
            )
            common: dict[str, Any] = {"DBInstanceClass": setup.instance_class, "MultiAZ": setup.multi_az, "Tags": tags}
            if setup.subnet_group:
                common["DBSubnetGroupName"] = setup.subnet_group

            def act(journal: Any) -> tuple[Any, dict[str, Any]]:
                if not pitr and "snapshot" not in found:  # the ledger's writes: a snapshot that holds them
                    snap_id = f"{setup.scratch}-{run_id}"
                    journal.record_undo("aws_delete_drill_snapshot", snapshot=snap_id, **undo_where)
                    rds.create_db_snapshot(DBSnapshotIdentifier=snap_id, DBInstanceIdentifier=setup.source, Tags=tags)
                    found["snapshot"] = _poll(
                        f"the drill's snapshot {snap_id} to be available",
                        lambda: next(
                            (
                                s
                                for s in rds.describe_db_snapshots(DBSnapshotIdentifier=snap_id)["DBSnapshots"]
                                if s.get("Status") == "available"
                            ),
                            None,
                        ),
                        setup.timeout_s,
                        setup.poll_s,
                    )
                journal.record_undo("aws_delete_restored_instance", instance=setup.scratch, **undo_where)
                facts["t_restore"] = time.monotonic()
                if pitr:
                    lrt = (_instance(rds, setup.source) or {})["LatestRestorableTime"]
                    facts["cutoff"] = lrt.timestamp()
                    result.source = f"rds-pitr:{setup.source}@{lrt.isoformat(timespec='seconds')}"
                    answer = rds.restore_db_instance_to_point_in_time(
                        SourceDBInstanceIdentifier=setup.source,
                        TargetDBInstanceIdentifier=setup.scratch,
                        UseLatestRestorableTime=True,
                        **common,
                    )
                else:
                    snap = found["snapshot"]
                    facts["cutoff"] = snap["SnapshotCreateTime"].timestamp()
                    result.source = f"rds-snapshot:{snap['DBSnapshotIdentifier']}"
                    result.backup_label, result.backup_size = snap["DBSnapshotIdentifier"], None
                    answer = rds.restore_db_instance_from_db_snapshot(
                        DBInstanceIdentifier=setup.scratch, DBSnapshotIdentifier=snap["DBSnapshotIdentifier"], **common
                    )
                return answer, {"region": region, "scratch": setup.scratch, "source": result.source}

            facts["intent"], _ = runner.inject_plan(plan, {"target": target, "pitr": pitr}, act, log=log)
            result.backup_stop = facts["cutoff"]
            return f"{plan.calls[0]} of {result.source} -> {setup.scratch} ({setup.instance_class}, intent {facts['intent']})"

        run.step("restore into a scratch instance (plan 4.3.1)", restore)

        def available() -> str:
            def status() -> dict[str, Any] | None:
                inst = _instance(rds, setup.scratch) or {}
                if inst.get("DBInstanceStatus") in FAILED_STATES:
                    raise HarnessError(f"scratch instance {setup.scratch} is {inst['DBInstanceStatus']}")
                return inst if inst.get("DBInstanceStatus") == "available" else None

            facts["instance"] = _poll(f"{setup.scratch} to be available", status, setup.timeout_s, setup.poll_s)
            result.available_s = round(time.monotonic() - facts["t_restore"], 3)
            return f"available {result.available_s:.1f} s after the restore call"

        run.step("wait until the scratch instance is available", available)

        if dsn is None:
            result.checks = {"sql": "not validated: the target gives no DSN (configuration pg_dsn)"}
            result.restore_s = result.available_s
        else:

            def validate() -> str:
                scratch_dsn = aws_data.restored_dsn(facts["instance"], configuration)

                def answers() -> bool:
                    try:
                        psycopg.connect(scratch_dsn, connect_timeout=2).close()
                        return True
                    except psycopg.Error:
                        return False

                _poll(f"{setup.scratch} to answer SQL", answers, setup.timeout_s, min(setup.poll_s, 1.0))
                try:
                    with (
                        psycopg.connect(scratch_dsn, autocommit=True, connect_timeout=5) as restored,
                        psycopg.connect(dsn, autocommit=True, connect_timeout=5) as live,
                    ):
                        result.checks, summary = lab_verify.validate_restored(
                            restored, live, run_id, facts["acked"], facts["cutoff"]
                        )
                except lab_verify.ValidationFailed as failed:
                    result.checks = failed.checks
                    raise
                except psycopg.Error as err:
                    raise HarnessError(f"the SQL checks failed: {_first_line(err)}") from None
                result.validated_s = result.restore_s = round(time.monotonic() - facts["t_restore"], 3)
                return f"{summary} ({aws_data.masked(scratch_dsn)}); validated {result.validated_s:.1f} s after the restore call"

            run.step("validate the restore through SQL (schema, row counts, ledger)", validate)
        result.ok = True
    except (HarnessError, ClientError) as err:
        result.failure = str(err)
    finally:
        result.scratch_removed = _remove(rds, setup.scratch, facts.get("intent"), log, result)
    return lab_verify.finish_record(rec, result, out, True, policy="postgres")


def _remove(rds: Any, scratch: str, intent: str | None, log: IntentLog, result: VerifyResult) -> bool:
    """The undo (recorded before the restore call) run now; True when the scratch instance is gone or being
    deleted."""
    t0 = time.monotonic()
    detail = "nothing was created"
    if intent is not None:
        report = runner.undo(intent, log=log)
        detail = report.line()
    inst = _instance(rds, scratch)
    if intent is None:
        gone = True
    else:
        gone = inst is None or inst.get("DBInstanceStatus") == "deleting"
    result.steps.append(
        {
            "step": "delete the scratch instance (the undo)",
            "ok": gone,
            "duration_s": round(time.monotonic() - t0, 3),
            "detail": detail,
        }
    )
    return gone
