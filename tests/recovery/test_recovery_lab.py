"""pitr, region-failover and region-failback on one real lab (sync mode, netns when root), in this order:

1. db-corruption with a writer running → pitr (whole database back to t_fault): the loads are back exactly,
   writes acknowledged before t_fault survive, writes between t_fault and the switch are lost, and the
   measured RPO is the gap between the last surviving write and the fault (within one write interval);
2. db-accidental-delete → pitr tables=loads (surgical): the loads are back, the writer loses nothing;
3. region-outage → region-failover: writes reach pg-dr through HAProxy; the fault undone → region-failback:
   the lab is healthy as after `lab up`, pg-a/b/c primary again, pg-dr a standby that receives a new row;
4. pitr again on the failed-back lab (new timeline, new base backup): the lab stays re-usable.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from faultlab_helpers import lab_session, report

from harness import recovery
from harness.faults import runner
from harness.lab.haproxy import APP_BACKEND, PG_PRIMARY_BACKEND
from harness.lab.topology import PRIMARY_ZONES, SPECS
from harness.measure import Measurement, Targets
from harness.measure.ledger import LocalLedger
from harness.recovery import Confirmer
from harness.recovery.pitr import leftover_instance_running
from harness.recovery.region import PRIMARY_DBS, dr_member
from harness.targets.local import LocalTarget

RATE = 20.0
INTERVAL = 1.0 / RATE


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def _loads(lab) -> list[tuple]:
    with psycopg.connect(lab.pg_dsn("primary"), autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute("SELECT id, payload::text, zone, created_at FROM loads ORDER BY id").fetchall()


def _acks(m: Measurement) -> dict[int, float]:
    """seq -> wall-clock time of the writer's acknowledgement, from the measurement's own ledger."""
    return {
        e["seq"]: m.clock.wall(e["t_ack"]) for e in LocalLedger.read(m.out_dir / "ledger.jsonl") if e["kind"] == "ack"
    }


def _attempts(m: Measurement) -> dict[int, float]:
    return {e["seq"]: e["client_ts"] for e in LocalLedger.read(m.out_dir / "ledger.jsonl") if e["kind"] == "attempt"}


def _step(run, prefix: str):
    return next(s for s in run.steps if s.title.startswith(prefix))


def _run(name: str, lab, params: dict[str, str]):
    run = recovery.get(name).run(lab, params, confirm=Confirmer(auto=True))
    assert run.ok, "\n".join(s.line() for s in run.steps)
    return run


def _measure(lab, tmp_path: Path, *probes: str) -> Measurement:
    target = LocalTarget.on(lab)
    m = Measurement(
        probes=[target.probe(p) for p in probes],
        writers=[target.writer("postgres", RATE)],
        interval=0.1,
        stable=2.0,
        out_dir=tmp_path / "measure",
    )
    m.start()
    m.baseline(2.0)
    return m


def test_pitr_after_corruption_restores_rows_and_loses_exactly_the_writes_after_the_fault(lab, intent_log, tmp_path):
    lab.wait_backup(180)
    LocalTarget.on(lab).book_loads(100)
    before = _loads(lab)
    m = _measure(lab, tmp_path, "app", "integrity")
    try:
        m.mark_inject("db-corruption")
        fid = runner.inject(
            "db-corruption", {"table": "loads", "statement": "UPDATE loads SET payload = '{}'"}, lab, log=intent_log
        )
        detail = intent_log.get(fid).detail
        assert _loads(lab) != before  # the damage is real
        time.sleep(1.0)  # the writer keeps writing after the fault: those writes are given up by the restore
        run = _run(
            "pitr", lab, {"old_t_fault": str(detail["t_fault"]), "old_table": "loads", "old_rows": str(detail["rows"])}
        )
        m.wait_recovered(120)
        result = m.stop(targets=Targets(rto_s=3600))
    finally:
        m.close()
    runner.undo(fid, log=intent_log)

    assert _loads(lab) == before, "the loads are not exactly what they were before the corruption"
    assert not leftover_instance_running(lab)
    assert not (lab.paths.component_dir("pitr")).exists()

    t_fault = detail["t_fault"]
    switch = _step(run, "switch to the recovered data")
    switch_end = switch.started_at + switch.duration_s
    acks, attempts = _acks(m), _attempts(m)
    writer = result.writers[0]
    lost = set(writer.lost_seqs)
    assert writer.lost_writes is not None and writer.unexpected_writes == 0
    before_fault = [s for s, t in acks.items() if t < t_fault]
    between = [s for s, t in acks.items() if attempts[s] > t_fault and t < switch.started_at]
    after_switch = [s for s in acks if attempts[s] > switch_end]
    assert before_fault and between and after_switch
    assert not lost & set(before_fault), "writes acknowledged before the fault were lost"
    assert set(between) <= lost, "writes made after the recovery point survived the restore"
    assert not lost & set(after_switch), "writes after the switch were lost"
    truth = t_fault - max(t for s, t in acks.items() if s < min(lost))
    assert abs(writer.rpo_s - max(0.0, truth)) <= INTERVAL + 0.01, (writer.rpo_s, truth)

    integrity = next(p for p in result.probes if p.name == "integrity")
    t_inject = m.clock.wall(m.t_inject)
    assert integrity.failures > 0 and integrity.recovered
    # The integrity probe comes back when the recovered data is committed: during the switch step.
    assert switch.started_at - t_inject - 0.5 <= integrity.recover_s <= switch_end - t_inject + 1.0, (
        integrity.recover_s,
        switch.started_at - t_inject,
        switch_end - t_inject,
    )
    report(
        "pitr db-corruption",
        rto_s=round(result.rto_s, 2),
        procedure_s=round(run.duration_s, 2),
        lost=writer.lost_writes,
        acked=writer.acked,
        rpo_s=round(writer.rpo_s, 3),
        truth_s=round(truth, 3),
    )


def test_pitr_surgical_restore_of_deleted_rows_keeps_every_other_write(lab, intent_log, tmp_path):
    before = _loads(lab)
    assert before
    m = _measure(lab, tmp_path, "integrity")
    try:
        m.mark_inject("db-accidental-delete")
        fid = runner.inject("db-accidental-delete", {"table": "loads", "where": "true"}, lab, log=intent_log)
        assert _loads(lab) == []
        run = _run("pitr", lab, {"fault": fid, "tables": "loads"})  # t_fault and table from the intent log
        m.wait_recovered(120)
        result = m.stop(targets=Targets(rto_s=3600))
    finally:
        m.close()
    runner.undo(fid, log=intent_log)
    assert _loads(lab) == before
    writer = result.writers[0]
    assert writer.lost_writes == 0 and writer.acked > 20
    assert "loads (" in _step(run, "switch to the recovered data").outcome
    report(
        "pitr db-accidental-delete tables=loads",
        rto_s=round(result.rto_s, 2),
        procedure_s=round(run.duration_s, 2),
        lost=writer.lost_writes,
        acked=writer.acked,
    )


def test_region_failover_serves_from_pg_dr_and_failback_restores_the_lab(lab, intent_log, tmp_path):
    m = _measure(lab, tmp_path, "app")
    try:
        m.mark_inject("region-outage")
        fid = runner.inject("region-outage", {}, lab, log=intent_log)
        failover = _run("region-failover", lab, {})

        # Writes through HAProxy's primary endpoint land in pg-dr.
        with psycopg.connect(lab.pg_dsn("primary"), autocommit=True) as conn:
            port, standby = conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
            conn.execute("CREATE TABLE IF NOT EXISTS drill_region (note text)")
            conn.execute("INSERT INTO drill_region VALUES ('written in DR')")
        assert port == SPECS["pg-dr"].ports["pg"] and not standby
        assert lab.haproxy_server_state(APP_BACKEND, "app-dr").startswith("UP")
        m.wait_recovered(300)
        result = m.stop(targets=Targets(rto_s=1800, rpo_s=900))
    finally:
        m.close()
    writer = result.writers[0]
    switched = _step(failover, "switch routing")
    acks = _acks(m)
    after = [s for s, t in acks.items() if t > switched.started_at + switched.duration_s]
    assert after, "no write acknowledged by the DR database"
    assert writer.lost_writes is not None and not set(writer.lost_seqs) & set(after)
    assert all(acks[s] < switched.started_at for s in writer.lost_seqs), "a loss after the routing switch"

    runner.undo(fid, log=intent_log)  # the primary region is back, with its old cluster out of rotation
    assert lab.haproxy_server_state(PG_PRIMARY_BACKEND, "pg-dr").startswith("UP")
    failback = _run("region-failback", lab, {})
    lab.wait_healthy(120)

    leader = lab.postgres_leader()
    assert leader in PRIMARY_DBS
    assert [
        sv for sv in PRIMARY_DBS + ["pg-dr"] if lab.haproxy_server_state(PG_PRIMARY_BACKEND, sv).startswith("UP")
    ] == [leader]
    assert lab.haproxy_server_state(APP_BACKEND, "app-dr").startswith("MAINT")
    assert all(lab.haproxy_server_state(APP_BACKEND, n).startswith("UP") for n in ("app-a", "app-b", "app-c"))
    member = dr_member(lab)
    assert member["role"] == "standby_leader" and member["state"] == "streaming"
    with psycopg.connect(lab.pg_dsn("primary"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM drill_region").fetchone()[0] == 1  # DR's write came back
        conn.execute("INSERT INTO drill_region VALUES ('written after failback')")
        port_after = conn.execute("SELECT inet_server_port()").fetchone()[0]
    assert port_after == SPECS[leader].ports["pg"]

    def on_dr() -> int:
        with psycopg.connect(lab.pg_dsn("dr"), autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM drill_region").fetchone()[0]

    deadline = time.monotonic() + 30
    while on_dr() != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert on_dr() == 2, "the DR standby does not receive new rows after the failback"
    assert {m["name"] for m in lab.postgres_members()} == set(PRIMARY_DBS)
    assert all(lab.components[n]["zone"] in PRIMARY_ZONES for n in PRIMARY_DBS)
    report(
        "region failover+failback",
        rto_s=round(result.rto_s, 2),
        failover_s=round(failover.duration_s, 2),
        failback_s=round(failback.duration_s, 2),
        lost=writer.lost_writes,
        acked=writer.acked,
        rpo_s=writer.rpo_s,
    )


def test_pitr_still_works_after_the_failback(lab, intent_log):
    before = _loads(lab)
    fid = runner.inject("db-accidental-delete", {"table": "loads", "where": "id % 2 = 0"}, lab, log=intent_log)
    _run("pitr", lab, {"fault": fid})
    runner.undo(fid, log=intent_log)
    assert _loads(lab) == before
    lab.wait_healthy(60)
