"""The S3 object faults (object-delete, object-overwrite) and their restores (s3-version-restore,
s3-cross-region-restore) against the shared moto server: moto stands in for AWS (no real account here). Only the
harness's own objects under the target's drill prefix are touched, on a versioned, tagged bucket."""

from __future__ import annotations

import pytest
from aws_world import REGION, CallLog, clear
from botocore.exceptions import ClientError

from harness import safety
from harness.chaos import aws as chaos_aws
from harness.errors import HarnessError
from harness.faults import aws_s3

BUCKET, DR_BUCKET, DR_REGION = "freight-staging-drill", "freight-staging-drill-dr", "eu-central-1"
PREFIX = "drill-harness/"
STAGING = {"Environment": "staging"}


def _config(bucket: str | None = BUCKET) -> dict:
    s3 = {
        "bucket": bucket or "<S3_DRILL_BUCKET>",
        "drill_prefix": PREFIX,
        "dr_bucket": DR_BUCKET,
        "dr_region": DR_REGION,
    }
    return {"aws_region": REGION, "s3": s3}


def _bucket(session, name: str = BUCKET, region: str = REGION, tags: dict | None = STAGING, versioned: bool = True):
    s3 = session.client("s3", region_name=region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3


def _body(s3, key: str, version_id: str | None = None) -> bytes:
    extra = {"VersionId": version_id} if version_id else {}
    return s3.get_object(Bucket=BUCKET, Key=key, **extra)["Body"].read()


def test_object_delete_plans_the_exact_call_and_its_undo_copies_the_last_good_version_back(aws):
    s3 = _bucket(aws)
    clear({"resources": ["freight-staging*"]}, tags=STAGING)
    prepared = chaos_aws.s3_prepare_objects("orders/1.json", versions=3, configuration=_config())
    key = PREFIX + "orders/1.json"
    assert prepared["key"] == key and len(prepared["versions"]) == 3
    good = _body(s3, key)

    plan = aws_s3.plan_s3_object_delete("orders/1.json", _config())
    assert plan.calls[0] == f"s3:DeleteObject(Bucket={BUCKET}, Key={key})"
    assert plan.undo_record["version_id"] == prepared["versions"][-1]
    assert [r.id for r in plan.resources] == [BUCKET, f"{BUCKET}/{key}"]

    out = chaos_aws.s3_object_delete("orders/1.json", configuration=_config())
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=key)
    undone = chaos_aws.undo(out["id"])
    assert undone["undone"]
    assert _body(s3, key) == good
    listing = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    assert len(listing["Versions"]) == 4 and len(listing["DeleteMarkers"]) == 1  # restored by copy: history whole
    assert chaos_aws.undo(out["id"])["undone"] is False  # idempotent: nothing done twice


def test_object_overwrite_then_s3_version_restore_brings_the_bytes_back_with_timed_steps(aws):
    s3 = _bucket(aws)
    clear({"resources": ["freight-staging*"]}, tags=STAGING)
    chaos_aws.s3_prepare_objects("orders/2.json", versions=2, configuration=_config())
    key = PREFIX + "orders/2.json"
    good_version = s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    good = _body(s3, key)

    out = chaos_aws.s3_object_overwrite("orders/2.json", configuration=_config())
    assert _body(s3, key) != good
    restored = chaos_aws.s3_version_restore("orders/2.json", configuration=_config())
    assert _body(s3, key) == good
    assert restored["restored_from"] == good_version and restored["copied"] and restored["verified"]
    assert [s["step"] for s in restored["steps"]][-2:] == ["copy it over as the newest version", "verify the bytes"]
    assert all(s["seconds"] >= 0 for s in restored["steps"]) and restored["rpo_s"] == 0.0
    # the drill restored it: the fault's undo finds the good bytes current and copies nothing
    assert "already current" in chaos_aws.undo(out["id"])["steps"][0]["outcome"]
    assert _body(s3, key) == good


def test_s3_cross_region_restore_copies_the_dr_replica_back_and_reports_the_object_rpo(aws):
    s3 = _bucket(aws)
    dr = _bucket(aws, DR_BUCKET, DR_REGION)
    clear({"resources": ["freight-staging*"]}, tags=STAGING)
    chaos_aws.s3_prepare_objects("orders/3.json", versions=2, configuration=_config())
    key = PREFIX + "orders/3.json"
    # the DR replica holds version 2 (what replication copied); the primary then gets a newer version 3
    dr.copy_object(Bucket=DR_BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key})
    replica = dr.get_object(Bucket=DR_BUCKET, Key=key)
    replica_bytes = replica["Body"].read()
    chaos_aws.s3_prepare_objects("orders/3.json", versions=1, configuration=_config())
    newest_lost = s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]

    out = chaos_aws.s3_object_delete("orders/3.json", configuration=_config())
    restored = chaos_aws.s3_cross_region_restore("orders/3.json", configuration=_config())
    assert _body(s3, key) == replica_bytes and restored["verified"]
    assert restored["rpo_s"] == (newest_lost - replica["LastModified"]).total_seconds()
    assert len(restored["steps"]) == 5
    chaos_aws.undo(out["id"])  # the undo still puts the newest good version back (the drill keeps nothing stale)
    assert _body(s3, key) != replica_bytes


@pytest.mark.parametrize(
    ("bucket_tags", "versioned", "bucket", "key", "why"),
    [
        (None, True, BUCKET, "orders/1.json", "without tag Environment=staging"),
        (STAGING, False, BUCKET, "orders/1.json", "versioning is off"),
        (STAGING, True, None, "orders/1.json", "no bucket named"),
        (STAGING, True, BUCKET, "../orders/1.json", "outside the drill prefix"),
        (STAGING, True, BUCKET, "/orders/1.json", "outside the drill prefix"),
    ],
)
def test_refused_before_any_write_at_moto(aws, bucket_tags, versioned, bucket, key, why):
    s3 = _bucket(aws, tags=bucket_tags, versioned=versioned)
    body = b"someone else's object"
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "orders/1.json", Body=body)
    clear({"resources": ["freight-staging*"]}, tags=STAGING)
    calls = CallLog()
    for act in (chaos_aws.s3_prepare_objects, chaos_aws.s3_object_delete, chaos_aws.s3_object_overwrite):
        with pytest.raises(safety.SafetyRefused, match=why):
            act(key, configuration=_config(bucket))
    assert calls.changing() == []
    assert _body(s3, PREFIX + "orders/1.json") == body


def test_a_fault_on_an_object_the_harness_did_not_write_is_refused(aws):
    s3 = _bucket(aws)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "orders/9.json", Body=b"not seeded by the harness")
    clear({"resources": ["freight-staging*"]}, tags=STAGING)
    calls = CallLog()
    with pytest.raises(HarnessError, match="no current harness-written version"):
        chaos_aws.s3_object_delete("orders/9.json", configuration=_config())
    assert calls.changing() == []


def test_drill_plan_on_the_aws_example_shows_the_exact_calls_and_object_and_the_lab_maps_it(aws, monkeypatch):
    from harness import targets

    _bucket(aws)
    monkeypatch.setenv("S3_DRILL_BUCKET", BUCKET)
    clear({"resources": ["freight-staging*"]}, tags=STAGING)
    chaos_aws.s3_prepare_objects("orders/5.json", versions=2, configuration=_config())
    current = aws.client("s3").head_object(Bucket=BUCKET, Key=PREFIX + "orders/5.json")["VersionId"]
    calls = CallLog()
    view = targets.load("aws-staging.example").plan("fault", "object-overwrite", {"key": "orders/5.json"})
    assert calls.changing() == []
    assert view.activity == "harness.chaos.aws:s3_object_overwrite" and not view.problem
    assert view.calls[0] == f"s3:PutObject(Bucket={BUCKET}, Key={PREFIX}orders/5.json)"
    assert any(f"{BUCKET}/{PREFIX}orders/5.json" in t and current in t for t in view.touches)
    assert view.blast == "within limits"
    unnamed = targets.load("aws-staging.example").plan("fault", "object-delete", {})  # no key: the default object
    assert f"{PREFIX}{aws_s3.DEFAULT_KEY} has no current harness-written version" in unnamed.problem
    lab = targets.load("local").plan("fault", "object-delete", {})  # the lab's own S3 endpoint (tests/lab)
    assert lab.activity == "harness.chaos.actions:inject" and not lab.problem


@pytest.mark.parametrize("name", ["s3-version-restore", "s3-cross-region-restore"])
def test_the_s3_procedures_refuse_without_a_lab_before_doing_anything(name):
    from harness import recovery

    report = recovery.get(name).run(None, params={}, confirm=recovery.Confirmer(auto=True))
    assert not report.ok and "object_rpo_s" not in report.facts
    assert "needs the running lab" in report.steps[0].outcome
