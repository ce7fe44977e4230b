"""The local ledger file: every entry is in the file (flushed) when append returns, acks are fsynced by
group commit shortly after, and close() leaves nothing unsynced."""

from __future__ import annotations

import asyncio
import time

from harness.measure.ledger import LocalLedger


def test_entries_are_in_the_file_at_once_and_acks_fsynced_by_group_commit(tmp_path):
    ledger = LocalLedger(tmp_path / "ledger.jsonl")
    ledger.open()

    async def write(n: int) -> None:
        for seq in range(1, n + 1):
            await ledger.append({"kind": "attempt", "writer": "w", "seq": seq, "t": seq}, sync=False)
            await ledger.append({"kind": "ack", "writer": "w", "seq": seq, "t": seq, "t_ack": seq}, sync=True)

    asyncio.run(write(200))
    # flushed to the OS as each append returned: another reader sees every line now, in order
    entries = LocalLedger.read(ledger.path)
    assert [e["seq"] for e in entries if e["kind"] == "ack"] == list(range(1, 201))
    deadline = time.monotonic() + 2
    while ledger.fsyncs == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # fsynced, but not once per ack: 200 acks in a few ms share far fewer fsyncs
    assert 1 <= ledger.fsyncs < 200
    ledger.close()
    assert ledger.fsyncs >= 2  # close() fsyncs what is left
    assert len(LocalLedger.read(ledger.path)) == 400
