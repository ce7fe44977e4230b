"""Tamper evidence: every edit, removal, reordering or forgery of a record, finding or evidence file is caught
by `drill verify` (exit 1) and the first problem names the record or file."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from synthetic_drills import make_record

from harness.errors import HarnessError
from harness.evidence import add_finding, verify
from harness.evidence.chain import GENESIS, write_new_file


def _flip(path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def _record_path(reports, rec):
    return reports / "records" / f"{rec['id']}.json"


def test_intact_chain_verifies_and_links(reports, chain3, cli):
    assert [r["prev_hash"] for r in chain3] == [GENESIS, chain3[0]["hash"], chain3[1]["hash"]]
    index = json.loads((reports / "records" / "chain.json").read_text())
    assert index["ids"] == [r["id"] for r in chain3] and index["head"] == chain3[2]["hash"]
    report = verify(reports)
    assert report.ok, report.problems
    assert report.head == chain3[2]["hash"]
    assert all(r.evidence == "5/5 ok" for r in report.rows)
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 0, res.output
    assert "intact" in res.output and chain3[2]["hash"] in res.output


@pytest.mark.parametrize("which", [0, 1, 2])
def test_one_semantic_edit_of_any_record_is_named(reports, chain3, cli, which):
    path = _record_path(reports, chain3[which])
    text = path.read_text()
    path.chmod(0o644)
    path.write_text(text.replace('"rto_s": 21.4', '"rto_s": 11.4', 1))  # make the drill look better
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 1
    assert f"record {chain3[which]['id']} (#{which + 1}) was changed" in res.stderr


def test_any_single_byte_flip_in_any_record_is_detected(reports, chain3):
    rng = random.Random(84)
    for rec in chain3:
        path = _record_path(reports, rec)
        original = path.read_bytes()
        positions = sorted(rng.sample(range(len(original)), 60)) + [0, len(original) - 1]
        for pos in positions:
            _flip(path, pos)
            report = verify(reports)
            assert not report.ok, f"flip at byte {pos} of {path.name} went unnoticed"
            assert rec["id"] in report.first_problem, (pos, report.first_problem)
            path.write_bytes(original)
    assert verify(reports).ok


def test_whitespace_only_edit_is_detected(reports, chain3):
    path = _record_path(reports, chain3[1])
    path.chmod(0o644)
    path.write_text(path.read_text().replace('  "target"', '\t"target"', 1))
    report = verify(reports)
    assert not report.ok and "whitespace" in report.first_problem and chain3[1]["id"] in report.first_problem


@pytest.mark.parametrize("name", ["result.json", "samples.csv", "timeline.png", "journal.json", "abc-result.json"])
def test_one_byte_of_any_evidence_file_is_named(reports, chain3, cli, name):
    rel = next(e["path"] for e in chain3[1]["evidence"] if e["path"].endswith("/" + name))
    path = reports / rel
    _flip(path, len(path.read_bytes()) // 2)
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 1
    assert f"evidence file {rel} of record {chain3[1]['id']} was changed" in res.stderr


def test_removed_evidence_file_is_named(reports, chain3):
    rel = chain3[0]["evidence"][0]["path"]
    (reports / rel).unlink()
    report = verify(reports)
    assert report.first_problem == f"evidence file {rel} of record {chain3[0]['id']} was removed"


def test_deleting_a_middle_record_is_detected_even_with_the_index_fixed_up(reports, chain3, cli):
    middle = _record_path(reports, chain3[1])
    middle.unlink()
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 1 and f"record {chain3[1]['id']} (#2) was removed" in res.stderr
    # Someone also removes it from the index: the next record's prev_hash still points at it.
    index_path = reports / "records" / "chain.json"
    index = json.loads(index_path.read_text())
    index["ids"].remove(chain3[1]["id"])
    index["count"] = len(index["ids"])
    index_path.write_text(json.dumps(index))
    report = verify(reports)
    assert not report.ok
    assert report.first_problem.startswith(f"record {chain3[2]['id']} (#2): prev_hash does not match {chain3[0]['id']}")


def test_deleting_the_last_record_is_detected(reports, chain3, cli):
    _record_path(reports, chain3[2]).unlink()
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 1 and f"record {chain3[2]['id']} (#3) was removed" in res.stderr


def test_rewriting_the_index_after_deleting_the_last_record(reports, chain3, cli, monkeypatch):
    """Unsigned, a consistent index rewrite is only caught against a head hash quoted elsewhere
    (--expect-head); signed, the index signature catches it."""
    head = chain3[2]["hash"]
    _record_path(reports, chain3[2]).unlink()
    index_path = reports / "records" / "chain.json"
    index = json.loads(index_path.read_text())
    index.update(ids=index["ids"][:2], head=chain3[1]["hash"], count=2)
    index_path.write_text(json.dumps(index))
    assert cli("verify", "--reports", reports).exit_code == 0  # documented limit without a key
    res = cli("verify", "--reports", reports, "--expect-head", head)
    assert res.exit_code == 1 and f"is not the expected {head}" in res.stderr


def test_reordered_records_are_detected(reports, chain3):
    index_path = reports / "records" / "chain.json"
    index = json.loads(index_path.read_text())
    index["ids"][0], index["ids"][1] = index["ids"][1], index["ids"][0]
    index_path.write_text(json.dumps(index))
    report = verify(reports)
    assert report.first_problem.startswith(f"record {chain3[1]['id']} (#1): prev_hash does not match the start")


def test_record_added_outside_the_chain_is_named(reports, chain3):
    forged = dict(chain3[2], id="20991231T000000000Z-ffffff")
    (reports / "records" / f"{forged['id']}.json").write_text(json.dumps(forged))
    assert verify(reports).first_problem == (
        f"record {forged['id']} is not in records/chain.json: added outside the chain"
    )


def test_records_are_never_rewritten(reports, chain3):
    with pytest.raises(HarnessError, match="never rewritten"):
        write_new_file(_record_path(reports, chain3[0]), b"{}")
    assert json.loads(_record_path(reports, chain3[0]).read_text())["hash"] == chain3[0]["hash"]
    assert not list((reports / "records").glob(".*.tmp"))


def test_signed_chain_without_and_with_wrong_key(reports, monkeypatch, cli):
    key = "k3y-never-printed-0123456789"
    monkeypatch.setenv("DRILL_SIGNING_KEY", key)
    start = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    recs = [make_record(reports, start + timedelta(days=i)) for i in range(2)]
    assert all(len(r["signature"]) == 64 for r in recs)
    report = verify(reports)
    assert report.ok and {r.signature for r in report.rows} == {"valid"}
    ok = cli("verify", "--reports", reports)
    assert ok.exit_code == 0 and "signatures checked" in ok.output
    # the key is never stored or printed
    assert key not in ok.output
    assert not any(key.encode() in p.read_bytes() for p in reports.rglob("*") if p.is_file())
    # no key: verified by hash, signatures reported as not checked
    monkeypatch.delenv("DRILL_SIGNING_KEY")
    report = verify(reports)
    assert report.ok and {r.signature for r in report.rows} == {"not checked (no key)"}
    assert "not checked" in cli("verify", "--reports", reports).output
    # wrong key: every signature fails, the first record is named
    monkeypatch.setenv("DRILL_SIGNING_KEY", "wrong-key")
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 1
    assert f"record {recs[0]['id']} (#1): signature does not match" in res.stderr


def test_signed_chain_forged_without_the_key_is_detected(reports, monkeypatch):
    """An edit with the hash recomputed (and the signature stripped) passes sha256 but not the HMAC."""
    from harness.evidence.chain import entry_hash, serialize

    monkeypatch.setenv("DRILL_SIGNING_KEY", "the-real-key")
    rec = make_record(reports, datetime(2025, 3, 3, 9, 0, tzinfo=UTC), evidence=False)
    forged = dict(rec)
    forged["operator"] = "someone-else"
    forged.pop("signature")
    forged["hash"] = entry_hash(forged)
    path = _record_path(reports, rec)
    path.chmod(0o644)
    path.write_bytes(serialize(forged))
    report = verify(reports)
    assert f"record {rec['id']} (#1) is unsigned but a signing key is set" == report.first_problem
    monkeypatch.delenv("DRILL_SIGNING_KEY")
    report = verify(reports)  # without the key only the (rebuilt) hash chain is checked
    assert [r.signature for r in report.rows] == ["unsigned"]


def test_unsigned_chain_reports_unsigned(reports, chain3):
    assert {r.signature for r in verify(reports).rows} == {"unsigned"}


def test_finding_entries_are_chained_too(reports, chain3):
    add_finding(
        reports, chain3[0]["id"], "Failover slower than planned", "Dana Okafor", "2025-03-01", "Lower Patroni ttl"
    )
    assert verify(reports).ok
    entry = next((reports / "findings").glob("*-F-0001-opened.json"))
    text = entry.read_text()
    entry.chmod(0o644)
    entry.write_text(text.replace("2025-03-01", "2025-09-01"))  # quietly move the due date
    report = verify(reports)
    assert not report.ok and f"finding entry {entry.stem} (#1) was changed" in report.first_problem


def test_concurrent_finishes_chain_in_some_order(reports):
    """Two drills finishing together must not both chain onto the same head."""
    start = datetime(2025, 5, 5, 9, 0, tzinfo=UTC)
    errors = []

    def run(i):
        try:
            make_record(reports, start + timedelta(minutes=i), evidence=False)
        except Exception as err:  # noqa: BLE001 - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = verify(reports)
    assert report.ok, report.problems
    assert len(report.rows) == 4
