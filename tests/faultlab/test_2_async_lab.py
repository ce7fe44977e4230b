"""Async replication: replication lag then a leader crash loses acknowledged writes, and the harness says so."""

from __future__ import annotations

import time

import pytest
from faultlab_helpers import lab_measurement, lab_session, report, wait_healthy

from harness.faults import runner
from harness.measure import Targets


@pytest.fixture(scope="module")
def lab():
    """The session's shared sync lab switched to asynchronous replication (Patroni's dynamic configuration,
    as `drill lab up --db-replication async` bootstraps it), and back to sync after the module: no lab of its
    own to start and stop (~25 s)."""
    for shared in lab_session("sync"):
        previous = shared.set_replication("async")
        try:
            yield shared
        finally:
            shared.set_replication(previous)


def test_async_lag_then_primary_crash_loses_acknowledged_writes(lab, tmp_path):
    with lab_measurement(lab, tmp_path / "async") as m:
        m.start()
        m.baseline(2)
        lag = runner.inject("db-replication-lag", {"seconds": 60}, lab)
        m.mark_event("walsenders frozen")
        time.sleep(2.0)
        m.mark_inject("db-primary-crash")
        crash = runner.inject("db-primary-crash", {}, lab)
        recovered = m.wait_recovered(timeout=90)
        result = m.stop(targets=Targets(rpo_s=0))
    undos = [runner.undo(crash), runner.undo(lag)]
    report(
        "async lag 2s + crash",
        rto_s=result.rto_s,
        rpo_s=result.rpo_s,
        lost=result.lost_writes,
        acked=result.acked_writes,
        verdict_passed=result.verdict.passed,
    )
    assert recovered
    assert result.lost_writes > 0, "async replication + lag + crash must lose acknowledged writes"
    assert result.rpo_s > 0
    assert result.verdict.rpo is not None and not result.verdict.rpo.ok and not result.verdict.passed
    assert all(u.ok for u in undos)
    wait_healthy(lab, 90)
