"""A kill while a record is being chained reads as a torn append, not tampering, and `drill recover` finishes
it (issue 16, point 5); a file planted in a recorded run folder is named by verify (point 6).

The kill is real: a child process chains a record and SIGKILLs itself at the named point of the append."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synthetic_drills import make_record

from harness.errors import HarnessError
from harness.evidence import chain as chain_mod
from harness.evidence.integrity import complete_interrupted, verify

HERE = Path(__file__).resolve().parent

# The child: a drill record with an evidence folder, killed (SIGKILL, like kill -9) at one point of finish().
CHILD = r"""
import os, signal, sys
from pathlib import Path
from harness.evidence import RecordBuilder
from harness.evidence import chain as chain_mod

reports, point = Path(sys.argv[1]), sys.argv[2]
def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "before-index":  # the record file is written, chain.json not yet
    real = chain_mod.replace_file
    chain_mod.replace_file = lambda path, data: die() if path.name == "chain.json" else real(path, data)
elif point == "before-record":  # the journal is written, the record file not yet
    chain_mod.write_new_file = die
elif point == "before-live-removed":  # chained and indexed; the live file not yet removed
    real_drop = chain_mod.Chain._drop_journal
    def drop_then_die(self):
        real_drop(self)
        die()
    chain_mod.Chain._drop_journal = drop_then_die
run = reports / "runs" / "r1" / "allure-results"
run.mkdir(parents=True)
(run / "a-result.json").write_text('{"name": "leader kill", "status": "passed"}')
rec = RecordBuilder(reports, operator="sam")
rec.event("drill-started", {"features": ["features/database.feature"]})
rec.evidence(reports / "runs" / "r1")
print(rec.id, flush=True)
rec.finish()
"""


def killed_append(reports: Path, point: str) -> str:
    """Chain one record in a child that is SIGKILLed at `point`; returns the record's id."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(reports), point], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


def test_a_kill_between_the_record_and_the_index_is_a_torn_append_not_tampering(reports, chain3):
    record_id = killed_append(reports, "before-index")
    assert (reports / "records" / f"{record_id}.json").exists()
    assert record_id not in json.loads((reports / "records" / "chain.json").read_text())["ids"]
    report = verify(reports)
    assert report.ok, report.problems
    assert "added outside the chain" not in " ".join(report.problems)
    assert report.interrupted == [
        f"records {record_id}: torn append: written, not yet in chain.json (stopped while chaining); "
        "`drill recover` completes it",
        f"records {record_id}: leftover live file: its record is chained (the run stopped before removing it); "
        "`drill recover` removes it",
    ]
    assert "2 append(s) stopped part way (run `drill recover`)" in report.summary()
    # verify only reads: running it twice changes nothing
    assert verify(reports).interrupted == report.interrupted

    done = complete_interrupted(reports)
    assert done == [
        f"record {record_id}: its append was stopped before chain.json was updated; completed",
        f"record {record_id}: leftover live file removed (the record is chained)",
    ]
    after = verify(reports)
    assert after.ok and not after.interrupted
    assert [r.id for r in after.rows if r.chain == "records"][-1] == record_id
    assert not (reports / "records" / chain_mod.JOURNAL).exists()
    assert not list((reports / "records").glob("*.live.jsonl"))  # the leftover live file went too
    # the chain goes on from the completed record
    nxt = make_record(reports, _later(chain3))
    assert nxt["prev_hash"] == json.loads((reports / "records" / f"{record_id}.json").read_text())["hash"]
    assert verify(reports).ok


def _later(chain3):
    from datetime import timedelta

    from harness.evidence.record import parse_utc

    return parse_utc(chain3[-1]["started"]) + timedelta(days=400)


def test_a_torn_record_edited_afterwards_is_tampering_and_is_not_completed(reports, chain3):
    record_id = killed_append(reports, "before-index")
    path = reports / "records" / f"{record_id}.json"
    entry = json.loads(path.read_text())
    entry["operator"] = "mallory"
    entry["hash"] = chain_mod.entry_hash(entry)  # even with a recomputed hash: the journal holds the original
    os.chmod(path, 0o644)
    path.write_bytes(chain_mod.serialize(entry))
    report = verify(reports)
    assert not report.ok
    assert report.first_problem == (
        f"record {record_id} is not in records/chain.json: added outside the chain (the append journal names "
        "it, but its content hash does not match the one the journal recorded)"
    )
    with pytest.raises(HarnessError, match="not completing the pending append: its content hash does not match"):
        complete_interrupted(reports)
    assert record_id not in json.loads((reports / "records" / "chain.json").read_text())["ids"]


def test_a_planted_record_is_still_added_outside_the_chain(reports, chain3):
    forged = dict(chain3[2], id="20991231T000000000Z-ffffff")
    (reports / "records" / f"{forged['id']}.json").write_text(json.dumps(forged))
    (reports / "records" / chain_mod.JOURNAL).write_text(json.dumps({"id": forged["id"], "hash": forged["hash"]}))
    assert not verify(reports).ok
    assert "added outside the chain (the append journal names it" in verify(reports).first_problem


def test_a_kill_before_the_record_is_written_leaves_an_incomplete_run_and_nothing_chained(reports, chain3):
    record_id = killed_append(reports, "before-record")
    assert (reports / "records" / chain_mod.JOURNAL).exists()
    report = verify(reports)
    assert report.first_problem.startswith(f"record {record_id} is incomplete: its run ended without finishing it")
    assert complete_interrupted(reports) == [
        f"record {record_id}: its append was stopped before it was written; nothing was chained"
    ]
    assert not (reports / "records" / chain_mod.JOURNAL).exists()


def test_a_kill_after_chaining_leaves_a_live_file_that_is_not_called_incomplete(reports, chain3):
    record_id = killed_append(reports, "before-live-removed")
    report = verify(reports)
    assert report.ok, report.problems
    assert report.interrupted == [
        f"records {record_id}: leftover live file: its record is chained (the run stopped before removing it); "
        "`drill recover` removes it"
    ]
    assert complete_interrupted(reports) == [f"record {record_id}: leftover live file removed (the record is chained)"]
    assert verify(reports).ok and not verify(reports).interrupted


def test_drill_recover_completes_a_torn_append_from_the_command_line(reports, chain3, tmp_path):
    record_id = killed_append(reports, "before-index")
    env = {**os.environ, "DRILL_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}  # an empty intent log
    drill = str(Path(sys.executable).with_name("drill"))
    before = subprocess.run([drill, "verify", "--reports", str(reports)], capture_output=True, text=True, env=env)
    assert before.returncode == 0, before.stderr
    assert "torn append" in before.stdout
    started = time.perf_counter()
    done = subprocess.run([drill, "recover", "--reports", str(reports)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert f"record {record_id}: its append was stopped before chain.json was updated; completed" in done.stdout
    assert time.perf_counter() - started < 30
    after = subprocess.run([drill, "verify", "--reports", str(reports)], capture_output=True, text=True, env=env)
    assert after.returncode == 0 and "torn append" not in after.stdout and "stopped part way" not in after.stdout


# -- point 6: a record covers whole folders ---------------------------------------------------------------
def test_a_file_planted_in_a_recorded_run_folder_is_named(reports, chain3):
    record = chain3[1]
    folder = record["evidence_folders"][0]
    assert folder.startswith("runs/")
    planted = reports / folder / "allure" / "forged-result.json"
    planted.write_text(json.dumps({"name": "leader kill", "status": "passed"}))
    report = verify(reports)
    assert not report.ok
    assert report.first_problem == (
        f"evidence file {folder}/allure/forged-result.json is in a folder record {record['id']} covers but no "
        "record lists it (added after the record was written)"
    )
    row = next(r for r in report.rows if r.id == record["id"])
    assert row.evidence.endswith("1 extra")


def test_a_removed_run_folder_is_named(reports, chain3):
    import shutil

    folder = chain3[0]["evidence_folders"][0]
    shutil.rmtree(reports / folder)
    problems = verify(reports).problems
    assert f"evidence folder {folder}/ of record {chain3[0]['id']} was removed" in problems


def test_records_without_folders_still_verify(reports, chain3):
    """A record written before `evidence_folders` existed: verify checks the files it lists, as before."""
    assert all("evidence_folders" in r for r in chain3)
    assert verify(reports).ok


def test_a_torn_append_in_a_signed_chain_needs_the_key(reports, monkeypatch):
    from datetime import UTC, datetime

    monkeypatch.setenv("DRILL_SIGNING_KEY", "k" * 32)
    make_record(reports, datetime(2025, 1, 14, tzinfo=UTC))
    record_id = killed_append(reports, "before-index")  # the child inherits the key: the record is signed
    assert verify(reports).ok
    monkeypatch.delenv("DRILL_SIGNING_KEY")
    with pytest.raises(HarnessError, match="the chain is signed: set DRILL_SIGNING_KEY to complete it"):
        complete_interrupted(reports)
    monkeypatch.setenv("DRILL_SIGNING_KEY", "k" * 32)
    assert complete_interrupted(reports)[0].startswith(f"record {record_id}: its append was stopped")
    after = verify(reports)
    assert after.ok and not after.interrupted and after.key_used


def test_the_very_first_append_torn_before_any_index_exists(reports):
    record_id = killed_append(reports, "before-index")
    assert not (reports / "records" / "chain.json").exists()
    report = verify(reports)
    assert report.ok, report.problems
    assert report.interrupted[0].startswith(f"records {record_id}: torn append")
    complete_interrupted(reports)
    assert json.loads((reports / "records" / "chain.json").read_text())["ids"] == [record_id]
    assert verify(reports).ok and not verify(reports).interrupted


def test_a_journal_naming_a_file_outside_the_chain_is_not_followed(reports, chain3):
    (reports / "records" / chain_mod.JOURNAL).write_text(json.dumps({"id": "../runs/x", "hash": "0" * 64}))
    assert verify(reports).ok  # nothing outside the index in records/: nothing to explain
    with pytest.raises(HarnessError, match="not completing the pending append: the journal is unreadable"):
        complete_interrupted(reports)
    assert json.loads((reports / "records" / "chain.json").read_text())["ids"] == [r["id"] for r in chain3]
