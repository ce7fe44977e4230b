"""A record is written as the run happens: a live file from the first event (each line hash-chained onto the
one before, the run holding its lock), chained at finish(); a run that dies leaves it for `drill verify`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from harness.evidence import RecordBuilder, load_records
from harness.evidence.integrity import verify
from harness.evidence.record import live_records


def test_live_file_from_the_first_event_to_finish(reports):
    rec = RecordBuilder(reports, operator="sam", path="measure")
    assert not rec.live_path.exists()
    rec.scenario(name="pending until the first event", status="passed")
    assert not rec.live_path.exists()
    rec.event("drill-started", {"probe": "http=http://u:hunter22@127.0.0.1:1/health"})
    lines = [json.loads(t) for t in rec.live_path.read_text().splitlines()]
    assert [ln["kind"] for ln in lines] == ["header", "scenario", "event"]
    assert lines[0]["body"]["path"] == "measure" and lines[1]["prev"] == lines[0]["hash"]
    assert "hunter22" not in rec.live_path.read_text()  # masked before it touches the disk
    [live] = live_records(reports)
    assert live.running and live.damage is None and live.last["kind"] == "drill-started"
    report = verify(reports)
    assert report.ok and "1 run(s) in progress" in report.summary()
    rec.event("drill-finished")
    path = rec.finish()
    assert not rec.live_path.exists() and path.exists() and live_records(reports) == []
    [record] = load_records(reports)
    assert record["path"] == "measure" and [e["kind"] for e in record["timeline"]] == [
        "drill-started",
        "drill-finished",
    ]
    assert verify(reports).ok


def test_a_killed_run_leaves_an_incomplete_record_that_verify_reports(reports):
    script = textwrap.dedent(f"""
        import os
        from harness.evidence import RecordBuilder
        rec = RecordBuilder({str(reports)!r}, operator="sam", path="chaos-toolkit")
        rec.event("drill-started")
        rec.event("fault-injected", {{"activity": "kill"}})
        print(rec.id, flush=True)
        os.kill(os.getpid(), 9)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    record_id = done.stdout.strip()
    assert done.returncode == -9 and record_id
    [live] = live_records(reports)
    assert not live.running and live.id == record_id
    report = verify(reports)
    assert not report.ok
    assert report.first_problem.startswith(f"record {record_id} is incomplete")
    assert "chaos-toolkit run" in report.first_problem and "last event 'fault-injected'" in report.first_problem


def test_an_edited_live_line_is_named(reports):
    rec = RecordBuilder(reports, operator="sam")
    rec.event("drill-started")
    rec.event("fault-injected", {"fault": "kill-leader"})
    text = rec.live_path.read_text().replace("kill-leader", "kill-replica")
    rec._live_file.close()  # the run is gone
    rec._live_file = None
    rec.live_path.write_text(text)
    assert "line 3 was changed" in verify(reports).first_problem
