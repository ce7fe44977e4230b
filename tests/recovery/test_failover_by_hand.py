"""auto-failover run by hand right after a leader crash (issue 16, point 12; the plan's runbook 8.3 "verify if
automatic failover has occurred"). For ~20 s after kill -9 the DCS still names the dead leader "leader,
running": the procedure must learn the old leader from the pending fault, and count a leader only when its
own Patroni answers as primary. Before, it took the dead pg-x as "leader is pg-x" and failed after 60 s
waiting for HAProxy to route to it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from faultlab_helpers import drill, lab_measurement, lab_session, report, wait_healthy

from harness import recovery
from harness.faults import runner
from harness.faults.intent import IntentLog
from harness.measure import Targets
from harness.recovery import Confirmer


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def test_by_hand_after_drill_fault_inject_it_learns_the_old_leader_and_waits_for_the_new_primary(lab, tmp_path):
    old = lab.postgres_leader()
    inject = drill("fault", "inject", "db-primary-crash")
    assert inject.returncode == 0, inject.stderr
    fault_id = inject.stdout.strip().splitlines()[-1]
    try:
        assert lab.postgres_leader() == old, "the attack needs the dead leader's DCS key still in place"
        assert lab.postgres_primary() is None, "a killed leader must never answer as primary"
        began = time.monotonic()
        run = drill("procedure", "run", "auto-failover", "--yes", "--json", str(tmp_path / "run.json"), timeout=200)
        took = time.monotonic() - began
    finally:
        undo = runner.undo(fault_id)
    steps = json.loads(Path(tmp_path / "run.json").read_text())["steps"]
    report("auto-failover by hand after db-primary-crash", procedure_s=round(took, 2), old_leader=old)
    assert run.returncode == 0, run.stdout + run.stderr
    new = steps[0]["outcome"].split()[2].rstrip(",")
    assert new != old and new.startswith("pg-")
    assert f"old leader {old} (from the pending fault {fault_id})" in steps[0]["outcome"]
    assert steps[1]["outcome"] == f"pg_primary routes to {new}"
    assert all(s["ok"] for s in steps) and steps[-1]["confirmed_by"] == "auto-confirmed (CI)"
    assert took < 50, "the failover itself takes ~20 s (the DCS key's TTL)"
    assert undo.ok, undo.line()
    wait_healthy(lab, 90)


def test_without_any_old_leader_a_leader_counts_only_when_it_answers_as_primary(lab, tmp_path):
    """Also the sync-mode crash measured (it was its own test in faultlab/test_1_sync_lab.py, a second ~30 s
    failover for the same fault): a writer at 20/s through HAProxy loses nothing, and the outage is real."""
    elsewhere = IntentLog(tmp_path / "another-operator.jsonl")  # a crash the default intent log knows nothing of
    old = lab.postgres_leader()
    with lab_measurement(lab, tmp_path / "crash") as m:
        m.start()
        m.baseline(2)
        m.mark_inject("db-primary-crash")
        fault_id = runner.inject("db-primary-crash", {}, lab, log=elsewhere)
        try:
            assert IntentLog().pending() == []
            # at once, while the DCS still names the dead leader (the point of this test); measured meanwhile
            run = recovery.get("auto-failover").run(lab, {}, confirm=Confirmer(auto=True))
            recovered = m.wait_recovered(timeout=90)
            result = m.stop(targets=Targets(rto_s=60, rpo_s=0))
        finally:
            undo = runner.undo(fault_id, log=elsewhere)
    report(
        "db-primary-crash sync",
        rto_s=result.rto_s,
        lost=result.lost_writes,
        acked=result.acked_writes,
        rpo_s=result.rpo_s,
        old_leader=old,
        new_leader=lab.postgres_leader(),
        failover_procedure_s=round(run.duration_s, 2),
    )
    assert recovered and result.recovered
    assert result.lost_writes == 0 and result.acked_writes > 0
    assert result.rto_s > 5, "a leader crash that recovers at once means the fault did nothing"
    assert run.ok, "\n".join(s.line() for s in run.steps)
    assert run.steps[0].outcome.startswith("leader is pg-") and old not in run.steps[0].outcome
    assert run.steps[-1].confirmed_by == "auto-confirmed (CI)"
    assert undo.ok and "pg-" in undo.line(), undo.line()
    wait_healthy(lab, 90)  # the old leader rejoined as a replica
    assert {m["name"] for m in lab.postgres_members() if m["state"] == "streaming"} >= {old}
