"""A chained drill record from `chaos run` on the real lab (path chaos-toolkit, the experiment's SHA-256, the
journal as evidence), beside one from `drill measure`: `drill verify` passes, names the file after a one-byte
edit, and `drill history` lists both with their path."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from chaos_helpers import ROOT, chaos

from harness.chaos.control import JOURNAL_KEY
from harness.evidence.record import load_records

sys.path.insert(0, str(ROOT / "tests" / "faultlab"))
from faultlab_helpers import lab_session, wait_healthy  # noqa: E402 - the one way to run a test lab

pytestmark = pytest.mark.lab
DRILL = str(Path(sys.executable).with_name("drill"))
EXPERIMENT = ROOT / "experiments/plain/app-replicas-kill.json"


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def drill(*args: str, reports: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DRILL, *args, "--reports", str(reports)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
    )


def test_chaos_run_and_drill_measure_each_chain_a_record(lab, tmp_path):
    reports = tmp_path / "reports"
    replicas = [n for n, rec in lab.components.items() if rec.get("kind") == "app" and rec.get("zone") != "dr"]
    pids = " ".join(str(lab.components[n]["pid"]) for n in replicas)
    restart = (
        f"{shlex.quote(sys.executable)} -c 'from harness.lab import Lab; lab = Lab.load(); "
        f'[lab.start_component(n) for n in "{" ".join(replicas)}".split()]\''
    )
    env = {"APP_URL": lab.app_url, "APP_PIDS": pids, "APP_RESTART": restart, "DRILL_REPORTS_DIR": str(reports)}
    journal_path = tmp_path / "journal.json"
    done = chaos(
        "run",
        "--journal-path",
        str(journal_path),
        "--control-file",
        str(ROOT / "experiments/controls/measure-http.json"),
        str(EXPERIMENT),
        cwd=ROOT,
        env=env,
    )
    out = done.stdout + done.stderr
    journal = json.loads(journal_path.read_text())
    m = journal[JOURNAL_KEY]
    assert done.returncode == 0 and m["verdict"] == "met", out[-4000:]
    wait_healthy(lab, 120)

    [rec] = load_records(reports)
    assert rec["id"] == m["record"] and rec["path"] == "chaos-toolkit"
    assert rec["experiment"]["sha256"] == hashlib.sha256(EXPERIMENT.read_bytes()).hexdigest()
    assert rec["experiment"]["file"] == EXPERIMENT.name and rec["experiment"]["sha256_of"] == "file"
    [scenario] = rec["scenarios"]
    assert scenario["verdict"]["name"] == "met" and scenario["status"] == "passed"
    assert scenario["measured"]["rto_s"] == m["rto_s"] and scenario["target"]["rto_s"] == 60
    kinds = [e["kind"] for e in rec["timeline"]]
    # a run that was cleared by the safety preflight (every target, the lab too) records that first
    assert kinds[0] == "drill-started" or kinds[:2] == ["approval-checked", "drill-started"], kinds[:3]
    assert "fault-injected" in kinds and kinds[-1] == "drill-finished"
    evidence = {Path(e["path"]).name: e for e in rec["evidence"]}
    assert {"chaos-journal.json", "samples.csv", "result.json", "timeline.png"} <= set(evidence)
    kept = json.loads(
        (reports / next(e["path"] for e in rec["evidence"] if e["path"].endswith("chaos-journal.json"))).read_text()
    )
    assert kept["status"] == "completed" and kept[JOURNAL_KEY]["verdict"] == "met"
    assert kept["experiment"]["title"] == journal["experiment"]["title"]
    assert not list((reports / "records").glob("*.live.jsonl")), "the live file is gone once chained"

    # drill measure on the same lab, into the same chain
    measured = subprocess.run(
        [
            DRILL,
            "measure",
            "--probe",
            f"app@http={lab.app_url}/health",
            "--baseline",
            "1",
            "--stable",
            "1",
            "--fault",
            "true",
            "--rto",
            "30",
            "--timeout",
            "30",
            "--reports",
            str(reports),
            "--name",
            "app-noop",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert measured.returncode == 0, measured.stderr[-3000:]
    records = load_records(reports)
    assert [r["path"] for r in records] == ["chaos-toolkit", "measure"]

    ok = drill("verify", reports=reports)
    assert ok.returncode == 0 and "intact: 2 record(s)" in ok.stdout, ok.stdout + ok.stderr
    history = drill("history", reports=reports)
    assert history.returncode == 0 and "chaos-toolkit" in history.stdout and "measure" in history.stdout
    assert "app-noop" in history.stdout and "MET" in history.stdout
    rows = json.loads(drill("history", "--json", reports=reports).stdout)
    assert [(r["path"], r["verdict"]) for r in rows] == [("chaos-toolkit", "met"), ("measure", "met")]
    audit = drill("audit", rec["id"], reports=reports)
    assert audit.returncode == 0, audit.stderr

    target = reports / "records" / f"{rec['id']}.json"
    data = bytearray(target.read_bytes())
    at = data.index(b'"chaos-toolkit"') + 1
    data[at] = ord("C")  # one byte: chaos-toolkit -> Chaos-toolkit
    os.chmod(target, 0o644)
    target.write_bytes(bytes(data))
    bad = drill("verify", reports=reports)
    assert bad.returncode == 1 and rec["id"] in bad.stderr and "was changed" in bad.stderr, bad.stdout + bad.stderr
