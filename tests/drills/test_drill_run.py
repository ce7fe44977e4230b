"""`drill run` end to end: bad catalogs refused before anything starts, the smoke drills on a real lab with
their evidence, and a real RPO breach (async replication + lag + crash) that must fail the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.evidence.allure_report import build_report, render_dom, single_file_data
from harness.evidence.browser import chromium_path
from harness.evidence.record import load_records
from harness.faults.intent import IntentLog
from harness.lab import Lab, proxies
from harness.lab.topology import SPECS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def drill(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "CI": "true"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("drill")), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def scenarios(reports: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(reports.glob("runs/*/scenarios/*/scenario.json"))]


def allure_results(reports: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(reports.glob("runs/*/allure-results/*-result.json"))]


def _attachments(node: dict) -> list[dict]:
    found = list(node.get("attachments", []))
    for step in node.get("steps", []):
        found += _attachments(step)
    return found


# -- bad input: refused before any target is touched ----------------------------------------------------
def test_typo_and_unknown_fault_are_one_error_each_pointing_at_the_line(tmp_path):
    log_before = len(IntentLog().events())
    done = drill("run", str(HERE / "features" / "typo.feature"), "--reports", str(tmp_path), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr
    assert "typo.feature:4: no step matches 'When the databse primary crashes'" in err
    assert "did you mean: When the database primary crashes" in err
    assert "typo.feature:5:" in err and "unknown fault 'db-primry-crash'" in err
    assert "did you mean 'db-primary-crash'" in err
    assert "nothing was run or injected" in err
    assert len(IntentLog().events()) == log_before  # nothing intended, nothing injected
    assert not list(tmp_path.glob("records/*.json")) and not scenarios(tmp_path)


def test_malformed_feature_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.feature"
    bad.write_text("Feature: bad\n  Scenario: x\n    Given the target is healthy\n  Examples oops\n    | a |\n")
    done = drill("run", str(bad), "--reports", str(tmp_path / "r"), timeout=120)
    assert done.returncode == 2
    assert "bad.feature" in done.stderr and "Line number: 4" in done.stderr


def test_the_dry_run_shows_a_scenarios_own_abort_guard():
    done = drill("plan", "--target", "local", str(HERE / "features" / "abort_guard.feature"), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "guard: guard app error rate > 0.5 over 10 s for 2 s (this scenario's)" in done.stdout


def test_bad_tag_expression_and_empty_selection_are_refused(tmp_path):
    done = drill("run", "--tags", "smoke and", "--reports", str(tmp_path), timeout=120)
    assert done.returncode == 2 and "ends too early" in done.stderr
    done = drill("run", "--tags", "no-such-tag", "--reports", str(tmp_path), timeout=120)
    assert done.returncode == 2 and "no scenario matches" in done.stderr


# -- the real thing ----------------------------------------------------------------------------------------
@pytest.mark.lab
def test_smoke_drills_pass_on_the_lab_and_leave_evidence(sync_lab, tmp_path):
    reports = tmp_path / "reports"
    done = drill("run", "--tags", "smoke", "--yes", "--reports", str(reports))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    found = {s["name"]: s for s in scenarios(reports)}
    assert {
        "The PostgreSQL primary crashes",
        "The availability zone of the database primary goes down",
        "The zone of the database primary is partitioned from the other zones",
        "The Redis primary crashes",
    } <= set(found)
    for s in found.values():
        m = s["measurement"]
        assert s["status"] == "passed" and m["recovered"] and m["lost_writes"] == 0, s
        assert m["rto_s"] <= s["targets"]["rto_s"]
    crash = found["The PostgreSQL primary crashes"]["measurement"]
    assert crash["rto_s"] > 5, "a kill -9 of the leader cannot recover in seconds (Patroni ttl 20 s)"
    # The AZ outage of the leader's zone, measured (its own ~30 s outage in faultlab/test_1_sync_lab.py before):
    # every process of the zone killed, a new primary in another zone, the zone back and nothing isolated.
    az = found["The availability zone of the database primary goes down"]
    [az_fault] = az["faults"]
    zone = az_fault["params"]["zone"]
    assert az_fault["fault"] == "az-outage" and az_fault["detail"]["mode"] == "kill", az_fault
    [new_primary] = [c["source"] for c in az["checks"] if c["what"] == "postgresql_primary"]
    assert SPECS[new_primary].zone != zone, (new_primary, zone)
    assert az["measurement"]["rto_s"] > 5 and az["measurement"]["rpo_s"] is not None
    assert az["measurement"]["lost_writes"] is not None and az_fault["undo"]["ok"], az_fault["undo"]
    assert Lab.load().network.partitions()["isolated"] == [] and not az["close_problems"], az["close_problems"]
    assert "RTO measured" in done.stdout and "PASS" in done.stdout

    # Allure: every scenario carries the evidence and labels
    results = allure_results(reports)
    assert len(results) >= 4
    for r in results:
        names = {a["name"] for a in r.get("attachments", [])}
        assert {"RTO / RPO", "timeline.png", "result.json", "samples.csv", "drill.json"} <= names, names
        labels = {lab["name"]: lab["value"] for lab in r["labels"]}
        assert labels.get("epic", "").startswith("DR plan §") and labels.get("severity")
    pg = next(r for r in results if r["name"].startswith("The PostgreSQL primary crashes"))
    in_steps = {a["name"] for a in _attachments(pg)}  # the When steps carry their own fault and procedure logs
    assert "recovery procedure auto-failover: steps" in in_steps
    assert any(n.startswith("fault db-primary-crash-") and n.endswith("blast radius") for n in in_steps)
    run_dir = next(reports.glob("runs/*"))
    assert (run_dir / "junit.xml").exists() and json.loads((run_dir / "cucumber.json").read_text())

    # The record verifies and holds the timeline; no secret of the lab anywhere in the output
    verify = drill("verify", "--reports", str(reports), timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    [record] = load_records(reports)
    kinds = {e["kind"] for e in record["timeline"]}
    assert {"fault-injected", "recovery-step", "recovered", "rollback"} <= kinds
    secrets = [v for v in json.loads((Path(sync_lab.paths.secrets_file)).read_text()).values() if len(v) >= 8]
    for f in reports.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".txt", ".csv", ".xml", ".jsonl", ".html", ".properties"):
            text = f.read_text(errors="replace")
            assert not any(s in text for s in secrets), f"a lab secret leaked into {f}"
    assert not IntentLog().pending()

    # The auditor's view: the real report, rendered offline in headless Chromium
    if chromium_path() is None:
        pytest.skip("headless Chromium not installed: report rendering not checked")
    report = build_report([run_dir / "allure-results"], tmp_path / "html", history_path=tmp_path / "h.jsonl")
    tests = {
        t["name"]: t["id"]
        for t in (
            json.loads(v) for k, v in single_file_data(report.single_file).items() if k.startswith("data/test-results/")
        )
    }
    assert set(found) <= set(tests)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two headless Chromiums at a time: one per core
        pages = dict(zip(found, pool.map(lambda n: render_dom(report.single_file, fragment=tests[n]), found)))
    for name, page in pages.items():  # every scenario's page renders, with its evidence
        for shown in (name, "timeline.png", "RTO / RPO", "DR plan §"):
            assert shown in page, f"{shown!r} not on the page of {name!r}"


@pytest.mark.lab
def test_async_replication_lag_drill_ends_rpo_breached(sync_lab, tmp_path):
    reports = tmp_path / "reports"
    done = drill("run", str(HERE / "features" / "async_rpo_breach.feature"), "--yes", "--reports", str(reports))
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-6000:]
    assert "RPO BREACHED" in done.stdout
    [s] = scenarios(reports)
    m = s["measurement"]
    assert s["status"] == "failed" and s["message"].startswith("RPO breached")
    # Ground truth: ~2 s of acknowledged writes at 20/s sat only on the killed primary.
    assert m["lost_writes"] >= 10, m
    assert 1.0 <= m["rpo_s"] <= 5.0, m
    [r] = allure_results(reports)
    assert r["status"] == "failed" and "RPO breached" in r["statusDetails"]["message"]
    assert Lab.load().ctx.replication == "sync", "the drill must put synchronous replication back"
    assert not IntentLog().pending()


@pytest.mark.lab
def test_abort_guard_undoes_the_fault_and_ends_the_drill_aborted(sync_lab, tmp_path):
    """Ground truth: a blackhole held 120 s and a 60 s wait, under a guard allowing 2 s of app failures. The
    guard must cut both short: the outage the drill measures lasts at least the grace and far less than the
    wait, the fault is undone, and the record says the guard aborted it."""
    reports = tmp_path / "reports"
    done = drill("run", str(HERE / "features" / "abort_guard.feature"), "--yes", "--reports", str(reports))
    out = done.stdout + done.stderr
    assert done.returncode == 3, out[-6000:]  # a drill that could not complete, not a breached objective
    assert "ABORTED" in done.stdout
    [s] = scenarios(reports)
    assert s["status"] == "broken" and s["message"].startswith("drill aborted by guard:app"), s["message"]
    assert s["aborted"]["by"] == "guard:app" and "grace 2 s" in s["aborted"]["reason"]
    [fault] = s["faults"]
    assert fault["fault"] == "network-blackhole" and fault["undo"]["ok"]
    m = s["measurement"]
    assert m["recovered"], m  # the recovery after the rollback is still measured
    assert 2.0 <= m["rto_s"] < 60.0, m
    assert any(e["label"].startswith("aborted by guard:app") for e in m["events"]), m["events"]
    assert not IntentLog().pending()
    assert proxies.control(Lab.load().ctx, "db").get()["mode"] == "pass"
    [record] = load_records(reports)
    aborted = [e for e in record["timeline"] if e["kind"] == "aborted"]
    assert aborted and aborted[0]["detail"]["by"] == "guard:app"


@pytest.mark.lab
def test_latency_within_the_budget_is_degraded_not_down(sync_lab, tmp_path):
    """Ground truth: latency on the app's database path for exactly 5 s. Within the probe's budget the
    service is degraded for about that long and never down; beyond it, it is down for about that long."""
    reports = tmp_path / "reports"
    done = drill("run", str(HERE / "features" / "latency.feature"), "--yes", "--reports", str(reports))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    found = {s["name"]: s for s in scenarios(reports)}
    slow = found["150 ms of latency slows the service down"]["measurement"]
    assert slow["no_outage_observed"] and slow["error_rate"] == 0.0, slow["outages"]
    # degraded from the first slow answer to the first fast one after the undo: 5 s within a second
    assert 4.0 <= slow["degraded_s"] <= 6.5, slow["degraded_s"]
    during = slow["latency"]["app"]["during"]
    assert 140 < during["p50_ms"] < 1000 and during["p99_ms"] < 1000, during
    [app] = [p for p in slow["probes"] if p["name"] == "app"]
    assert app["budget_s"] == 1.0 and app["degraded_threshold_s"] == 0.1 and app["failures"] == 0
    down = found["1.5 seconds of latency is an outage"]["measurement"]
    assert not down["no_outage_observed"] and down["recovered"]
    assert 4.0 <= down["rto_s"] <= 7.5, down["rto_s"]
    assert "no outage; degraded" in done.stdout
