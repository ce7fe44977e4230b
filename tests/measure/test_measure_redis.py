"""The write ledger against a real redis-server, directly and through Sentinel discovery."""

from __future__ import annotations

import time

from harness.measure import Measurement, Targets, parse_probe_spec, parse_writer_spec

RATE = 20.0


def test_redis_lost_writes_and_rpo(redis_server, tmp_path):
    window = 1.0
    with Measurement(
        probes=[parse_probe_spec(f"redis={redis_server.url}")],
        writers=[parse_writer_spec(f"redis={redis_server.url}", rate=RATE)],
        interval=0.05,
        stable=0.5,
        out_dir=tmp_path,
    ) as m:
        m.start()
        m.baseline(0.5)
        time.sleep(window + 0.5)
        t_inject = m.mark_inject("drop the last second of writes")
        cutoff = m.clock.wall(t_inject) - window
        key = f"drill_ledger:{m.run_id}"
        client = redis_server.client()
        doomed = sorted(int(x) for x in client.zrangebyscore(key, f"({cutoff}", "+inf"))
        client.zrem(key, *map(str, doomed))
        assert m.wait_recovered(timeout=10)
        result = m.stop(targets=Targets(rpo_s=window + 0.5))
    assert result.writers[0].lost_seqs == doomed and len(doomed) >= window * RATE * 0.8
    assert abs(result.rpo_s - window) <= 1 / RATE
    assert result.verdict.passed and result.unexpected_writes == 0


def test_sentinel_url_discovers_the_master(redis_server, tmp_path):
    url = redis_server.sentinel_url
    with Measurement(
        probes=[parse_probe_spec(f"redis={url}")],
        writers=[parse_writer_spec(f"redis={url}")],
        interval=0.05,
        stable=0.5,
        out_dir=tmp_path,
    ) as m:
        m.start()
        m.baseline(1.0)
        m.mark_inject("nothing")
        assert m.wait_recovered(timeout=10)
        result = m.stop()
    # the rows really went to the master Sentinel named
    stored = redis_server.client().zcard(f"drill_ledger:{result.run_id}")
    assert result.acked_writes >= 20 and stored == result.writers[0].present >= result.acked_writes
    assert result.lost_writes == 0 and result.no_outage_observed and result.probes[0].failures == 0
