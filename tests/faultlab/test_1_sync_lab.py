"""Lab faults on a real sync-mode lab (netns): partition (and the DR standby's fork), crash-and-recover, bad input."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from faultlab_helpers import drill, lab_session, report, wait_healthy

from harness.faults import runner
from harness.lab import postgres
from harness.lab.topology import PG_SUPERUSER


@pytest.fixture(scope="module")
def lab():
    yield from lab_session("sync")


def test_unknown_fault_or_zone_is_one_clear_error_and_injects_nothing(lab, intent_log):
    before = intent_log.path.read_bytes() if intent_log.path.exists() else b""
    leader = lab.postgres_leader()
    bad_name = drill("fault", "inject", "db-primary-crsh")
    bad_zone = drill("fault", "inject", "az-outage", "zone=az-q")
    assert bad_name.returncode == 2 and "unknown fault 'db-primary-crsh'" in bad_name.stderr
    assert "did you mean 'db-primary-crash'" in bad_name.stderr
    assert bad_zone.returncode == 2 and "zone" in bad_zone.stderr and "az-q" in bad_zone.stderr
    assert "Traceback" not in bad_name.stderr + bad_zone.stderr
    assert (intent_log.path.read_bytes() if intent_log.path.exists() else b"") == before
    assert lab.postgres_leader() == leader


# The sync-mode crash measured with a writer (no acknowledged write lost, a real outage, auto-failover, the
# old leader back as a replica) is asserted in recovery/test_failover_by_hand.py, on the crash that test
# already makes: one ~30 s failover instead of two.
# The AZ outage of the leader's zone (kill -9 of every process in it: a new primary in another zone, nothing
# isolated after the undo, the lab healthy again) is asserted on the smoke drill's own AZ scenario, in
# drills/test_drill_run.py: one such outage in the suite instead of two.


def test_network_partition_isolating_the_leader_zone_demotes_it_and_it_rejoins(lab):
    """Also the DR standby's fork (seen once on CI): pg-dr follows the primary cluster through HAProxy, so it
    receives WAL the cut-off leader writes before it demotes, WAL the new leader never gets. Written here on
    purpose, that makes pg-dr ahead of the new timeline's fork point every time. With Patroni's pg_rewind of
    the DR cluster switched off and pg-dr restarted past the fork (CI's state: PostgreSQL refuses to start,
    "requested timeline N is not a child of this server's history"), the lab's health wait re-clones it."""
    with _dr_rewind_off(lab):
        _partition_the_leader_zone_then_heal(lab)


def _partition_the_leader_zone_then_heal(lab) -> None:
    old = lab.postgres_leader()
    zone = lab.components[old]["zone"]
    others = [z for z in ("az-a", "az-b", "az-c") if z != zone]
    old_timeline = _timeline_of(lab, old)
    ids = [runner.inject("network-partition", {"a": zone, "b": other}, lab) for other in others]
    try:
        assert len(lab.network.partitions()["partitions"]) == 2
        dr_received = _write_on_the_cut_off_leader(lab, old)
        deadline, new = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            new = lab.postgres_leader()
            if new and new != old:
                break
            time.sleep(0.5)
        t_new = time.monotonic()
        assert new and new != old, "no new leader while the old leader's zone was cut off"
        # Asked of the majority side: the cut-off node's own REST API may still serve its stale view of the
        # cluster, in which it is leader; whether it *acts* as one is what /primary on the node itself says.
        view = postgres.cluster_view(lab.ctx, others) or {}
        roles = {m["name"]: m["role"] for m in view.get("members", [])}
        assert roles.get(new) == "leader" and roles.get(old) != "leader", f"{old} still holds leadership: {roles}"
        still_primary = time.monotonic() + 10  # no split brain: the cut-off node has demoted itself (or does now)
        while postgres.answers_as_primary(lab.ctx, old, timeout=2.0):
            assert time.monotonic() < still_primary, f"{old} still answers as primary 10 s after {new} was elected"
            time.sleep(0.5)
    finally:
        undos = [runner.undo(i) for i in reversed(ids)]
    assert all(u.ok for u in undos)
    assert lab.network.partitions()["partitions"] == []
    fork = _fork_point(lab, old_timeline)
    assert dr_received > fork, f"pg-dr received {dr_received}, the new timeline forks at {fork}"
    lab.stop_component("pg-dr", timeout=60)  # its shutdown restart point lands past the fork
    assert postgres.dr_fork(lab.ctx), "pg-dr's control file is not past the fork"
    lab.start_component("pg-dr")
    t_heal = time.monotonic()
    wait_healthy(lab, 150)  # Patroni cannot rewind pg-dr: the lab re-clones it
    members = {m["name"]: m for m in lab.postgres_members()}
    report(
        "network-partition",
        zone=zone,
        old_leader=old,
        new_leader=new,
        healed_after_s=round(t_heal - t_new, 1),
        healthy_with_dr_recloned_s=round(time.monotonic() - t_heal, 1),
    )
    assert members[old]["state"] == "streaming" and members[old]["role"] != "leader"
    assert postgres.dr_fork(lab.ctx) is None
    dr = {m["name"]: m for m in (postgres.cluster_view(lab.ctx, ["dr"]) or {}).get("members", [])}["pg-dr"]
    assert dr["role"] == "standby_leader" and dr["state"] == "streaming", dr
    with psycopg.connect(lab.pg_dsn("dr", user=PG_SUPERUSER, db="postgres"), autocommit=True) as conn:
        streamed = conn.execute("SELECT received_tli FROM pg_stat_wal_receiver").fetchone()
    assert streamed == (members[new]["timeline"],) and streamed[0] > old_timeline, (streamed, members[new])
    # the re-clone bootstrapped the DR cluster anew, its configuration too: Patroni's rewind is on again
    assert _dr_config(lab)["postgresql"]["use_pg_rewind"] is True


@contextlib.contextmanager
def _dr_rewind_off(lab):
    """Patroni's pg_rewind of the DR standby off (the DR cluster's dynamic configuration), on again after."""
    _patch_dr_config(lab, {"postgresql": {"use_pg_rewind": False}})
    try:
        yield
    finally:
        try:
            _patch_dr_config(lab, {"postgresql": {"use_pg_rewind": True}})
        except (httpx.HTTPError, AssertionError):
            pass  # pg-dr down: a re-clone bootstraps its configuration with rewind on


def _patch_dr_config(lab, patch: dict) -> None:
    r = httpx.patch(f"{lab.patroni_url('pg-dr')}/config", json=patch, timeout=5)
    assert r.status_code == 200, r.text


def _fork_point(lab, timeline: int, timeout: float = 30.0) -> int:
    """Where the primary's history says `timeline` ended (a node answering as primary; polled: a REST call
    can miss its 0.5 s budget on a loaded box)."""
    deadline = time.monotonic() + timeout
    while (fork := (postgres.primary_history(lab.ctx) or {}).get(timeline)) is None:
        assert time.monotonic() < deadline, f"no primary history with timeline {timeline} after {timeout:.0f} s"
        time.sleep(0.2)
    return fork


def _timeline_of(lab, member: str) -> int:
    return next(m["timeline"] for m in lab.postgres_members() if m["name"] == member)


def _dr_config(lab) -> dict:
    return httpx.get(f"{lab.patroni_url('pg-dr')}/config", timeout=5).json()


def _write_on_the_cut_off_leader(lab, old: str) -> int:
    """WAL on the cut-off leader while it still acts as primary (non-transactional messages: nothing waits for
    the sync standby on the other side of the cut); the LSN pg-dr has received once it stops."""
    emitted, received = 0, 0
    deadline = time.monotonic() + 15
    with psycopg.connect(lab.pg_dsn("dr", user=PG_SUPERUSER, db="postgres"), autocommit=True) as dr:
        try:
            with psycopg.connect(lab.pg_dsn(old, user=PG_SUPERUSER, db="postgres"), autocommit=True) as conn:
                while time.monotonic() < deadline:
                    conn.execute("SELECT pg_logical_emit_message(false, 'drill-test', 'cut-off leader')")
                    if not emitted:  # a checkpoint record past the fork: pg-dr's next restart point lies there
                        conn.execute("CHECKPOINT")
                    emitted += 1
                    time.sleep(0.1)
        except psycopg.OperationalError:
            pass  # Patroni demoted it: its connections are closed
        assert emitted > 0, "the cut-off leader accepted nothing"
        stop = time.monotonic() + 5  # what the old leader flushed reaches pg-dr within ms; walwriter 200 ms
        while time.monotonic() < stop:
            lsn = dr.execute("SELECT pg_last_wal_receive_lsn()::text").fetchone()[0]
            received = max(received, postgres.lsn_value(lsn)) if lsn else received
            time.sleep(0.2)
    return received


HOLDER = """
import sys, time
from harness.faults import runner
from harness.lab import Lab
lab = Lab.load()
runner.inject("db-replication-lag", {"seconds": 600}, lab)
runner.inject("network-partition", {"a": "az-b", "b": "az-c"}, lab)
runner.inject("db-primary-freeze", {"seconds": 600}, lab)
print("ready", flush=True)
time.sleep(600)
"""


def test_kill9_of_the_fault_holder_then_drill_recover_heals_the_lab(lab, intent_log):
    leader = lab.postgres_leader()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        pending = {i.fault for i in intent_log.pending()}
        assert pending == {"db-replication-lag", "network-partition", "db-primary-freeze"}
        assert _state(lab.postmaster_pid(leader)) == "T"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
    out = drill("recover")
    assert out.returncode == 0, out.stdout + out.stderr
    assert intent_log.pending() == []
    assert _state(lab.postmaster_pid(lab.postgres_leader() or leader)) != "T"
    assert lab.network.partitions()["partitions"] == []
    wait_healthy(lab, 90)
    time.sleep(0.6)  # the undo timers poll every 0.25 s and exit once their fault is undone
    timers = subprocess.run(["pgrep", "-f", "harness.faults.runner undo-after"], capture_output=True, text=True)
    assert timers.stdout.strip() == ""
    report("kill -9 holder + drill recover", recover_output=out.stdout.count("undone"))


def _state(pid) -> str:
    from harness.faults.undo import read_stat

    return (read_stat(pid) or {}).get("state", "") if pid else ""
