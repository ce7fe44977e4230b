"""A drill record names the harness version and the hash of the dependency lock it ran on; records written
before those fields existed still verify."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from importlib import metadata

from synthetic_drills import REPO, make_record, measurement

import harness
from harness.evidence import RecordBuilder, verify
from harness.evidence import chain as chain_mod
from harness.evidence import record as record_mod


def test_record_carries_harness_version_and_lock_hash(reports):
    rec = make_record(reports, datetime(2025, 4, 15, 10, 0, tzinfo=UTC))
    lock = REPO / "requirements.lock"
    assert lock.is_file()
    assert rec["harness"]["harness_version"] == metadata.version("drill-harness")
    assert rec["harness"]["lock_sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    # the fields are part of the hashed content: the written record verifies as it is
    assert verify(reports).ok


def test_fallbacks_without_installed_metadata_or_lock(tmp_path, monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(record_mod.metadata, "version", not_installed)
    assert record_mod.harness_version() == harness.__version__
    assert record_mod.lock_sha256(tmp_path) is None


def test_record_without_the_fields_still_verifies(reports, cli):
    """A record of an earlier harness (no harness_version, no lock_sha256), then one of this harness."""
    started = datetime(2025, 1, 14, 10, 0, tzinfo=UTC)
    old = RecordBuilder(reports, operator="sam", started=started)
    old.scenario(name="postgres-leader-kill", measurement=measurement(21.4, 0.0), status="passed")
    body = old.to_dict(ended=started + timedelta(minutes=45))
    for key in ("harness_version", "lock_sha256"):
        del body["harness"][key]
    chain = record_mod.records_chain(reports)
    with chain.locked():
        chain.append(body, key=chain_mod.signing_key())
    new = make_record(reports, started + timedelta(days=91))

    on_disk = json.loads((reports / "records" / f"{body['id']}.json").read_text())
    assert "harness_version" not in on_disk["harness"] and "lock_sha256" not in on_disk["harness"]
    assert new["prev_hash"] == on_disk["hash"]
    report = verify(reports)
    assert report.ok, report.problems
    assert [r.id for r in report.rows if r.chain == "records"] == [body["id"], new["id"]]
    res = cli("verify", "--reports", reports)
    assert res.exit_code == 0, res.output
