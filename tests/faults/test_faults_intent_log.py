"""The intent log: durable append-only events folded into intents; pending(); concurrent writers; torn lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.errors import HarnessError
from harness.faults.intent import IntentLog, default_state_dir

pytestmark = pytest.mark.timeout(60)


def test_lifecycle_folds_into_states(log: IntentLog) -> None:
    log.intend("f-1", "process-freeze", {"pid": 1})
    log.add_undo("f-1", {"kind": "noop"})
    assert [i.id for i in log.pending()] == ["f-1"] and log.get("f-1").state == "intended"
    log.injected("f-1", {"stopped": [1]})
    intent = log.get("f-1")
    assert intent.state == "injected" and intent.detail == {"stopped": [1]} and intent.undo == [{"kind": "noop"}]
    log.intend("f-2", "process-kill", {"pid": 2})
    log.undo_failed("f-2", "boom")
    log.undo_step("f-1", 0, "ok")
    log.undone("f-1")
    pending = log.pending()
    assert [i.id for i in pending] == ["f-2"]  # undo_failed stays pending: recover retries it
    assert pending[0].error == "boom"
    assert log.get("f-1").done_steps == {0}
    with pytest.raises(HarnessError, match="ambiguous"):
        log.get("f-")
    assert log.get("f-2").id == "f-2"


def test_every_line_is_json_and_file_is_private(log: IntentLog) -> None:
    log.intend("a", "x", {"k": "v"}, undo=[{"kind": "noop"}])
    lines = log.path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["event"] == "intend"
    assert log.path.stat().st_mode & 0o777 == 0o600
    assert log.get("a").owner["pid"] > 0  # who injected it, for recover's report


def test_non_serialisable_entry_is_refused(log: IntentLog) -> None:
    with pytest.raises(HarnessError, match="JSON"):
        log.add_undo("a", {"kind": "noop", "obj": object()})
    assert log.events() == []


def test_torn_last_line_is_skipped(log: IntentLog) -> None:
    log.intend("a", "x", {})
    with open(log.path, "a") as f:
        f.write('{"event": "undone", "id": "a"')  # a crash mid-write
    assert [i.id for i in log.pending()] == ["a"]


def test_path_comes_from_env_or_parameter(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DRILL_STATE_DIR", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s"
    assert IntentLog().path == tmp_path / "s" / "intent.jsonl"
    assert IntentLog(tmp_path / "other.jsonl").path == tmp_path / "other.jsonl"


WRITER = """
import sys
from harness.faults.intent import IntentLog
log = IntentLog(sys.argv[1])
for n in range(int(sys.argv[3])):
    log.intend(f"{sys.argv[2]}-{n}", "x", {"pad": "y" * 3000})
"""


def test_concurrent_writers_never_interleave(log: IntentLog) -> None:
    """Four processes append 3 kB lines at once: every line must parse and none may be lost."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(log.path), f"w{w}", "60"]) for w in range(4)]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]
    lines = log.path.read_text().splitlines()
    assert len(lines) == 240
    assert len({json.loads(line)["id"] for line in lines}) == 240
