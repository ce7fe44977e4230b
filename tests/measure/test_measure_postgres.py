"""The write ledger against a real PostgreSQL 15: exact lost counts, RPO, unexpected and indeterminate rows."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from measure_helpers import free_port

from harness.errors import TargetUnhealthy
from harness.measure import Measurement, Targets, parse_probe_spec, parse_writer_spec

RATE = 20.0


def postgres_pids(pg) -> list[int]:
    postmaster = int((pg.datadir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True, text=True)
    return [postmaster, *map(int, children.stdout.split())]


@pytest.mark.parametrize("window", [1.0, 2.0])
def test_deleting_the_last_w_seconds_is_measured_exactly(postgres, tmp_path, window):
    writer = parse_writer_spec(f"postgres={postgres.dsn}", rate=RATE)
    with Measurement(
        probes=[parse_probe_spec(f"postgres={postgres.dsn}")],
        writers=[writer],
        interval=0.05,
        stable=0.5,
        out_dir=tmp_path,
    ) as m:
        m.start()
        m.baseline(0.5)
        time.sleep(window + 0.5)  # enough acknowledged history to lose W seconds of it
        t_inject = m.mark_inject(f"delete rows acknowledged in the last {window} s")
        cutoff = m.clock.wall(t_inject) - window
        deleted = postgres.sql(
            "DELETE FROM drill_ledger WHERE run_id = %s AND client_ts > to_timestamp(%s) RETURNING seq",
            (m.run_id, cutoff),
        )
        time.sleep(0.5)
        assert m.wait_recovered(timeout=10)
        result = m.stop(targets=Targets(rto_s=5, rpo_s=window + 0.5))
    deleted = sorted(row[0] for row in deleted)
    w = result.writers[0]
    assert len(deleted) >= window * RATE * 0.8  # the fault really removed about W s of writes
    assert w.lost_seqs == deleted and result.lost_writes == len(deleted)
    assert abs(result.rpo_s - window) <= 1 / RATE, (result.rpo_s, window)
    # first lost ack: attempted within one write interval after the cutoff, acked a few ms later
    assert -window - 0.005 <= result.lost_window.first_s <= -window + 1 / RATE + 0.02
    assert result.lost_window.last_s <= 0.05
    assert w.unexpected_writes == 0 and w.acked > len(deleted)
    assert result.no_outage_observed and result.verdict.passed and result.verdict.rpo.margin_s > 0
    # the artefacts never hold the password
    for name in ("result.json", "samples.csv", "ledger.jsonl"):
        assert postgres.password not in (tmp_path / name).read_text()
    assert "drill:***@" in (tmp_path / "result.json").read_text()


def test_nothing_lost_gives_rpo_zero_and_rows_it_never_wrote_are_unexpected(postgres, tmp_path):
    writer = parse_writer_spec(f"postgres={postgres.dsn}", rate=RATE)
    with Measurement(
        probes=[parse_probe_spec(f"tcp=127.0.0.1:{postgres.port}")],
        writers=[writer],
        interval=0.05,
        stable=0.5,
        out_dir=tmp_path,
    ) as m:
        m.start()
        m.baseline(0.5)
        m.mark_inject("a stranger writes into our run")
        postgres.sql("INSERT INTO drill_ledger (run_id, seq, client_ts) VALUES (%s, 999999, now())", (m.run_id,))
        assert m.wait_recovered(timeout=10)
        result = m.stop(targets=Targets(rpo_s=0))
    assert result.rpo_s == 0.0 and result.lost_writes == 0 and result.lost_window is None
    assert result.unexpected_writes == 1 and result.writers[0].unexpected_seqs == [999999]
    stored = postgres.sql("SELECT count(*) FROM drill_ledger WHERE run_id = %s", (result.run_id,))[0][0]
    assert stored == result.writers[0].present == result.acked_writes + 1 + result.writers[0].indeterminate_present


def test_frozen_server_is_an_outage_and_unanswered_writes_are_indeterminate(postgres, tmp_path):
    writer = parse_writer_spec(f"postgres={postgres.dsn}", rate=RATE)
    with Measurement(
        probes=[parse_probe_spec(f"postgres={postgres.dsn}")],
        writers=[writer],
        interval=0.05,
        stable=0.5,
        out_dir=tmp_path,
        write_timeout=0.3,
    ) as m:
        m.start()
        m.baseline(0.5)
        pids = postgres_pids(postgres)  # now, so the probe's and writer's backends are frozen too
        t_inject = m.mark_inject("SIGSTOP postgres for 1.5 s")
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(1.5)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        t_thaw = m.mark_event("SIGCONT")
        assert m.wait_recovered(timeout=20)
        result = m.stop()
    w = result.writers[0]
    # a hung query is a failed sample: the probe saw the freeze; it answers again soon after the thaw
    assert result.detect_s is not None and result.detect_s <= 0.06
    # A check that started in the last budget (0.5 s) before the thaw is answered within its budget after
    # it: to a client with that timeout the service was up then. The stated uncertainty covers the gap to
    # the server's own state (the answer time of the sample that ended the outage).
    frozen = t_thaw - t_inject
    assert frozen - 0.5 - 0.06 <= result.rto_s <= frozen + 0.5
    assert frozen - result.rto_s <= result.uncertainty_s + 0.06, (frozen, result.rto_s, result.uncertainty_s)
    assert w.indeterminate_writes >= 1 and w.lost_writes == 0 and w.acked > 0
    assert w.failed == w.indeterminate_writes


def test_writer_that_cannot_connect_fails_the_baseline(tmp_path):
    dead = f"postgresql://drill:pw@127.0.0.1:{free_port()}/postgres"
    with Measurement(probes=[], writers=[parse_writer_spec(f"postgres={dead}")], interval=0.05, out_dir=tmp_path) as m:
        m.start()
        with pytest.raises(TargetUnhealthy) as err:
            m.baseline(0.5)
    assert "--writer postgres=postgresql://drill:***@" in str(err.value) and ":pw@" not in str(err.value)
