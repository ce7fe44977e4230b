"""What a drill record holds, as the drill runner writes it through RecordBuilder."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from synthetic_drills import PLANS, SECRET_PASSWORD, make_record, measurement

from harness.errors import HarnessError
from harness.evidence import RecordBuilder, load_plan, verify


def test_record_fields(reports, monkeypatch):
    started = datetime(2025, 2, 10, 14, 0, tzinfo=UTC)
    rec = make_record(
        reports,
        started,
        scenarios=[
            ("postgres-leader-kill", measurement(21.4, 0.0), "passed"),
            ("postgres-async-loss", measurement(24.0, 2.1, target_rpo=0.0, lost=40), "failed"),
        ],
    )
    assert re.fullmatch(r"20250210T140000000Z-[0-9a-f]{6}", rec["id"])
    plan_file = PLANS / "quarterly-scenario-drill.yaml"
    assert rec["plan"]["sha256"] == hashlib.sha256(plan_file.read_bytes()).hexdigest()
    assert rec["plan"]["type"] == "scenario-based"
    assert [p["role"] for p in rec["plan"]["participants"]][0] == "DR Coordinator"
    assert rec["operator"] == "sam" and rec["target"] == "local" and rec["environment"] == "lab"
    assert rec["approvals"] == [{"ticket": "CHG-1042", "approver": "Sam Rivera", "at": "2025-02-08T14:00:00.000Z"}]
    assert rec["started"] == "2025-02-10T14:00:00.000Z" and rec["ended"] == "2025-02-10T14:45:00.000Z"
    assert rec["duration_s"] == 2700
    kinds = [e["kind"] for e in rec["timeline"]]
    assert kinds[:4] == ["fault-injected", "detected", "recovery-step", "recovered"]
    assert kinds[-1] == "manual-confirmation" and rec["timeline"][-1]["detail"]["who"] == "Dana Okafor"
    lossy = rec["scenarios"][1]
    assert lossy["objective"] == {"key": "postgresql/primary-instance-failure", "source": "dr-plan.md §5.1.1"}
    assert lossy["target"] == {"rto_s": 120.0, "rpo_s": 0.0}
    assert lossy["measured"]["rpo_s"] == 2.1 and lossy["measured"]["lost_writes"] == 40
    assert lossy["measured"]["uncertainty_s"] == 0.09
    assert lossy["verdict"]["rpo"] == {"target_s": 0.0, "measured_s": 2.1, "margin_s": -2.1, "ok": False}
    assert lossy["in_plan_scope"] is True  # tagged @quarterly, plan scope "@quarterly and not @cloud"
    # plan criteria: all objectives met (no: the lossy one failed), RTO <= 60 s override (yes)
    assert rec["outcome"]["passed"] is False
    assert [(c["criterion"], c["ok"]) for c in rec["outcome"]["checks"]] == [
        ("all objectives met", False),
        ("RTO ≤ 60 s (plan override)", True),
    ]
    assert rec["harness"]["version"] == "0.1.0"
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", rec["harness"]["revision"])
    # every evidence file, relative to the reports dir, with its hash and size
    assert len(rec["evidence"]) == 10
    for e in rec["evidence"]:
        path = reports / e["path"]
        assert not e["path"].startswith("/") and path.is_file()
        assert e["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and e["size"] == path.stat().st_size


def test_secrets_never_reach_the_record(reports):
    rec = make_record(reports, datetime(2025, 2, 10, tzinfo=UTC))
    text = (reports / "records" / f"{rec['id']}.json").read_text()
    assert SECRET_PASSWORD not in text
    assert not any(SECRET_PASSWORD.encode() in p.read_bytes() for p in reports.rglob("*") if p.is_file())
    b = RecordBuilder(reports, operator="x")
    b.event(
        "baseline-ok", detail={"dsn": f"postgresql://drill:{SECRET_PASSWORD}@127.0.0.1/db", "password": SECRET_PASSWORD}
    )
    b.scenario(name="adhoc", measurement={"rto_s": 1.0, "verdict": None})
    path = b.finish()
    text = path.read_text()
    assert SECRET_PASSWORD not in text and "postgresql://drill:***@127.0.0.1/db" in text


def test_operator_from_environment_and_adhoc_plan(reports, monkeypatch):
    monkeypatch.setenv("DRILL_OPERATOR", "ci-bot")
    b = RecordBuilder(reports)
    b.scenario(name="redis-primary-kill", measurement=measurement(2.3, 0.0, target_rto=60), status="passed")
    rec = json.loads(b.finish().read_text())
    assert rec["operator"] == "ci-bot" and rec["plan"] is None and rec["outcome"]["passed"] is True


def test_reports_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILL_REPORTS_DIR", str(tmp_path / "elsewhere"))
    b = RecordBuilder(operator="x")
    b.scenario(name="s", measurement=measurement(1, 0))
    assert b.finish().parent == tmp_path / "elsewhere" / "records"
    assert verify().ok


def test_approval_must_come_from_a_plan_approver(reports):
    plan = load_plan(PLANS / "semiannual-dr-drill.yaml")
    with pytest.raises(HarnessError, match="'Eve' is not an approver of plan semiannual-dr-drill"):
        RecordBuilder(reports, plan=plan, approvals=[{"ticket": "CHG-9", "approver": "Eve", "at": datetime.now(UTC)}])
    with pytest.raises(HarnessError, match="approval"):
        RecordBuilder(reports, plan=plan, approvals=[{"ticket": "CHG-9", "approver": "Morgan Blake"}])


def test_evidence_outside_the_reports_dir_is_copied_in(reports, tmp_path):
    outside = tmp_path / "allure-results"
    outside.mkdir()
    (outside / "x-result.json").write_text('{"status": "passed"}')
    b = RecordBuilder(reports, operator="x")
    b.scenario(name="s", measurement=measurement(1, 0))
    b.evidence(outside)
    rec = json.loads(b.finish().read_text())
    assert [e["path"] for e in rec["evidence"]] == [f"evidence/{rec['id']}/allure-results/x-result.json"]
    assert verify(reports).ok
    with pytest.raises(HarnessError, match="does not exist"):
        b.evidence(tmp_path / "missing")


def test_bad_input_is_refused(reports):
    b = RecordBuilder(reports, operator="x")
    with pytest.raises(HarnessError, match="status 'ok'"):
        b.scenario(name="s", status="ok")
    with pytest.raises(HarnessError, match="slug"):
        b.event("fault injected!")
    b.scenario(name="s", measurement=measurement(1, 0))
    b.finish()
    with pytest.raises(HarnessError, match="already written"):
        b.finish()


def test_not_recovered_breaches_a_plan_rto_override(reports):
    plan = load_plan(PLANS / "quarterly-scenario-drill.yaml")
    b = RecordBuilder(
        reports, plan=plan, operator="x", approvals=[{"ticket": "T", "approver": "Sam Rivera", "at": datetime.now(UTC)}]
    )
    m = measurement(45.0, 0.0)
    m["rto_s"] = None  # not recovered before the deadline
    b.scenario(name="s", tags=["@quarterly"], measurement=m, status="failed")
    rec = json.loads(b.finish(ended=b.started + timedelta(minutes=5)).read_text())
    assert rec["outcome"]["checks"][1] == {
        "criterion": "RTO ≤ 60 s (plan override)",
        "ok": False,
        "detail": "over: s (not measured)",
    }
