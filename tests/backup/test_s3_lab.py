"""The lab's S3 endpoint (harness/lab/s3.py) on the session's shared lab: its buckets in `drill backup status`,
an object fault left behind by a killed run undone by `drill recover`, and features/s3_object_restore.feature
through `drill run` with both object RPOs judged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from faultlab_helpers import drill, lab_session
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.evidence.record import load_records
from harness.faults import aws_s3
from harness.lab import s3 as lab_s3

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def _status(tmp_path: Path) -> tuple[int, dict, str]:
    done = CliRunner().invoke(app, ["backup", "status", "--store", "s3", "--json", "--reports", str(tmp_path)])
    return done.exit_code, json.loads(done.output) if done.output.lstrip().startswith("{") else {}, done.output


def test_backup_status_shows_both_buckets_and_a_suspended_versioning_is_a_finding(lab, tmp_path: Path):
    setup = aws_s3.lab_setup(lab)
    aws_s3.write_objects(setup, "status/probe.json", 1)
    code, body, output = _status(tmp_path)
    assert code == 0, output
    rows = {r["store"]: r for r in body["stores"]}
    assert set(rows) == {f"s3:{lab_s3.BUCKET}", f"s3:{lab_s3.DR_BUCKET}"}  # --store s3: the S3 rows only
    for row in rows.values():
        assert row["ok"] and row["versioning"] == "Enabled" and row["lifecycle_days"] == 90, row
    primary = rows[f"s3:{lab_s3.BUCKET}"]
    assert primary["newest_type"] == "version" and 0 <= primary["age_s"] < 60

    s3 = setup.s3()
    s3.put_bucket_versioning(Bucket=lab_s3.BUCKET, VersioningConfiguration={"Status": "Suspended"})
    try:
        code, body, output = _status(tmp_path)
        assert code == 1, output
        bad = {r["store"]: r for r in body["stores"]}[f"s3:{lab_s3.BUCKET}"]
        assert not bad["ok"] and any("versioning is Suspended" in f for f in bad["findings"]), bad
        table = CliRunner().invoke(app, ["backup", "status", "--store", "s3", "--reports", str(tmp_path)])
        assert table.exit_code == 1 and "versioning is Suspended" in table.output, table.output
        # the faults refuse a bucket that could not restore the object, before touching anything
        refused = CliRunner().invoke(app, ["fault", "inject", "object-delete", "key=status/probe.json"])
        assert isinstance(refused.exception, HarnessError) and "versioning is Suspended" in str(refused.exception)
    finally:
        s3.put_bucket_versioning(Bucket=lab_s3.BUCKET, VersioningConfiguration={"Status": "Enabled"})
    assert s3.head_object(Bucket=lab_s3.BUCKET, Key=lab_s3.DRILL_PREFIX + "status/probe.json")["ContentLength"] > 0


def test_an_object_fault_left_by_a_killed_run_is_undone_by_drill_recover(lab):
    setup = aws_s3.lab_setup(lab)
    key = lab_s3.DRILL_PREFIX + "recover/left-behind.json"
    aws_s3.write_objects(setup, "recover/left-behind.json", 2)
    s3 = setup.s3()
    good = s3.get_object(Bucket=lab_s3.BUCKET, Key=key)["Body"].read()
    # `drill fault inject` leaves the fault in force and exits: what a killed drill leaves behind
    injected = CliRunner().invoke(app, ["fault", "inject", "object-overwrite", "key=recover/left-behind.json"])
    assert injected.exit_code == 0, injected.output
    assert s3.get_object(Bucket=lab_s3.BUCKET, Key=key)["Body"].read() != good
    recovered = CliRunner().invoke(app, ["recover"])
    assert recovered.exit_code == 0 and "lab_s3_restore_version" in recovered.output, recovered.output
    back = s3.get_object(Bucket=lab_s3.BUCKET, Key=key)
    body = back["Body"].read()
    assert body == good and hashlib.sha256(body).hexdigest() == back["Metadata"][aws_s3.SHA_META]
    versions = s3.list_object_versions(Bucket=lab_s3.BUCKET, Prefix=key)["Versions"]
    assert len(versions) == 4  # 2 written, the overwrite, the undo's copy: restored by copy, the history whole


def test_the_s3_feature_restores_both_ways_and_judges_each_object_rpo(lab, tmp_path: Path):
    feature = ROOT / "features" / "s3_object_restore.feature"
    done = drill("run", str(feature), "--yes", "--reports", str(tmp_path), timeout=300, cwd=ROOT, CI="true")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    [record] = load_records(tmp_path)
    assert [s["status"] for s in record["scenarios"]] == ["passed", "passed"]
    summaries = [json.loads(p.read_text()) for p in sorted(tmp_path.rglob("drill.json"))]
    rpo = {}
    for s in summaries:
        [check] = [c for c in s["checks"] if c["what"] == "object_rpo"]
        rpo[s["name"]] = check
        assert check["ok"]
        [proc] = s["procedures"]
        assert proc["ok"] and proc["facts"]["restore"]["verified"]
    by_version = next(c for n, c in rpo.items() if "versioning" in n)
    from_dr = next(c for n, c in rpo.items() if "DR bucket" in n)
    assert by_version["measured"] == 0.0 and by_version["target"] == 0
    # the DR copy is one version behind: lost = what the replicator had not copied, its 5 s lag (1 s resolution)
    assert lab_s3.REPLICATION_LAG_S - 1 <= from_dr["measured"] <= lab_s3.REPLICATION_LAG_S + 3, from_dr
    assert from_dr["target"] == 900
    print(f"object RPO: by version {by_version['measured']} s, from the DR bucket {from_dr['measured']} s")
    lab.wait_healthy(30)


def test_a_restarted_s3_endpoint_gets_its_buckets_back_from_the_replicator(lab):
    """moto keeps nothing across a restart: the replicator sees NoSuchBucket and makes the buckets again."""
    from harness.recovery.procedure import poll

    endpoint = lab_s3.endpoint_url(lab.ctx)
    lab.stop_component(lab_s3.SERVER)
    lab.start_component(lab_s3.SERVER)
    names = poll(
        "the lab's buckets back",
        lambda: {lab_s3.BUCKET, lab_s3.DR_BUCKET} <= (lab_s3.bucket_names(endpoint) or set()),
        30,
    )
    assert names
    versioning = lab_s3.client(endpoint).get_bucket_versioning(Bucket=lab_s3.BUCKET)["Status"]
    assert versioning == "Enabled"
    lab.wait_healthy(30)
