"""`chaos run` with the measurement control chains a drill record (path chaos-toolkit) into the reports folder:
the experiment file's SHA-256, the journal as evidence, the timeline as the run went, the judgement's word.
Against a real HTTP service on 127.0.0.1 that the experiment breaks and fixes (no lab: the lab version is
test_chaos_records_lab.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from chaos_helpers import ROOT, chaos
from test_abort_guard import _Service, service  # noqa: F401 - the fixture and its service

from harness.evidence.record import live_records, load_records

DRILL = str(Path(sys.executable).with_name("drill"))


def _experiment(url: str, rto_s: float) -> dict:
    return {
        "version": "1.0.0",
        "title": "the service breaks for a second",
        "description": "break, wait, fix: measured by the control",
        "extensions": [
            {
                "name": "drill",
                "probes": [f"svc@http={url}/health"],
                "writers": [],
                "interval": 0.05,
                "stable": 0.5,
                "baseline": 0.5,
                "targets": {"rto_s": rto_s},
            }
        ],
        "controls": [{"name": "drill-measure", "provider": {"type": "python", "module": "harness.chaos.control"}}],
        "method": [
            {
                "type": "action",
                "name": "break the service",
                "pauses": {"after": 1},
                "provider": {"type": "http", "url": f"{url}/break", "method": "POST", "timeout": 2},
            },
            {
                "type": "action",
                "name": "fix the service",
                "provider": {"type": "http", "url": f"{url}/fix", "method": "POST", "timeout": 2},
            },
        ],
        "rollbacks": [],
    }


def test_chaos_run_chains_a_record(service, tmp_path):  # noqa: F811
    reports = tmp_path / "reports"
    results = []
    for rto_s in (30, 0.2):
        experiment = tmp_path / f"break-{rto_s}.json"
        experiment.write_text(json.dumps(_experiment(service, rto_s)))
        journal_path = tmp_path / f"journal-{rto_s}.json"
        proc = chaos(
            "run",
            "--journal-path",
            str(journal_path),
            str(experiment),
            cwd=ROOT,
            env={"DRILL_REPORTS_DIR": str(reports)},
        )
        results.append((experiment, proc, json.loads(journal_path.read_text())))
    (exp_ok, proc_ok, journal_ok), (_, proc_bad, journal_bad) = results
    assert proc_ok.returncode == 0 and journal_ok["drill_measurement"]["verdict"] == "met", proc_ok.stderr[-3000:]
    assert proc_bad.returncode == 1 and journal_bad["drill_measurement"]["verdict"] == "rto-breached"

    ok, bad = load_records(reports)
    assert (ok["path"], bad["path"]) == ("chaos-toolkit", "chaos-toolkit")
    assert ok["id"] == journal_ok["drill_measurement"]["record"]
    assert ok["experiment"] == {
        "title": "the service breaks for a second",
        "file": exp_ok.name,
        "sha256_of": "file",
        "sha256": hashlib.sha256(exp_ok.read_bytes()).hexdigest(),
    }
    assert [s["verdict"]["name"] for s in (ok["scenarios"][0], bad["scenarios"][0])] == ["met", "rto-breached"]
    assert (ok["scenarios"][0]["status"], bad["scenarios"][0]["status"]) == ("passed", "failed")
    assert bad["scenarios"][0]["failed_because"].startswith("objective breached: RTO")
    assert bad["outcome"]["passed"] is False and ok["outcome"]["passed"] is True
    kinds = [e["kind"] for e in ok["timeline"]]
    assert kinds.index("drill-started") < kinds.index("baseline-ok") < kinds.index("fault-injected")
    assert [e["detail"]["activity"] for e in ok["timeline"] if e["kind"] == "activity-finished"] == [
        "break the service",
        "fix the service",
    ]
    journal_entry = next(e for e in ok["evidence"] if e["path"].endswith("chaos-journal.json"))
    kept = json.loads((reports / journal_entry["path"]).read_text())
    assert kept["run"] and kept["drill_measurement"]["verdict"] == "met" and kept["status"] == "completed"
    assert {Path(e["path"]).name for e in ok["evidence"]} >= {"samples.csv", "result.json", "timeline.png"}
    assert live_records(reports) == []

    env = {**os.environ, "COLUMNS": "250"}
    verify = subprocess.run([DRILL, "verify", "--reports", str(reports)], capture_output=True, text=True, env=env)
    assert verify.returncode == 0 and "intact: 2 record(s)" in verify.stdout, verify.stdout + verify.stderr
    history = subprocess.run(
        [DRILL, "history", "--json", "--reports", str(reports)], capture_output=True, text=True, env=env
    )
    assert [(r["path"], r["verdict"]) for r in json.loads(history.stdout)] == [
        ("chaos-toolkit", "met"),
        ("chaos-toolkit", "rto-breached"),
    ]
