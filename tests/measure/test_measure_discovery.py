"""Discovery through a list of members survives a member that accepts connections and never answers (what
a frozen or blackholed Sentinel / PostgreSQL host looks like to a client): each member gets a fraction of
the budget, the one that answered is asked first next time, and it is named in the samples."""

from __future__ import annotations

import socket

import pytest

from harness.measure import Measurement, parse_probe_spec


@pytest.fixture
def silent_member():
    """A listener that never accepts: the kernel completes the TCP handshake, then nothing ever answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def sample_for(tmp_path, spec: str, seconds: float = 1.5):
    with Measurement(probes=[parse_probe_spec(spec)], interval=0.05, stable=0.5, out_dir=tmp_path) as m:
        m.start()
        m.baseline(seconds)
        samples = m.samples()[m.probe_specs[0].name]
        m.mark_inject("nothing")
        m.wait_recovered(timeout=5)
        result = m.stop()
    return samples, result


def test_a_silent_first_sentinel_costs_a_fraction_of_the_budget(redis_server, silent_member, tmp_path):
    url = f"redis+sentinel://127.0.0.1:{silent_member},127.0.0.1:{redis_server.sentinel_port}/drillmaster"
    samples, result = sample_for(tmp_path, f"cache@redis={url}|budget=0.5")
    # the baseline passed: no sample failed although the first Sentinel listed never answers
    assert samples and all(s.ok for s in samples)
    # after the first discovery the answering Sentinel is asked first: answers are fast again
    assert max(s.latency_s for s in samples[len(samples) // 2 :]) < 0.5 / 3
    assert f"via sentinel 127.0.0.1:{redis_server.sentinel_port}" in result.probes[0].last_member


def test_a_silent_first_postgres_host_is_skipped_within_the_budget(postgres, silent_member, tmp_path):
    dsn = (
        f"host=127.0.0.1,127.0.0.1 port={silent_member},{postgres.port} dbname=postgres user=drill "
        f"password={postgres.password}"
    )
    samples, result = sample_for(tmp_path, f"db@postgres={dsn}|budget=0.5")
    assert samples and all(s.ok for s in samples)
    assert result.probes[0].last_member == f"127.0.0.1:{postgres.port}"
    assert postgres.password not in result.model_dump_json()


def test_one_silent_member_alone_is_a_failed_sample_at_the_budget(silent_member, tmp_path):
    url = f"redis+sentinel://127.0.0.1:{silent_member}/drillmaster"
    from harness.errors import TargetUnhealthy

    with pytest.raises(TargetUnhealthy, match="no sample completed|samples failed"):
        sample_for(tmp_path, f"cache@redis={url}|budget=0.3", seconds=0.6)
