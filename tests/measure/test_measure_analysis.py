"""Analysis on synthetic sample streams with known answers (DESIGN.md "Measurement semantics")."""

from __future__ import annotations

import pytest

from harness.measure import analysis
from harness.measure.analysis import Targets
from harness.measure.ledger import classify
from harness.measure.sampler import Sample

DT = 0.05


def stream(name: str, until: float, bad: list[tuple[float, float]], start: float = 0.0) -> list[Sample]:
    """Samples every DT from `start` to `until`; failed inside any [a, b) of `bad`."""
    out, i = [], 0
    while (t := round(start + i * DT, 6)) < until:
        failed = any(a <= t < b for a, b in bad)
        out.append(Sample(name, t, not failed, 0.002 if not failed else 0.04, "refused" if failed else None))
        i += 1
    return out


def analyse(samples: dict, t_inject=1.0, t_end=None, stable=1.0):
    t_end = t_end if t_end is not None else max(s.t for v in samples.values() for s in v)
    return analysis.analyse_availability(samples, {}, t_inject, t_end, stable)


def test_no_outage_gives_rto_zero_and_says_so():
    a = analyse({"p": stream("p", 5.0, [])})
    assert a.rto_s == 0.0 and a.no_outage_observed and a.recovered
    assert a.detect_s is None and a.outages == {"p": []} and a.error_rate == 0.0


def test_single_outage_known_answer():
    a = analyse({"p": stream("p", 6.0, [(1.5, 3.0)])})
    assert a.recovered and not a.no_outage_observed
    assert a.rto_s == pytest.approx(2.0)  # first good sample at 3.0, inject at 1.0
    assert a.detect_s == pytest.approx(0.5)
    [w] = a.outages["p"]
    assert (w.start_s, w.end_s) == (pytest.approx(0.5), pytest.approx(2.0))
    # during = [1.0, 3.0): 10 good (1.0..1.45) + 30 failed (1.5..2.95)
    assert a.samples_during == 40 and a.error_rate == pytest.approx(30 / 40)
    assert a.latency["p"].during.n == 10 and a.latency["p"].after.p50_ms == pytest.approx(2.0)


def test_flapping_recovery_shorter_than_stability_window_does_not_count():
    # up again at 3.0 for 0.5 s only (< stable 1.0), down again 3.5-4.0, then up for good
    a = analyse({"p": stream("p", 7.0, [(1.5, 3.0), (3.5, 4.0)])})
    assert a.rto_s == pytest.approx(3.0)  # 4.0 - 1.0, not 2.0
    assert len(a.outages["p"]) == 2


def test_never_recovered():
    a = analyse({"p": stream("p", 5.0, [(1.5, 99)])})
    assert not a.recovered and a.rto_s is None and a.rto_at_least_s == pytest.approx(5.0 - DT - 1.0)
    assert a.outages["p"][0].end_s is None
    v = analysis.verdict(Targets(rto_s=100), a.rto_s, None)
    assert not v.passed and v.rto.measured_s is None and not v.rto.ok


def test_good_run_at_the_end_too_short_is_not_recovered():
    a = analyse({"p": stream("p", 3.5, [(1.5, 3.0)])}, stable=1.0)  # only 0.45 s good at the end
    assert not a.recovered and a.rto_s is None


def test_failures_before_inject_are_not_the_outage():
    a = analyse({"p": stream("p", 5.0, [(0.2, 0.4)])})
    assert a.no_outage_observed and a.rto_s == 0.0 and a.probes[0].failures_before_inject == 4


def test_several_probes_rto_is_the_slowest_and_detect_the_fastest():
    a = analyse({"a": stream("a", 7.0, [(1.2, 2.0)]), "b": stream("b", 7.0, [(1.6, 4.0)])})
    assert a.rto_s == pytest.approx(3.0) and a.detect_s == pytest.approx(0.2)
    assert {p.name: p.recover_s for p in a.probes} == {"a": pytest.approx(1.0), "b": pytest.approx(3.0)}


def test_is_stable_needs_a_full_window_even_without_failures():
    s = stream("p", 1.5, [])
    assert not analysis.is_stable(s, t_inject=1.0, stable=1.0)
    assert analysis.is_stable(stream("p", 2.1, []), t_inject=1.0, stable=1.0)


def test_percentiles_are_nearest_rank():
    p = analysis.percentiles([i / 1000 for i in range(1, 101)])
    assert (p.n, p.p50_ms, p.p99_ms) == (100, 50.0, 99.0)


def test_classify_lost_unexpected_indeterminate():
    c = classify(attempted={1, 2, 3, 4, 5}, acked={1, 2, 3, 4}, present={1, 2, 5, 77})
    assert c.lost == [3, 4] and c.unexpected == [77] and c.indeterminate == [5] and c.indeterminate_present == [5]


def test_rpo_is_inject_minus_last_durable_ack():
    acks = {seq: 10.0 + seq * 0.05 for seq in range(1, 101)}  # ack of seq n at 10 + n/20
    rpo, window = analysis.writer_rpo(acks, 10.0, lost=[61, 62, 70], t_inject=14.0)
    assert rpo == pytest.approx(14.0 - acks[60])  # last durable = seq 60
    assert window.first_s == pytest.approx(acks[61] - 14.0) and window.last_s == pytest.approx(acks[70] - 14.0)
    assert analysis.writer_rpo(acks, 10.0, lost=[], t_inject=14.0) == (0.0, None)
    # nothing durable before the first loss: measured from the writer's start
    assert analysis.writer_rpo(acks, 9.5, lost=[1], t_inject=14.0)[0] == pytest.approx(4.5)


def test_verdict_margins_either_way():
    v = analysis.verdict(Targets(rto_s=30, rpo_s=1), rto_s=21.5, rpo_s=2.5)
    assert v.rto.ok and v.rto.margin_s == pytest.approx(8.5)
    assert not v.rpo.ok and v.rpo.margin_s == pytest.approx(-1.5) and not v.passed
    assert analysis.verdict(None, 1.0, 1.0) is None


def test_combine_writers_unknown_readback_is_not_zero():
    ok = analysis.writer_result(
        "a", "a", 20, {1: 1.0, 2: 1.1}, {1: 1.01, 2: 1.11}, classify({1, 2}, {1, 2}, {1}), None, t_inject=1.5
    )
    failed = analysis.writer_result("b", "b", 20, {1: 1.0}, {1: 1.01}, None, "connection refused", 1.5)
    assert ok.lost_writes == 1 and ok.rpo_s == pytest.approx(1.5 - 1.01)
    combined = analysis.combine_writers([ok, failed])
    assert combined["rpo_s"] is None and combined["lost_writes"] is None
    assert analysis.verdict(Targets(rpo_s=10), None, combined["rpo_s"]).passed is False


def slow_stream(name: str, until: float, slow: tuple[float, float], latency: float, threshold: float) -> list[Sample]:
    """Good samples every DT; inside [a, b) they answer in `latency` s, degraded when above `threshold`."""
    out, i = [], 0
    while (t := round(i * DT, 6)) < until:
        lat = latency if slow[0] <= t < slow[1] else 0.002
        out.append(Sample(name, t, True, lat, degraded=lat > threshold))
        i += 1
    return out


def test_slow_is_not_down_degraded_windows_and_their_union():
    a = analysis.analyse_availability(
        {"p": slow_stream("p", 8.0, (2.0, 5.0), 0.3, 0.1), "q": slow_stream("q", 8.0, (4.0, 6.0), 0.3, 0.1)},
        {},
        1.0,
        8.0,
        1.0,
        interval=DT,
        t_fault_end=6.0,
    )
    assert a.no_outage_observed and a.rto_s == 0.0 and a.error_rate == 0.0
    [wp] = a.degraded_windows["p"]
    assert (wp.start_s, wp.end_s) == (pytest.approx(1.0), pytest.approx(4.0))
    assert a.degraded_s == pytest.approx(5.0 - 1.0)  # p 2..5 and q 4..6 overlap: union 2..6 = 4 s
    [pp] = [p for p in a.probes if p.name == "p"]
    assert pp.degraded_s == pytest.approx(3.0) and pp.degraded_samples == 60 and pp.failures == 0
    # "during" runs to the fault's end although nothing failed: p50 of p during [1, 6) is the slow answer
    assert a.latency["p"].during.p50_ms == pytest.approx(300.0) and a.latency["p"].during.p95_ms == pytest.approx(300.0)
    # no outage: U = interval + the longest answer after t_inject
    assert a.uncertainty_s == pytest.approx(DT + 0.3)


def test_uncertainty_is_the_gap_plus_the_answer_time_of_the_sample_that_ended_the_outage():
    series = stream("p", 6.0, [(1.5, 3.0)])
    i = next(k for k, s in enumerate(series) if s.t >= 3.0)
    series[i] = Sample("p", series[i].t, True, 0.7)  # the first good sample answered late
    a = analysis.analyse_availability({"p": series}, {}, 1.0, 6.0, 1.0, interval=DT)
    assert a.rto_s == pytest.approx(2.0) and a.uncertainty_s == pytest.approx(DT + 0.7)


def test_a_witness_is_reported_beside_the_rto_and_a_disagreement_warned():
    own = stream("app", 10.0, [(1.5, 3.0)])
    agree = stream("prom", 10.0, [(2.0, 3.5)])
    late = stream("prom", 10.0, [(2.0, 7.0)])
    info = {"prom": analysis.ProbeInfo(spec="prometheus=x", witness=True, resolution_s=1.0)}
    a = analysis.analyse_availability({"app": own, "prom": agree}, info, 1.0, 10.0, 1.0, interval=DT)
    assert a.rto_s == pytest.approx(2.0) and [p.name for p in a.probes] == ["app"]  # the witness is not the RTO
    [w] = a.witnesses
    assert w.recover_s == pytest.approx(2.5) and w.resolution_s == 1.0 and w.uncertainty_s >= 1.0 + DT
    assert a.warnings == []  # 0.5 s apart, within the combined uncertainty
    b = analysis.analyse_availability({"app": own, "prom": late}, info, 1.0, 10.0, 1.0, interval=DT)
    assert b.rto_s == pytest.approx(2.0) and len(b.warnings) == 1 and "disagrees" in b.warnings[0]
