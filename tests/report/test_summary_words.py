"""The result table's verdict word comes from the typed field the Then-step writes (Checked.breach), never
from the text of the failure message (issue 15); the words themselves are unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.drills import checks, summary
from harness.drills.scenario import DrillScenario
from harness.measure.result import MeasurementResult


def _result(**over) -> MeasurementResult:
    base = dict(
        run_id="r1",
        t_inject_wall="2026-12-01T10:00:00+00:00",
        started_wall="2026-12-01T09:59:55+00:00",
        ended_wall="2026-12-01T10:01:00+00:00",
        interval_s=0.05,
        probe_timeout_s=1.0,
        uncertainty_s=0.09,
        stable_s=2.0,
        recovered=True,
        no_outage_observed=False,
        rto_s=30.0,
        detect_s=0.05,
        outages={},
        error_rate=0.5,
        samples_during=100,
        latency={},
        degraded_s=0.0,
        rpo_s=None,
        lost_writes=None,
        acked_writes=0,
        attempted_writes=0,
        unexpected_writes=None,
        indeterminate_writes=0,
        lost_window=None,
        probes=[],
        writers=[],
        events=[],
    )
    return MeasurementResult(**{**base, **over})


def _judged(tmp_path: Path, step, *args, **result) -> dict:
    """Run a real Then-step judgement on a real DrillScenario holding `result`; the scenario's summary."""
    drill = DrillScenario(name="s", target=None, out_dir=tmp_path)
    drill.result = _result(**result)
    with pytest.raises(AssertionError):
        step(drill, *args)
    return {**drill.summary(), "status": "failed", "message": "the step's text is not read"}


@pytest.mark.parametrize(
    ("step", "args", "result", "word"),
    [
        (checks.recovered_within, (10.0,), {}, "RTO BREACHED"),
        (checks.error_rate_below, (5.0,), {"rto_s": 1.0}, "ERROR RATE BREACHED"),
        (checks.stays_up, (1.0,), {"no_outage_observed": True, "rto_s": 0.0, "degraded_s": 4.0}, "DEGRADED TOO LONG"),
        (checks.stays_up, (1.0,), {}, "RTO BREACHED"),
        (checks.p99_during_below, (100.0,), {}, "LATENCY BREACHED"),
    ],
)
def test_the_word_is_the_one_the_failed_check_stored(tmp_path, step, args, result, word):
    scenario = _judged(tmp_path, step, *args, **result)
    assert summary.verdict(scenario) == word


def test_a_message_that_merely_mentions_a_breach_is_not_a_breach():
    scenario = {"status": "failed", "message": "HarnessError: cannot judge: 'RTO breached' earlier", "checks": []}
    assert summary.verdict(scenario) == "FAILED"


def test_the_judgements_word_wins_for_an_objective_breach():
    scenario = {
        "status": "failed",
        "verdict_name": "rto-breached+rpo-breached",
        "checks": [{"what": "rto", "ok": False, "breach": "rto-breached"}],
    }
    assert summary.verdict(scenario) == "RTO BREACHED + RPO BREACHED"
