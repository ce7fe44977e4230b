"""`drill run --target <aws target> FEATURE` runs a catalog-phrased Gherkin feature on AWS. moto stands in for
AWS (no real account can be used here): the Aurora failover is a real boto3/chaostoolkit-aws call that moto
answers by flipping the writer; the stand-in app on 127.0.0.1 (test_aws_faults.WriterBoundApp) answers 503 for
a known RECONNECT_S after the writer changes, the ground truth the drill's measurement must find."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from aws_world import CLUSTER, MOTO_ACCOUNT, REGION, aurora_cluster
from test_aws_faults import RECONNECT_S, WriterBoundApp

from harness.drills.scenario import DrillScenario
from harness.errors import HarnessError
from harness.evidence.record import load_records
from harness.faults import aws as faults
from harness.faults import aws_s3
from harness.faults.intent import IntentLog
from harness.targets import load as load_drill_target
from harness.targets.aws import AwsTarget

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = pytest.mark.timing

ROOT = Path(__file__).resolve().parents[2]
DRILL = str(Path(sys.executable).with_name("drill"))
FEATURE = Path(__file__).resolve().parent / "features" / "aws_db_failover.feature"
OTHER_ACCOUNT = "999999999999"


def staging_target(tmp_path: Path, account: str, environment: str = "staging") -> Path:
    """targets/aws-staging.example.yaml filled in for the rehearsal: moto's account (or another) on the allowlist,
    the rehearsal region. Only the app is probed (no PostgreSQL to probe or write to behind moto's RDS; the
    writer/RPO path has its own stand-in database in test_aws_rpo.py)."""
    data = yaml.safe_load((ROOT / "targets" / "aws-staging.example.yaml").read_text())
    data["name"], data["environment"] = "aws-rehearsal", environment
    data["safety"]["aws"]["account_ids"] = [account]
    data["safety"]["aws"]["regions"] = [REGION]
    data["configuration"]["aws_region"] = REGION
    data["probes"] = {"app": data["probes"]["app"]}
    data["writers"] = {}
    data["measure"]["writers"] = []
    path = tmp_path / "aws-rehearsal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def drill_run(tmp_path: Path, target: Path, app_url: str, *extra: str) -> subprocess.CompletedProcess:
    # The drill's values come from the environment, as on staging: the app's URL and the cluster id.
    env = {**os.environ, "APP_URL": app_url.removesuffix("/health"), "RDS_CLUSTER_ID": CLUSTER}
    return subprocess.run(
        [DRILL, "run", "--target", str(target), "--yes", "--reports", str(tmp_path / "reports"), *extra, str(FEATURE)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )


def test_feature_runs_on_aws_the_writer_flips_and_the_outage_is_measured(aws, tmp_path):
    cluster = aurora_cluster(aws)
    app = WriterBoundApp(aws)
    try:
        done = drill_run(tmp_path, staging_target(tmp_path, MOTO_ACCOUNT), app.url)
    finally:
        app.close()
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["reader"]

    [run_dir] = (tmp_path / "reports" / "runs").iterdir()
    [scenario] = (run_dir / "scenarios").iterdir()
    summary = json.loads((scenario / "drill.json").read_text())
    [fault] = summary["faults"]
    assert fault["fault"] == "db-primary-crash"
    assert fault["detail"] == {"cluster": CLUSTER, "old_writer": cluster["writer"], "new_writer": cluster["reader"]}
    assert fault["undo"]["ok"]
    m = summary["measurement"]
    assert m["recovered"] and not m["no_outage_observed"]
    # The app's outage is its RECONNECT_S window, seen from the first failed probe to the first good one.
    assert RECONNECT_S - m["uncertainty_s"] <= m["rto_s"] <= RECONNECT_S + 2 * m["uncertainty_s"] + 1.0, m

    journal = json.loads((scenario / "chaos-journal.json").read_text())
    assert [r["activity"]["provider"]["func"] for r in journal["run"]] == ["rds_cluster_failover"]
    assert [r["activity"]["provider"]["func"] for r in journal["rollbacks"]] == ["undo"]
    assert journal["run"][0]["status"] == "succeeded"

    [record] = load_records(tmp_path / "reports")
    assert record["target"] == str(staging_target(tmp_path, MOTO_ACCOUNT)) and record["environment"] == "staging"
    kinds = [e["kind"] for e in record["timeline"]]
    assert {"approval-checked", "fault-injected", "rollback", "recovered"} <= set(kinds), kinds
    assert IntentLog().pending() == []


def test_an_account_off_the_allowlist_is_refused_and_nothing_changes(aws, tmp_path):
    cluster = aurora_cluster(aws)
    app = WriterBoundApp(aws)
    try:
        done = drill_run(tmp_path, staging_target(tmp_path, OTHER_ACCOUNT), app.url)
    finally:
        app.close()
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"AWS account {MOTO_ACCOUNT}" in done.stderr and "nothing was touched" in done.stderr
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["writer"]
    assert not (tmp_path / "reports" / "runs").exists()
    assert IntentLog().pending() == []


def test_production_runs_only_with_the_approval_which_the_drill_process_gets_too(aws, tmp_path):
    # The pytest child preflights again (the AWS faults need a clearance in their own process): without the
    # approval handed down, production would be refused there and the writer would not flip.
    cluster = aurora_cluster(aws)
    app = WriterBoundApp(aws)
    try:
        done = drill_run(
            tmp_path,
            staging_target(tmp_path, MOTO_ACCOUNT, "production"),
            app.url,
            "--approval",
            "CHG-42",
            "--approver",
            "dr-lead",
        )
    finally:
        app.close()
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["reader"]
    [record] = load_records(tmp_path / "reports")
    assert [(a["ticket"], a["approver"]) for a in record["approvals"]] == [("CHG-42", "dr-lead")]
    assert IntentLog().pending() == []


# -- the cloud target's surface, without AWS calls ------------------------------------------------------------
def test_steps_a_cloud_target_lacks_name_the_step(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:9")
    target = load_drill_target(str(staging_target(tmp_path, MOTO_ACCOUNT))).connect()
    assert isinstance(target, AwsTarget) and target.lab is None and not target.started
    with pytest.raises(HarnessError, match="step 'Then the component \"pg-1\" is healthy again' cannot run"):
        target.component_healthy("pg-1")
    with pytest.raises(HarnessError, match="step 'Given the database replication mode is sync'"):
        target.set_replication("sync")
    with pytest.raises(HarnessError, match="unknown endpoint 'redis'.*has: app"):
        target.probe("redis")


def test_wait_healthy_names_the_failing_endpoint(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("APP_URL", f"http://127.0.0.1:{port}")
    target = load_drill_target(str(staging_target(tmp_path, MOTO_ACCOUNT))).connect()
    assert target.probe("app").target == f"http://127.0.0.1:{port}/health"
    with pytest.raises(HarnessError, match="not healthy after 1 s: app: "):
        target.wait_healthy(1)


def test_a_kubernetes_target_without_a_context_is_refused_before_any_request(monkeypatch):
    # Kubernetes targets are drill targets too (KubernetesTarget, tests/cloud/test_k8s_drill.py); the example names
    # no context, and the kubeconfig's current-context is never used in its place.
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("K8S_CONTEXT", raising=False)
    with pytest.raises(HarnessError, match="no Kubernetes context given"):
        load_drill_target("k8s-staging.example").connect()


def test_a_procedure_on_a_cloud_target_runs_the_files_activity_journaled(aws, tmp_path, monkeypatch):
    # moto stands in for AWS (no real account here): auto-failover on AWS is the rds_cluster_writer probe
    cluster = aurora_cluster(aws)
    monkeypatch.setenv("RDS_CLUSTER_ID", CLUSTER)
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:9")
    target = load_drill_target(str(staging_target(tmp_path, MOTO_ACCOUNT))).connect()
    assert target.primary("postgresql") == cluster["writer"]
    drill = DrillScenario(name="procedure on aws", target=target, out_dir=tmp_path / "s")
    report = drill.run_procedure("auto-failover")
    assert report.ok and report.steps[0].outcome == cluster["writer"]
    assert [r["activity"]["provider"]["func"] for r in drill.chaos.runs] == ["rds_cluster_writer"]
    with pytest.raises(HarnessError, match="procedure 'app-rollback' on target 'aws-rehearsal': deployments"):
        drill.run_procedure("app-rollback")


def test_an_unset_endpoint_variable_is_one_error_before_any_scenario(aws, tmp_path, monkeypatch):
    monkeypatch.delenv("APP_URL", raising=False)
    cluster = aurora_cluster(aws)
    done = subprocess.run(
        [
            DRILL,
            "run",
            "--target",
            str(staging_target(tmp_path, MOTO_ACCOUNT)),
            "--yes",
            "--reports",
            str(tmp_path / "reports"),
            str(FEATURE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "RDS_CLUSTER_ID": CLUSTER},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "probes.app: environment variable APP_URL is not set" in " ".join(done.stderr.split())
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["writer"]
    assert IntentLog().pending() == []


def test_an_s3_restore_on_a_cloud_target_gives_its_timed_steps_and_the_object_rpo(aws, tmp_path, monkeypatch):
    """The file's s3-version-restore activity answers {step, seconds} steps and an rpo_s: the drill shows each
    step and keeps the object RPO for the object-RPO phrase, as on the lab (moto stands in for S3)."""
    bucket, key = "freight-staging-drill", "orders/restored.json"
    s3 = aws.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "Environment", "Value": "staging"}]})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    config = {"aws_region": REGION, "s3": {"bucket": bucket, "drill_prefix": "drill-harness/"}}
    aws_s3.prepare_objects(key, versions=2, configuration=config)
    s3.delete_object(Bucket=bucket, Key="drill-harness/" + key)  # the fault's own call, done by hand here
    for name, value in {"S3_DRILL_BUCKET": bucket, "APP_URL": "http://127.0.0.1:9", "RDS_CLUSTER_ID": CLUSTER}.items():
        monkeypatch.setenv(name, value)
    target = load_drill_target(str(staging_target(tmp_path, MOTO_ACCOUNT))).connect()
    drill = DrillScenario(name="s3 restore on aws", target=target, out_dir=tmp_path / "s")
    report = drill.run_procedure("s3-version-restore", {"key": key})
    assert report.ok and [s.title for s in report.steps][-2:] == [
        "copy it over as the newest version",
        "verify the bytes",
    ]
    assert all(s.ok and s.duration_s >= 0 for s in report.steps)
    assert report.facts["object_rpo_s"] == 0.0
    assert s3.get_object(Bucket=bucket, Key="drill-harness/" + key)["Body"].read()
