"""`drill measure` chains a drill record (path measure) beside Gherkin drills: it verifies, a one-byte edit
is named, `drill history` lists it with its path, and no secret from a probe spec reaches it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.evidence.record import live_records, load_records

DRILL = str(Path(sys.executable).parent / "drill")
SECRET = "pr0be-s3cret"


def drill(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DRILL, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env={**os.environ, "COLUMNS": "250"}
    )


def test_drill_measure_chains_a_record_that_verify_history_and_audit_show(server, tmp_path):
    reports = tmp_path / "reports"
    url = server.url.replace("http://", f"http://drill:{SECRET}@")
    done = drill(
        "measure",
        "--probe",
        f"api@http={url}",
        "--interval",
        "0.05",
        "--baseline",
        "0.5",
        "--stable",
        "0.5",
        "--fault",
        server.control_command("refuse", 1.0),
        "--rto",
        "5",
        "--reports",
        str(reports),
        "--name",
        "api-refuses",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "met" in done.stdout and "record:" in done.stderr

    [rec] = load_records(reports)
    assert rec["path"] == "measure" and "experiment" not in rec
    [s] = rec["scenarios"]
    assert s["name"] == "api-refuses" and s["status"] == "passed" and s["verdict"]["name"] == "met"
    assert s["target"]["rto_s"] == 5 and 0.9 < s["measured"]["rto_s"] < 2.5 and s["verdict"]["rto"]["ok"]
    kinds = [e["kind"] for e in rec["timeline"]]
    assert kinds[:3] == ["drill-started", "baseline-ok", "fault-injected"]
    assert {"fault-command-exited", "recovered", "scenario-finished"} <= set(kinds) and kinds[-1] == "drill-finished"
    names = {Path(e["path"]).name for e in rec["evidence"]}
    assert {"samples.csv", "result.json", "timeline.png"} <= names
    assert all(e["path"].startswith("measure/") for e in rec["evidence"]), "artefacts default into <reports>"
    for f in reports.rglob("*"):
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f

    ok = drill("verify", "--reports", str(reports), cwd=tmp_path)
    assert ok.returncode == 0 and "intact: 1 record(s)" in ok.stdout, ok.stdout + ok.stderr
    history = drill("history", "--reports", str(reports), cwd=tmp_path)
    assert history.returncode == 0 and "measure" in history.stdout and "api-refuses" in history.stdout
    assert "MET" in history.stdout
    [row] = json.loads(drill("history", "--json", "--reports", str(reports), cwd=tmp_path).stdout)
    assert (row["path"], row["verdict"], row["scenario"]) == ("measure", "met", "api-refuses")
    assert drill("audit", "--reports", str(reports), cwd=tmp_path).returncode == 0
    due = drill("due", "--json", "--reports", str(reports), "--today", rec["started"][:10], cwd=tmp_path)
    assert due.returncode == 0  # an ad-hoc run (no plan): listed nowhere, counted for no §6.1 type

    target = reports / "records" / f"{rec['id']}.json"
    data = bytearray(target.read_bytes())
    data[data.index(b'"api-refuses"') + 1] = ord("A")
    os.chmod(target, 0o644)
    target.write_bytes(bytes(data))
    bad = drill("verify", "--reports", str(reports), cwd=tmp_path)
    assert bad.returncode == 1 and f"record {rec['id']}" in bad.stderr and "was changed" in bad.stderr


def test_breach_and_not_recovered_are_recorded_in_the_judgements_words(server, tmp_path):
    reports = tmp_path / "reports"
    common = [
        "--probe",
        f"api@http={server.url}",
        "--interval",
        "0.05",
        "--baseline",
        "0.5",
        "--stable",
        "0.5",
        "--reports",
        str(reports),
    ]
    breached = drill("measure", *common, "--fault", server.control_command("503", 1.0), "--rto", "0.3", cwd=tmp_path)
    assert breached.returncode == 1 and "rto-breached" in breached.stdout, breached.stderr
    lost = drill(
        "measure",
        *common,
        "--fault",
        server.control_command("hang", "inf"),
        "--rto",
        "60",
        "--timeout",
        "1.5",
        cwd=tmp_path,
    )
    assert lost.returncode == 3 and "not-recovered" in lost.stdout, lost.stderr
    words = [(r["scenarios"][0]["verdict"]["name"], r["scenarios"][0]["status"]) for r in load_records(reports)]
    assert words == [("rto-breached", "failed"), ("not-recovered", "failed")]
    history = drill("history", "--reports", str(reports), cwd=tmp_path).stdout
    assert "RTO BREACHED" in history and "NOT RECOVERED" in history


def test_unhealthy_before_the_fault_is_recorded_broken_and_nothing_runs(server, tmp_path):
    reports = tmp_path / "reports"
    server.command("down refuse inf")
    marker = tmp_path / "fault-ran"
    done = drill(
        "measure",
        "--probe",
        f"api@http={server.url}",
        "--baseline",
        "0.5",
        "--fault",
        f"touch {marker}",
        "--reports",
        str(reports),
        cwd=tmp_path,
    )
    assert done.returncode == 2 and not marker.exists()
    [rec] = load_records(reports)
    assert rec["scenarios"][0]["status"] == "broken" and rec["scenarios"][0]["verdict"]["name"] == "not-measured"
    assert "aborted" in [e["kind"] for e in rec["timeline"]]


def test_a_killed_drill_measure_leaves_an_incomplete_record(server, tmp_path):
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [
            DRILL,
            "measure",
            "--probe",
            f"api@http={server.url}",
            "--baseline",
            "0.5",
            "--fault",
            "sleep 60",
            "--reports",
            str(reports),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            "fault-injected" in p.read_text() for p in (reports / "records").glob("*.live.jsonl")
        ):
            time.sleep(0.1)
        [live] = live_records(reports)
        assert live.running
        running = drill("verify", "--reports", str(reports), cwd=tmp_path)
        assert running.returncode == 0 and "in progress" in running.stdout, running.stdout + running.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    bad = drill("verify", "--reports", str(reports), cwd=tmp_path)
    assert bad.returncode == 1 and f"record {live.id} is incomplete" in bad.stderr
    assert "last event 'fault-injected'" in bad.stderr
    assert load_records(reports) == []
