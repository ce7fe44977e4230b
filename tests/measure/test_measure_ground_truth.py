"""Accuracy against ground truth: a server that is down for exactly D seconds, in three failure modes.

t_recover is the START of the stable run, so the measured RTO must be D within one interval (the first
sample after the server is back can start up to one interval late) plus 10 ms of scheduling slack.
"""

from __future__ import annotations

import json
import threading

import pytest

from harness.measure import Measurement, Targets, parse_probe_spec

INTERVAL = 0.05
SLACK = 0.010


def measure_outage(server, tmp_path, mode: str, seconds: float, extra_probes=(), stable=1.0):
    probes = [parse_probe_spec(f"http={server.url}|contains=ok"), *map(parse_probe_spec, extra_probes)]
    with Measurement(probes=probes, interval=INTERVAL, stable=stable, out_dir=tmp_path) as m:
        m.start()
        m.baseline(0.5)
        t_inject = m.mark_inject(f"{mode} for {seconds} s")
        _, t_up = server.down(mode, seconds)
        assert m.wait_recovered(timeout=seconds + 15)
        samples = m.samples()
        result = m.stop(targets=Targets(rto_s=seconds + 1))
    measure_outage.stalls = {p.name: own_stall(samples[p.name], t_inject + p.recover_s) for p in result.probes}
    measure_outage.samples, measure_outage.t_inject = samples, t_inject
    measure_outage.stall = measure_outage.stalls[probes[0].name]
    return result, t_up - t_inject


def t_inject_of(result) -> float:
    return measure_outage.t_inject


def own_stall(series, t_recover: float) -> float:
    """How much later than one interval the first good sample came after the last failed one.

    On a shared 2-core machine our own process is sometimes descheduled for tens of ms; a sample then
    starts late (it is stamped with its real start, as it should be). That lateness is visible in the
    samples, so the accuracy bound below is one interval + 10 ms + this, and the stall itself is bounded.
    """
    before = [s.t for s in series if s.t < t_recover]
    return max(0.0, (t_recover - before[-1]) - INTERVAL) if before else 0.0


@pytest.mark.parametrize("seconds", [0.5, 1.5, 3.0])
@pytest.mark.parametrize("mode", ["refuse", "503", "hang"])
def test_rto_matches_a_known_outage(server, tmp_path, mode, seconds):
    result, truth = measure_outage(server, tmp_path, mode, seconds)
    # the server's own log says when it was really back; on a busy machine that can be a few ms after D
    assert truth == pytest.approx(seconds, abs=0.02)
    assert result.recovered and not result.no_outage_observed
    stall = measure_outage.stall
    assert stall < 0.1, f"the harness itself stalled {stall * 1000:.0f} ms"
    assert -SLACK <= result.rto_s - truth <= INTERVAL + SLACK + stall, (result.rto_s, truth, seconds, stall)
    assert 0 <= result.detect_s <= INTERVAL + SLACK
    # the stated uncertainty bounds the real error, and is (t_r - t_f) + L_r from the samples themselves
    assert abs(result.rto_s - truth) <= result.uncertainty_s + SLACK
    series = measure_outage.samples[result.probes[0].name]
    t_r = t_inject_of(result) + result.rto_s
    last_fail = max(s.t for s in series if not s.ok and s.t < t_r)
    first_good = next(s for s in series if s.t >= t_r - 1e-9)
    assert result.uncertainty_s == pytest.approx((first_good.t - last_fail) + first_good.latency_s, abs=1e-5)
    assert INTERVAL - SLACK <= result.uncertainty_s <= INTERVAL + 0.1 + stall
    [outage] = result.outages[result.probes[0].name]
    assert outage.end_s == pytest.approx(result.rto_s)
    assert result.verdict.passed and result.verdict.rto.margin_s == pytest.approx(seconds + 1 - result.rto_s, abs=1e-3)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["rto_s"] == pytest.approx(result.rto_s)
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (tmp_path / "samples.csv").read_text().splitlines()
    assert rows[0].startswith("t_s,wall,probe,ok") and len(rows) - 1 == sum(p.samples for p in result.probes)
    assert (tmp_path / "ledger.jsonl").exists()


def test_tcp_probe_sees_refusal_but_not_a_503(server, tmp_path):
    tcp = f"tcp=127.0.0.1:{server.port}"
    refused, truth = measure_outage(server, tmp_path / "refuse", "refuse", 1.0, [tcp])
    tcp_name = refused.probes[1].name
    stall = measure_outage.stalls[tcp_name]
    assert -SLACK <= refused.probes[1].recover_s - truth <= INTERVAL + SLACK + stall and stall < 0.1
    answered, _ = measure_outage(server, tmp_path / "503", "503", 1.0, [tcp])
    assert answered.outages[tcp_name] == [] and answered.probes[1].failures == 0


def test_hang_is_a_failure_not_a_missing_sample(server, tmp_path):
    result, _ = measure_outage(server, tmp_path, "hang", 1.0)
    probe = result.probes[0]
    assert "TimeoutError" in probe.last_error
    # one sample per interval kept coming during the hang: about 1.0 / 0.05 = 20 failures
    assert 17 <= probe.failures <= 22


def test_flapping_counts_only_the_final_stable_run(server, tmp_path):
    probes = [parse_probe_spec(f"http={server.url}")]
    with Measurement(probes=probes, interval=INTERVAL, stable=1.0, out_dir=tmp_path) as m:
        m.start()
        m.baseline(0.5)
        t_inject = m.mark_inject("flap")
        server.down("refuse", 0.6)
        m.wait_recovered(timeout=0.9)  # back up at 0.6 s, then briefly up for 0.4 s
        _, t_up = server.down("503", 0.5)  # down again at ~1.0 s until ~1.5 s
        assert m.wait_recovered(timeout=15)
        samples = m.samples()
        result = m.stop()
    truth = t_up - t_inject
    stall = own_stall(samples[probes[0].name], t_inject + result.rto_s)
    assert len(result.outages[probes[0].name]) == 2
    assert -SLACK <= result.rto_s - truth <= INTERVAL + SLACK + stall and stall < 0.1


def test_no_outage_observed_gives_rto_zero(server, tmp_path):
    with Measurement(
        probes=[parse_probe_spec(f"http={server.url}")], interval=INTERVAL, stable=0.5, out_dir=tmp_path
    ) as m:
        m.start()
        m.baseline(0.3)
        m.mark_inject("nothing")
        assert m.wait_recovered(timeout=5)
        result = m.stop(targets=Targets(rto_s=0))
    assert result.no_outage_observed and result.rto_s == 0.0 and result.detect_s is None
    assert result.verdict.passed and result.verdict.rto.margin_s == 0.0


def test_never_recovered_is_reported_as_such(server, tmp_path):
    with Measurement(
        probes=[parse_probe_spec(f"http={server.url}")], interval=INTERVAL, stable=0.5, out_dir=tmp_path
    ) as m:
        m.start()
        m.baseline(0.3)
        m.mark_inject("forever")
        server.down("503", "inf")
        assert m.wait_recovered(timeout=1.0) is False
        result = m.stop(targets=Targets(rto_s=60))
    assert not result.recovered and result.rto_s is None and result.rto_at_least_s >= 1.0
    assert not result.verdict.passed and result.verdict.rto.ok is False


def test_unhealthy_baseline_names_the_failing_probe(server, tmp_path):
    from harness.errors import TargetUnhealthy

    server.down("503", "inf")
    good = parse_probe_spec(f"ok@tcp=127.0.0.1:{server.port}")
    bad = parse_probe_spec(f"web@http={server.url}")
    threads_before = threading.active_count()
    with pytest.raises(TargetUnhealthy) as err:
        with Measurement(probes=[good, bad], interval=INTERVAL, out_dir=tmp_path) as m:
            m.start()
            m.baseline(0.3)
    # leaving the `with` on an exception still stopped the loop thread (and the probes' connections)
    assert not m._thread.is_alive() and threading.active_count() <= threads_before
    assert "(web)" in str(err.value) and "HTTP 503" in str(err.value) and "(ok)" not in str(err.value)
    assert "nothing was injected" in str(err.value)


def measure_slowness(server, tmp_path, latency: float, seconds: float, spec: str, interval: float = INTERVAL):
    """The server answers in exactly `latency` s for `seconds` s; the probe's budget/degraded come in `spec`."""
    with Measurement(probes=[parse_probe_spec(spec)], interval=interval, stable=1.0, out_dir=tmp_path) as m:
        m.start()
        m.baseline(0.5)
        t_inject = m.mark_inject(f"slow {latency} s for {seconds} s")
        _, t_up = server.down(f"slow:{latency}", seconds)
        assert m.wait_recovered(timeout=seconds + 15)
        import time

        time.sleep(max(0.0, t_up + latency + 0.5 - time.monotonic()))  # let the last slow answers land
        m.mark_fault_end()
        result = m.stop()
    return result, t_up - t_inject


# Slow is not down: a server answering in L seconds for D seconds, against the probe's latency budget.
@pytest.mark.parametrize("latency, expect", [(0.3, "degraded"), (0.08, "degraded-overlapping"), (1.5, "outage")])
def test_slowness_against_the_budget(server, tmp_path, latency, expect):
    seconds = 3.0
    spec = f"http={server.url}|budget=1|degraded=" + ("0.2" if latency == 0.3 else "0.06" if latency == 0.08 else "0.5")
    result, truth = measure_slowness(server, tmp_path, latency, seconds, spec)
    probe = result.probes[0]
    if expect == "outage":  # L above the budget: every sample in the window fails by timeout
        assert not result.no_outage_observed and result.recovered
        assert abs(result.rto_s - truth) <= result.uncertainty_s + SLACK, (result.rto_s, truth, result.uncertainty_s)
        # a check that started just before the server was back could still be answered late (L_r): the
        # uncertainty says so, bounded by the budget
        assert result.uncertainty_s <= INTERVAL + 1.0 + SLACK
        assert "TimeoutError" in probe.last_error
    else:  # L below the budget (above the interval too, for 0.08 s at 50 ms): up, but degraded for ~D
        assert result.no_outage_observed and result.rto_s == 0.0 and probe.failures == 0
        assert result.error_rate == 0.0
        # degraded from the first slow sample to the first fast one: D within one interval + the answer time
        assert abs(result.degraded_s - truth) <= INTERVAL + latency + SLACK, (result.degraded_s, truth)
        assert result.latency[probe.name].during.p50_ms == pytest.approx(latency * 1000, abs=30)
        if latency > INTERVAL:  # answers slower than the interval: checks overlapped, none was skipped
            assert probe.peak_in_flight >= 2 and probe.skipped_ticks == 0
            assert probe.max_in_flight == 21  # ceil(1 s / 50 ms) + 1
        # one sample per tick kept coming: the grid was honoured although answers took longer than a tick
        assert probe.samples >= (seconds + 1.5) / INTERVAL * 0.9


def test_interval_10ms_still_works(server, tmp_path):
    with Measurement(probes=[parse_probe_spec(f"http={server.url}")], interval=0.01, stable=0.5, out_dir=tmp_path) as m:
        m.start()
        m.baseline(0.3)
        t_inject = m.mark_inject("refuse 0.5 s")
        _, t_up = server.down("refuse", 0.5)
        assert m.wait_recovered(timeout=10)
        result = m.stop()
    assert abs(result.rto_s - (t_up - t_inject)) <= result.uncertainty_s + SLACK
