"""The lab's S3 endpoint: moto's server mode (PyPI `moto[server]`), the one S3 implementation these machines can
run (no S3-compatible server is packaged for them), at the edge on loopback. A stand-in, said so in docs/lab.md.

    component       what                                                    port
    s3              `python -m moto.server` (in-memory; buckets below)      http 19500
    s3-replicator   harness/lab/s3_replicator.py: the lab's stand-in for     (none)
                    S3 cross-region replication (moto stores a replication
                    configuration but never replicates)

`drill lab up` starts both (niced) once PostgreSQL has bootstrapped, and the replicator's first act is to create the
two buckets (so the harness process never loads boto3 during the start); the lab is healthy once they exist:

    bucket                  lab region      versioning  lifecycle (plan 4.1: S3 versioning, 90 days)   tags
    freight-lab-drill       eu-west-1       Enabled     noncurrent versions expire after 90 days        Environment=lab
    freight-lab-drill-dr    eu-central-1    Enabled     the same                                        Environment=lab

The primary bucket carries a replication configuration (rule `drill-prefix-to-dr`: the harness-owned prefix to
the DR bucket, delete markers not replicated, as S3 CRR does by default); the replicator is what acts on it.
The lifecycle rule is the plan's 90 days as written, not scaled: S3 lifecycle rules count whole days and moto
never runs them, and a lab lives for minutes, so nothing would expire either way; `drill backup status` checks
the rule's days against the policy. moto keeps everything in memory: a restarted `s3` component is empty.
The region names only tell the buckets apart (moto serves every region from one process): a lab region outage
does not take the DR bucket away.
"""

from __future__ import annotations

import time
from typing import Any

from harness.errors import HarnessError
from harness.lab.context import LabContext, Launch
from harness.lab.topology import ComponentSpec

KIND = "s3"
REPLICATOR_KIND = "s3-replicator"
SERVER = "s3"
REPLICATOR = "s3-replicator"
PRIMARY_REGION = "eu-west-1"
DR_REGION = "eu-central-1"
BUCKET = "freight-lab-drill"
DR_BUCKET = "freight-lab-drill-dr"
DRILL_PREFIX = "drill-harness/"
TAGS = {"Environment": "lab", "Owner": "drill-harness"}
LIFECYCLE_DAYS = 90  # plan 4.1: "S3 Data | Versioning | Continuous | 90 days"
LIFECYCLE_RULE_ID = "plan-4.1-noncurrent-90-days"
REPLICATION_RULE_ID = "drill-prefix-to-dr"
SOURCE_META = "drill-source-version"  # on every replica the replicator writes: the primary version it copies
# The replicator copies a new version once it has seen it for REPLICATION_LAG_S, checking every
# REPLICATION_POLL_S: a replica lands LAG to LAG + POLL (+ one copy) after the write. 5 s, longer than a drill's
# 2 s healthy baseline, so a fault right after a write still finds the DR bucket one version behind.
REPLICATION_LAG_S = 5.0
REPLICATION_POLL_S = 0.25
# moto accepts any credentials; these fixed ones keep the lab's clients off the caller's AWS credentials.
_LAB_KEY = "drill-lab"
# Both processes run niced: they start while PostgreSQL bootstraps on a 2-core box and must not slow it down.
NICENESS = 10


def endpoint_url(ctx: LabContext) -> str:
    host, port = ctx.addr(SERVER, "http")
    return f"http://{host}:{port}"


def client(endpoint: str, region: str = PRIMARY_REGION) -> Any:
    """A boto3 S3 client for the lab's endpoint in one lab region (never the caller's AWS account)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=_LAB_KEY, aws_secret_access_key=_LAB_KEY, region_name=region, profile_name=None
    )
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
    return session.client("s3", endpoint_url=endpoint, config=config)


def launch(ctx: LabContext, spec: ComponentSpec) -> Launch:
    nice = ["nice", "-n", str(NICENESS)]
    if spec.kind == KIND:
        host, port = ctx.addr(spec.name, "http")
        return Launch(argv=[*nice, ctx.python, "-m", "moto.server", "-H", host, "-p", str(port)])
    return Launch(
        argv=[
            *nice,
            ctx.python,
            "-m",
            "harness.lab.s3_replicator",
            str(ctx.paths.root),
            endpoint_url(ctx),
            repr(REPLICATION_LAG_S),
            repr(REPLICATION_POLL_S),
        ]
    )


def answering(endpoint: str, timeout: float = 1.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{endpoint}/moto-api/", timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def create_buckets(endpoint: str, timeout: float = 30.0) -> dict[str, Any]:
    """Wait for the server, then the two versioned, tagged buckets with their lifecycle rule and the primary's
    replication configuration (the replicator calls it first). Idempotent (a bucket that exists is configured
    again)."""
    deadline = time.monotonic() + timeout
    while not answering(endpoint):
        if time.monotonic() > deadline:
            raise HarnessError(f"the lab's S3 endpoint {endpoint} did not answer within {timeout:.0f}s")
        time.sleep(0.1)
    for bucket, region in ((BUCKET, PRIMARY_REGION), (DR_BUCKET, DR_REGION)):
        s3 = client(endpoint, region)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in TAGS.items()]})
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": LIFECYCLE_RULE_ID,
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": LIFECYCLE_DAYS},
                    }
                ]
            },
        )
    client(endpoint).put_bucket_replication(
        Bucket=BUCKET,
        ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/drill-lab-s3-replication",
            "Rules": [
                {
                    "ID": REPLICATION_RULE_ID,
                    "Priority": 1,
                    "Status": "Enabled",
                    "Filter": {"Prefix": DRILL_PREFIX},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{DR_BUCKET}"},
                }
            ],
        },
    )
    return {"endpoint": endpoint, "buckets": [BUCKET, DR_BUCKET]}


def configuration(ctx: LabContext) -> dict[str, Any]:
    """The lab's S3 setup in the shape of an AWS target file's `configuration.s3` (harness/faults/aws_s3.py reads
    either), plus the endpoint it lives at."""
    return {
        "bucket": BUCKET,
        "drill_prefix": DRILL_PREFIX,
        "dr_bucket": DR_BUCKET,
        "dr_region": DR_REGION,
        "region": PRIMARY_REGION,
        "endpoint_url": endpoint_url(ctx),
    }


def bucket_names(endpoint: str, timeout: float = 1.0) -> set[str] | None:
    """The endpoint's buckets (ListBuckets, read without boto3: `lab status` stays light), None if it does not
    answer."""
    import re

    import httpx

    try:
        r = httpx.get(f"{endpoint}/", timeout=timeout)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    return set(re.findall(r"<Name>([^<]+)</Name>", r.text))


def health_rows(ctx: LabContext) -> list[dict[str, Any]]:
    """`lab status` rows: the server answers and both buckets exist (the replicator made them); the replicator
    itself is judged by its process."""
    names = bucket_names(endpoint_url(ctx))
    if names is None:
        rows = [{"name": SERVER, "ok": False, "role": "s3 (moto)", "health": "not answering"}]
    else:
        missing = [b for b in (BUCKET, DR_BUCKET) if b not in names]
        health = f"buckets missing: {', '.join(missing)}" if missing else f"{BUCKET}, {DR_BUCKET}"
        rows = [{"name": SERVER, "ok": not missing, "role": "s3 (moto)", "health": health}]
    rows.append(
        {
            "name": REPLICATOR,
            "ok": True,
            "role": "s3 replication",
            "health": f"{DRILL_PREFIX} -> {DR_BUCKET}, lag {REPLICATION_LAG_S:g} s",
        }
    )
    return rows
