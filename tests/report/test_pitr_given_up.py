"""After a point-in-time restore, the writes acknowledged after the recovery point are given up: the RPO
(loss from before the fault) is 0, but 31 writes are lost. The table, the Allure RTO/RPO page and the
after-action report say so, and the record keeps them as their own figure (issue 16, point 14). The
after-action timeline reads as words, not Python reprs (point 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from test_summary_words import _result

from harness.drills import summary
from harness.drills.scenario import DrillScenario
from harness.evidence import RecordBuilder
from harness.evidence.allure_attach import rto_rpo_table
from harness.evidence.audit import write_audit
from harness.measure import analysis
from harness.measure.ledger import Classification
from harness.recovery.procedure import RunReport

T_INJECT = 1000.0
GIVEN_UP = "31 writes after the recovery point given up, 1.6 s"


def _pitr_writer():
    """84 writes acknowledged before the bad change (kept), 31 in the 1.6 s after it (given up by the restore)."""
    acks = {seq: T_INJECT - 0.05 * (83 - seq) for seq in range(84)}
    acks |= {84 + i: T_INJECT + 0.05 + 0.0517 * i for i in range(31)}
    attempts = dict(acks)
    cls = Classification(
        attempted=len(attempts),
        acked=len(acks),
        present=84,
        lost=list(range(84, 115)),
        unexpected=[],
        indeterminate=[],
        indeterminate_present=[],
    )
    writer = analysis.writer_result("app-writes", "app 20/s", 20.0, attempts, acks, cls, None, T_INJECT)
    return writer, analysis.combine_writers([writer])


def _measurement():
    writer, combined = _pitr_writer()
    return _result(rto_s=12.0, error_rate=0.2, writers=[writer], **combined)


def test_the_analysis_counts_the_lost_writes_after_the_fault_apart_from_the_rpo():
    writer, combined = _pitr_writer()
    assert writer.rpo_s == 0.0 and writer.lost_writes == 31
    assert writer.lost_after_fault == 31
    assert round(writer.lost_after_fault_window.last_s, 1) == 1.6
    assert combined["lost_after_fault_writes"] == 31 and combined["lost_writes"] == 31


def test_the_result_table_says_the_writes_were_given_up_by_the_restore():
    m = _measurement().model_dump(mode="json")
    pitr = {"name": "corruption", "status": "passed", "measurement": m, "procedures": [{"procedure": "pitr"}]}
    row = summary.row(pitr)
    assert row[4] == "0.00 s"
    assert row[5] == f"31 / 115: {GIVEN_UP}"
    failover = {**pitr, "procedures": [{"procedure": "auto-failover"}]}
    assert summary.row(failover)[5] == "31 / 115: 31 writes acknowledged after the fault lost, 1.6 s (not in the RPO)"


def test_the_allure_rto_rpo_page_says_so(tmp_path):
    drill = DrillScenario(name="corruption", target=None, out_dir=tmp_path)
    drill.result = _measurement()
    drill.procedures.append(RunReport(procedure="pitr", ok=True, steps=[], duration_s=20.0))
    assert f"31 of 115 acknowledged writes lost: {GIVEN_UP}" in rto_rpo_table(drill)


def test_the_record_keeps_the_figure_and_the_after_action_report_says_so(tmp_path):
    reports = tmp_path / "reports"
    started = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    rec = RecordBuilder(reports, operator="sam", started=started, live=False)
    rec.event(
        "fault-injected",
        {"scenario": "corruption", "fault": "db-corruption", "id": "f1", "params": {"seconds": "4"}},
        at=started + timedelta(seconds=5),
    )
    rec.event(
        "recovery-step",
        {
            "scenario": "corruption",
            "procedure": "pitr",
            "step": "identify the recovery point",
            "duration_s": 0.012,
            "ok": True,
            "confirmed_by": None,
        },
        at=started + timedelta(seconds=6),
    )
    rec.scenario(name="corruption", measurement=_measurement(), status="passed")
    path = rec.finish(ended=started + timedelta(minutes=2))
    import json

    measured = json.loads(path.read_text())["scenarios"][0]["measured"]
    assert measured["lost_after_fault_writes"] == 31
    assert round(measured["lost_after_fault_window"]["last_s"], 1) == 1.6

    page, _pdf = write_audit(reports)
    html = page.read_text()
    results = html.split('<section id="results">')[1].split("</section>")[0]
    assert f"({GIVEN_UP})" in results
    timeline = html.split('<section id="timeline">')[1].split("</section>")[0]
    assert "params: seconds 4" in timeline
    assert "duration: 0.012 s" in timeline and "ok: yes" in timeline
    assert "{'" not in timeline and "params=" not in timeline and "&#x27;" not in timeline
    assert "confirmed" not in timeline  # an empty confirmed_by is left out, not shown as `confirmed_by=`
