"""S3 object faults and their restores (plan 4.3.4), on a harness-owned prefix of a bucket the target file names.

    configuration.s3: {bucket, drill_prefix: "drill-harness/", dr_bucket, dr_region}

    prepare   s3_prepare_objects(key, versions): the harness writes its OWN object there first, several
              versions, each with metadata drill-sha256 (the hash of its bytes): what "good" means below
    fault     object-delete     DeleteObject (a delete marker: the bucket is versioned)
              object-overwrite  PutObject of bytes the harness did not seed (no drill-sha256)
    undo      recorded before the change: copy the last good version over as the newest version (nothing is
              deleted, so the history stays whole), unless that content is already current
    restore   s3-version-restore       list the versions, copy the newest good version over as the newest
              s3-cross-region-restore  copy the object back from the DR bucket (its replica) as the newest

Refused before anything is touched (SafetyRefused, exit 2): no bucket named, a key outside drill_prefix,
versioning not Enabled, or (at inject, harness.safety.check_blast) the bucket lacks the allowlisted tags.
Object RPO = the LastModified of the newest version lost (the good version that was current at the fault)
minus the LastModified of the version the bytes were restored from: 0 from versioning, the replication lag
of the DR copy across regions (the DR copy restored is the DR bucket's newest good version).

Two places, one logic: an AWS target's `configuration.s3` (clients from the boto3 credential chain) or the lab's
own S3 endpoint (harness/lab/s3.py: moto's server mode, its buckets and replicator; `lab_setup`). On the lab the
faults are vocabulary faults (`drill fault inject object-delete`, the lab target file's `every_fault`), their
undo recorded first as `lab_s3_restore_version`; on AWS they are harness.chaos.aws's activities. moto stands in
for AWS in the tests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from harness import safety
from harness.errors import HarnessError
from harness.faults import undo as undo_actions
from harness.faults.aws import Configuration, client, conf, region_of, session, tag_dict, undo_config
from harness.faults.base import BlastRadius, Fault, FaultParams, Injection, Journal, register
from harness.faults.plan import FaultPlan
from harness.safety import Resource

SHA_META = "drill-sha256"  # metadata on every object the harness seeds: the hash of its own bytes


@dataclass(frozen=True)
class S3Setup:
    """Where the harness's objects live: the buckets, the drill prefix, and how to get a client for them."""

    bucket: str
    prefix: str
    dr_bucket: str | None
    dr_region: str | None
    clients: Callable[[str | None], Any] = field(repr=False)  # region (None: the primary's) -> S3 client
    region: str = ""
    where: str = "aws"  # "aws" | "lab"

    def s3(self) -> Any:
        return self.clients(None)

    def dr(self) -> Any:
        return self.clients(self.dr_region)


def _value(section: dict[str, Any], key: str) -> Any:
    value = conf(section, key)
    return None if value is None or str(value).startswith("<") else str(value)


def s3_setup(configuration: Configuration) -> S3Setup:
    """configuration.s3, checked: a named bucket and a drill prefix ending in '/' (SafetyRefused otherwise)."""
    section = conf(configuration, "s3") or {}
    if not isinstance(section, dict):
        raise safety.SafetyRefused(
            "configuration.s3 must be a mapping {bucket, drill_prefix, ...}; nothing was touched"
        )
    bucket, prefix = _value(section, "bucket"), _value(section, "drill_prefix")
    if not bucket:
        raise safety.SafetyRefused("configuration.s3.bucket: no bucket named in the target file; nothing was touched")
    if not prefix or not prefix.endswith("/") or prefix == "/":
        raise safety.SafetyRefused(
            f"configuration.s3.drill_prefix {prefix!r}: name the harness-owned prefix, ending in '/' "
            "(e.g. drill-harness/); nothing was touched"
        )
    dr_region = _value(section, "dr_region")

    def clients(region: str | None) -> Any:
        if region is None:
            return client("s3", configuration)
        return session(configuration).client("s3", region_name=region)

    return S3Setup(bucket, prefix, _value(section, "dr_bucket"), dr_region or None, clients, "", "aws")


def lab_setup(lab: Any) -> S3Setup:
    """The lab's S3 endpoint and buckets (harness/lab/s3.py), from the running lab's context."""
    from harness.lab import s3 as lab_s3

    section = lab_s3.configuration(lab.ctx)
    endpoint = section["endpoint_url"]

    def clients(region: str | None) -> Any:
        return lab_s3.client(endpoint, region or lab_s3.PRIMARY_REGION)

    return S3Setup(
        section["bucket"],
        section["drill_prefix"],
        section["dr_bucket"],
        section["dr_region"],
        clients,
        lab_s3.PRIMARY_REGION,
        "lab",
    )


DEFAULT_KEY = "drill-object"  # the object a drill uses when its step names none (`${param:key}` left empty)


def drill_key(setup: S3Setup, key: str | None) -> str:
    """The full key under the drill prefix; SafetyRefused for a key that would leave it."""
    key = key or DEFAULT_KEY
    full = key if key.startswith(setup.prefix) else setup.prefix + key
    if key.startswith("/") or ".." in key.split("/") or full == setup.prefix:
        raise safety.SafetyRefused(
            f"object {key!r} is outside the drill prefix {setup.prefix} of bucket {setup.bucket}; nothing was touched"
        )
    return full


def bucket_checked(s3: Any, bucket: str) -> dict[str, str]:
    """The bucket's tags, after checking versioning is Enabled (read-only)."""
    from botocore.exceptions import ClientError

    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        raise safety.SafetyRefused(
            f"bucket {bucket}: versioning is {status or 'off'}, not Enabled: the object could not be restored; "
            "nothing was touched"
        )
    try:
        return tag_dict(s3.get_bucket_tagging(Bucket=bucket).get("TagSet"))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NoSuchTagSet":
            return {}
        raise


def _versions(s3: Any, bucket: str, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(versions newest first, delete markers) of exactly `key`."""
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    versions = [v for v in listing.get("Versions", []) if v["Key"] == key]
    markers = [m for m in listing.get("DeleteMarkers", []) if m["Key"] == key]
    versions.sort(key=lambda v: v["LastModified"], reverse=True)
    return versions, markers


def _good(s3: Any, bucket: str, key: str, version: dict[str, Any]) -> bool:
    """A version the harness seeded (or a copy of one): its bytes hash to its drill-sha256 metadata."""
    got = s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    sha = got.get("Metadata", {}).get(SHA_META)
    return bool(sha) and hashlib.sha256(got["Body"].read()).hexdigest() == sha


def last_good_version(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    versions, _ = _versions(s3, bucket, key)
    return next((v for v in versions if _good(s3, bucket, key, v)), None)


def _current(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The current version (None when a delete marker is the latest)."""
    versions, markers = _versions(s3, bucket, key)
    if any(m.get("IsLatest") for m in markers):
        return None
    return next((v for v in versions if v.get("IsLatest")), None)


# -- the harness's own objects ---------------------------------------------------------------------------------
def prepare_objects(key: str, versions: int = 3, configuration: Configuration = None) -> dict[str, Any]:
    """Write `versions` versions of the harness's own object under the drill prefix (checked here: bucket named,
    versioned; the tags against the clearance by harness.chaos.aws.s3_prepare_objects, which calls this).
    Returns the key and the version ids."""
    return write_objects(s3_setup(configuration), key, versions)


def write_objects(setup: S3Setup, key: str, versions: int = 3) -> dict[str, Any]:
    """prepare_objects on either place (AWS or the lab)."""
    full = drill_key(setup, key)
    s3 = setup.s3()
    bucket_checked(s3, setup.bucket)
    ids = []
    for n in range(1, max(1, int(versions)) + 1):
        body = f"drill-harness object {full} version {n} {time.time_ns()}\n".encode()
        put = s3.put_object(
            Bucket=setup.bucket, Key=full, Body=body, Metadata={SHA_META: hashlib.sha256(body).hexdigest()}
        )
        ids.append(put.get("VersionId"))
    return {"bucket": setup.bucket, "key": full, "versions": ids}


def wait_replicated(setup: S3Setup, key: str, timeout: float = 30.0, poll: float = 0.1) -> float:
    """Wait until the DR bucket's newest good version holds the primary's current bytes; seconds waited.
    HarnessError when the replica has not arrived by `timeout` (replication is what the drill is about)."""
    if not setup.dr_bucket:
        raise safety.SafetyRefused("configuration.s3.dr_bucket: no DR bucket named; nothing was touched")
    full = drill_key(setup, key)
    s3, dr = setup.s3(), setup.dr()
    current = _current(s3, setup.bucket, full)
    if current is None:
        raise HarnessError(f"s3://{setup.bucket}/{full} has no current version to wait for a replica of")
    started = time.monotonic()
    while True:
        replica = _current(dr, setup.dr_bucket, full)
        if replica is not None and replica.get("ETag") == current.get("ETag"):
            return round(time.monotonic() - started, 3)
        if time.monotonic() - started > timeout:
            raise HarnessError(
                f"s3://{setup.dr_bucket}/{full}: no replica of version {current['VersionId']} after {timeout:.0f}s"
            )
        time.sleep(poll)


# -- the faults' plans (read-only) -----------------------------------------------------------------------------
def _plan(fault: str, key: str, configuration: Configuration) -> tuple[FaultPlan, S3Setup, str]:
    setup = s3_setup(configuration)
    return plan_on(setup, fault, key, region_of(configuration)), setup, drill_key(setup, key)


def plan_on(setup: S3Setup, fault: str, key: str, region: str | None = None) -> FaultPlan:
    """The fault's plan on either place: read-only (versioning, tags, the current version must be the harness's)."""
    full = drill_key(setup, key)
    s3 = setup.s3()
    tags = bucket_checked(s3, setup.bucket)
    current = _current(s3, setup.bucket, full)
    if current is None or not _good(s3, setup.bucket, full, current):
        prepare = (
            "the Given step 'the drill object ... is written to S3'" if setup.where == "lab" else "s3_prepare_objects"
        )
        raise HarnessError(
            f"s3://{setup.bucket}/{full} has no current harness-written version (run {prepare} first); "
            "nothing was touched"
        )
    change = "DeleteObject" if fault == "object-delete" else "PutObject (bytes the harness did not seed)"
    undo_kind = "lab_s3_restore_version" if setup.where == "lab" else "s3-restore-version"
    return FaultPlan(
        fault=fault,
        summary=f"{'delete' if fault == 'object-delete' else 'overwrite'} s3://{setup.bucket}/{full} "
        f"(current version {current['VersionId']}; versioned bucket)",
        region=region or setup.region,
        resources=[
            Resource(kind="s3-bucket", id=setup.bucket, tags=tags, state="versioning Enabled", acted=False),
            Resource(
                kind="s3-object",
                id=f"{setup.bucket}/{full}",
                role="deleted" if fault == "object-delete" else "overwritten",
                tags=tags,
                state=f"version {current['VersionId']}",
            ),
        ],
        calls=[
            f"s3:{change.split(' ')[0]}(Bucket={setup.bucket}, Key={full})",
            f"undo: s3:CopyObject(s3://{setup.bucket}/{full}?versionId={current['VersionId']} -> same key)",
        ],
        changes={"bucket": setup.bucket, "key": full, "version_id": current["VersionId"]},
        undo_summary=f"copy version {current['VersionId']} over as the newest version (unless it is current)",
        undo_record={"kind": undo_kind, "bucket": setup.bucket, "key": full, "version_id": current["VersionId"]},
    )


def plan_s3_object_delete(key: str, configuration: Configuration = None) -> FaultPlan:
    return _plan("object-delete", key, configuration)[0]


def plan_s3_object_overwrite(key: str, configuration: Configuration = None) -> FaultPlan:
    return _plan("object-overwrite", key, configuration)[0]


def _change(setup: S3Setup, plan: FaultPlan) -> Callable[[], Any]:
    """The fault's one changing call, on exactly the object it planned."""
    c = plan.changes
    if plan.fault == "object-delete":
        return lambda: setup.s3().delete_object(Bucket=c["bucket"], Key=c["key"])
    body = f"overwritten by drill fault object-overwrite at {time.time_ns()}\n".encode()
    return lambda: setup.s3().put_object(Bucket=c["bucket"], Key=c["key"], Body=body)


def delete_call(plan: FaultPlan, configuration: Configuration) -> Callable[[], Any]:
    return _change(s3_setup(configuration), plan)


def overwrite_call(plan: FaultPlan, configuration: Configuration) -> Callable[[], Any]:
    return _change(s3_setup(configuration), plan)


# -- restores --------------------------------------------------------------------------------------------------
def copy_version_over(
    bucket: str, key: str, version_id: str, configuration: Configuration = None, source_bucket: str | None = None
) -> dict[str, Any]:
    """Make `version_id` (of `source_bucket`, default the same bucket) the newest version of bucket/key, by copy;
    nothing when the current version already holds those bytes (idempotent)."""
    return _copy_over(client("s3", configuration), bucket, key, version_id, source_bucket)


def _copy_over(s3: Any, bucket: str, key: str, version_id: str, source_bucket: str | None = None) -> dict[str, Any]:
    src = source_bucket or bucket
    wanted = s3.head_object(Bucket=src, Key=key, VersionId=version_id)
    current = _current(s3, bucket, key)
    if current is not None and current.get("ETag") == wanted.get("ETag"):
        return {"copied": False, "version_id": current["VersionId"]}
    out = s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": src, "Key": key, "VersionId": version_id})
    return {"copied": True, "version_id": out.get("VersionId")}


def _timed(steps: list[dict[str, Any]], name: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    out = fn()
    steps.append({"step": name, "seconds": round(time.monotonic() - started, 3)})
    return out


def version_restore(key: str, configuration: Configuration = None) -> dict[str, Any]:
    """Plan 4.3.4: list the versions, copy the newest good (harness-seeded) version over as the newest; timed
    steps; object RPO = LastModified of the newest good version lost minus that of the one restored (0 here:
    versioning keeps the very version the fault hid)."""
    return version_restore_on(s3_setup(configuration), key)


def version_restore_on(setup: S3Setup, key: str) -> dict[str, Any]:
    """version_restore on either place."""
    full = drill_key(setup, key)
    s3 = setup.s3()
    steps: list[dict[str, Any]] = []
    _timed(steps, "check bucket versioning", lambda: bucket_checked(s3, setup.bucket))
    good = _timed(steps, "list versions, find the last good one", lambda: last_good_version(s3, setup.bucket, full))
    if good is None:
        raise HarnessError(f"s3://{setup.bucket}/{full}: no good (harness-seeded) version to restore")
    out = _timed(
        steps,
        "copy it over as the newest version",
        lambda: _copy_over(s3, setup.bucket, full, good["VersionId"]),
    )
    verified = _timed(steps, "verify the bytes", lambda: _verify(s3, setup.bucket, full, good["ETag"]))
    return {
        "procedure": "s3-version-restore",
        "bucket": setup.bucket,
        "key": full,
        "restored_from": good["VersionId"],
        "new_version": out["version_id"],
        "copied": out["copied"],
        "verified": verified,
        "rpo_s": 0.0,
        "steps": steps,
        "seconds": round(sum(s["seconds"] for s in steps), 3),
    }


def cross_region_restore(key: str, configuration: Configuration = None) -> dict[str, Any]:
    """Copy the object back from the DR bucket (configuration.s3.dr_bucket in dr_region) as the newest version;
    timed steps; object RPO = newest good version lost (primary) minus the DR copy's source LastModified."""
    return cross_region_restore_on(s3_setup(configuration), key)


def cross_region_restore_on(setup: S3Setup, key: str) -> dict[str, Any]:
    """cross_region_restore on either place. The DR copy is the DR bucket's newest good version (the bucket is
    versioned: a bad overwrite replicated before the restore does not hide the good copy under it). Its source
    time is the primary version it replicates (metadata drill-source-version, the lab's replicator) when known,
    else its own LastModified."""
    from harness.lab.s3 import SOURCE_META

    if not setup.dr_bucket:
        raise safety.SafetyRefused("configuration.s3.dr_bucket: no DR bucket named; nothing was touched")
    full = drill_key(setup, key)
    s3, dr = setup.s3(), setup.dr()
    steps: list[dict[str, Any]] = []
    _timed(steps, "check bucket versioning", lambda: bucket_checked(s3, setup.bucket))
    lost = _timed(steps, "find the newest version lost", lambda: last_good_version(s3, setup.bucket, full))

    def read_dr_copy() -> dict[str, Any]:
        good = last_good_version(dr, setup.dr_bucket, full)
        if good is None:
            raise HarnessError(f"s3://{setup.dr_bucket}/{full}: no good harness-written copy in the DR bucket")
        return dr.get_object(Bucket=setup.dr_bucket, Key=full, VersionId=good["VersionId"])

    got = _timed(steps, "read the DR copy", read_dr_copy)
    body = got["Body"].read()
    sha = got.get("Metadata", {}).get(SHA_META)
    if not sha or hashlib.sha256(body).hexdigest() != sha:
        raise HarnessError(f"s3://{setup.dr_bucket}/{full}: the DR copy is not a good harness-written version")
    put = _timed(
        steps,
        "write it back as the newest version",
        lambda: s3.put_object(Bucket=setup.bucket, Key=full, Body=body, Metadata={SHA_META: sha}),
    )
    verified = _timed(steps, "verify the bytes", lambda: _verify(s3, setup.bucket, full, put["ETag"]))
    source = got.get("Metadata", {}).get(SOURCE_META)
    copied_at = (
        s3.head_object(Bucket=setup.bucket, Key=full, VersionId=source)["LastModified"]
        if source
        else got["LastModified"]
    )
    rpo = max(0.0, (lost["LastModified"] - copied_at).total_seconds()) if lost else None
    return {
        "procedure": "s3-cross-region-restore",
        "bucket": setup.bucket,
        "key": full,
        "dr_bucket": setup.dr_bucket,
        "restored_from": source or got.get("VersionId"),
        "new_version": put.get("VersionId"),
        "verified": verified,
        "rpo_s": rpo,
        "steps": steps,
        "seconds": round(sum(s["seconds"] for s in steps), 3),
    }


def _verify(s3: Any, bucket: str, key: str, etag: str) -> bool:
    head = s3.head_object(Bucket=bucket, Key=key)
    if head.get("ETag") != etag:
        raise HarnessError(f"s3://{bucket}/{key}: after the restore the current ETag is {head.get('ETag')}, not {etag}")
    return True


@undo_actions.undo_action("aws_s3_restore_version")
def _undo_restore_version(record: dict[str, Any]) -> str:
    out = copy_version_over(record["bucket"], record["key"], record["version_id"], undo_config(record))
    return _undo_line(record, out)


@undo_actions.undo_action("lab_s3_restore_version")
def _undo_lab_restore_version(record: dict[str, Any]) -> str:
    """The lab's object faults: the same copy, at the lab endpoint recorded with the fault. moto keeps its objects
    in memory only: when that endpoint is gone (the lab was stopped), so is the object, and nothing is left."""
    from harness.lab import s3 as lab_s3

    where = f"s3://{record['bucket']}/{record['key']}"
    if not lab_s3.answering(record["endpoint"]):
        return f"{where}: the lab's S3 endpoint {record['endpoint']} is gone (lab stopped): nothing left to restore"
    out = _copy_over(lab_s3.client(record["endpoint"]), record["bucket"], record["key"], record["version_id"])
    return _undo_line(record, out)


def _undo_line(record: dict[str, Any], out: dict[str, Any]) -> str:
    where = f"s3://{record['bucket']}/{record['key']}"
    if not out["copied"]:
        return f"{where}: version {record['version_id']}'s bytes are already current"
    return f"{where}: version {record['version_id']} copied over as {out['version_id']}"


# -- the vocabulary: lab faults here, AWS activities in harness.chaos.aws ---------------------------------------
class _ObjectFault(Fault):
    """On the lab: against the lab's S3 endpoint (harness/lab/s3.py). An AWS target maps the same name to
    harness.chaos.aws's activity (targets/aws-staging.example.yaml)."""

    needs_lab = True

    class Params(FaultParams):
        key: str = Field(
            DEFAULT_KEY, pattern=r"^[A-Za-z0-9!_.*'()/-]{1,512}$", description="under the target's s3.drill_prefix"
        )

    def _setup(self, target: Any) -> S3Setup:
        if target is None or not hasattr(target, "ctx"):
            raise HarnessError(f"{self.name} needs the running lab (start it with `drill lab up`)")
        return lab_setup(target)

    def describe(self, target: Any) -> BlastRadius:
        return plan_on(self._setup(target), self.name, self.params.key).blast()

    def inject(self, target: Any, journal: Journal) -> Injection:
        setup = self._setup(target)
        plan = plan_on(setup, self.name, self.params.key)
        from harness.lab import s3 as lab_s3

        journal.record_undo(**plan.undo_record, endpoint=lab_s3.configuration(target.ctx)["endpoint_url"])
        _change(setup, plan)()
        return Injection(detail={**plan.changes, "dr_bucket": setup.dr_bucket})


@register
class ObjectDelete(_ObjectFault):
    """Delete the harness's own object (a delete marker on the versioned bucket)."""

    name = "object-delete"
    plan_section = "4.3.4 Object Storage Restore"
    summary = "delete a harness-owned S3 object of a versioned bucket (rehearses the version restore)"
    undo_summary = "copy the last good version over as the newest version"


@register
class ObjectOverwrite(_ObjectFault):
    """Overwrite the harness's own object with bytes it did not seed."""

    name = "object-overwrite"
    plan_section = "4.3.4 Object Storage Restore"
    summary = "overwrite a harness-owned S3 object of a versioned bucket with bytes the harness did not seed"
    undo_summary = "copy the last good version over as the newest version"


PLANNERS = {"s3_object_delete": plan_s3_object_delete, "s3_object_overwrite": plan_s3_object_overwrite}
