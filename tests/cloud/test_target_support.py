"""A scenario whose fault or procedure the target file marks `unsupported` is skipped before anything runs,
with the file's reason; a selection where no scenario can run is refused (exit 2): a green CI job that drilled
nothing would mislead. moto on 127.0.0.1 stands in for AWS (no real account can be used here)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from aws_world import CLUSTER, MOTO_ACCOUNT, REGION, aurora_cluster
from test_aws_drill import DRILL, staging_target
from test_aws_faults import WriterBoundApp

from harness.faults import aws as faults
from harness.faults.intent import IntentLog

FEATURE = Path(__file__).resolve().parent / "features" / "aws_mixed_support.feature"
REASON = "no AWS API freezes an RDS writer"


def run(tmp_path: Path, app_url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APP_URL": app_url.removesuffix("/health"), "RDS_CLUSTER_ID": CLUSTER, "COLUMNS": "200"}
    return subprocess.run(
        [
            DRILL,
            "run",
            "--target",
            str(staging_target(tmp_path, MOTO_ACCOUNT)),
            "--yes",
            "--reports",
            str(tmp_path / "reports"),
            *extra,
            str(FEATURE),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )


def test_only_unsupported_scenarios_selected_is_refused_and_nothing_changes(aws, tmp_path):
    cluster = aurora_cluster(aws)
    app = WriterBoundApp(aws)
    try:
        done = run(tmp_path, app.url, "--tags", "zombie")
    finally:
        app.close()
    err = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no selected scenario can run on target aws-rehearsal" in err
    assert f"fault db-primary-freeze is not supported on target aws-rehearsal: {REASON}" in err
    assert "aws_mixed_support.feature:16" in err  # the step's line
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["writer"]
    assert IntentLog().pending() == []


def test_the_unsupported_scenario_is_skipped_with_the_reason_and_the_rest_runs(aws, tmp_path):
    cluster = aurora_cluster(aws)
    app = WriterBoundApp(aws)
    try:
        done = run(tmp_path, app.url)
    finally:
        app.close()
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert faults.rds_cluster_writer(CLUSTER, {"aws_region": REGION}) == cluster["reader"]
    found = {
        json.loads(p.read_text())["name"]: json.loads(p.read_text())
        for p in (tmp_path / "reports").glob("runs/*/scenarios/*/scenario.json")
    }
    assert found["The Aurora writer fails over"]["status"] == "passed"
    frozen = found["The database primary freezes"]
    assert frozen["status"] == "skipped" and REASON in frozen["message"], frozen
    assert "measurement" not in frozen or not frozen.get("faults")
    assert "SKIPPED" in done.stdout
    assert IntentLog().pending() == []
