"""The one judgement (harness.measure.judgement): targets, deadline, tolerance and the verdict's word, and
the three paths agreeing on it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.errors import EXIT_BREACHED, EXIT_NOT_RECOVERED, EXIT_OK
from harness.measure import judgement
from harness.measure.judgement import Targets


def objective(rto: float | None, rpo: float | None):
    return SimpleNamespace(
        key="postgresql/primary-instance-failure",
        source="dr-plan.md §5.1.1",
        rto=SimpleNamespace(judged_s=rto),
        rpo=SimpleNamespace(judged_s=rpo),
    )


def test_inline_beats_the_objective_field_by_field_and_rpo_needs_a_writer():
    t = judgement.applicable_targets(objective(120, 0), Targets(rto_s=30))
    assert (t.rto_s, t.rto_source, t.rpo_s, t.rpo_source) == (
        30,
        "inline",
        0,
        "postgresql/primary-instance-failure (dr-plan.md §5.1.1)",
    )
    assert t.source == "postgresql/primary-instance-failure (dr-plan.md §5.1.1); inline rto_s=30"
    no_writer = judgement.applicable_targets(objective(120, 0), None, has_writer=False)
    assert (no_writer.rto_s, no_writer.rpo_s, no_writer.rpo_not_judged) == (120, None, judgement.NO_WRITER)
    assert judgement.applicable_targets().source == "none" and not judgement.applicable_targets().targets.any


@pytest.mark.parametrize(
    "target, explicit, expected",
    [(None, None, 300.0), (10, None, 70.0), (100, None, 200.0), (3000, None, 3600.0), (10, 5, 5.0)],
)
def test_deadline(target, explicit, expected):
    assert judgement.deadline(target, explicit=explicit) == expected


def test_one_tolerance_for_every_check():
    assert judgement.within(10.0 + 1e-12, 10.0) and not judgement.within(10.001, 10.0)
    assert not judgement.within(None, 10.0)
    c = judgement.check(10.0, 10.0 + 1e-12)
    assert c.ok and c.margin_s == 0.0
    assert judgement.check(5.0, None).model_dump() == {
        "target_s": 5.0,
        "measured_s": None,
        "margin_s": None,
        "ok": False,
    }


@pytest.mark.parametrize(
    "recovered, rto, rpo, targets, word, code",
    [
        (True, 5.0, 0.0, Targets(10, 1), "met", EXIT_OK),
        (True, 5.0, 0.0, None, "no-targets", EXIT_OK),
        (True, 15.0, 0.0, Targets(10, 1), "rto-breached", EXIT_BREACHED),
        (True, 5.0, 2.0, Targets(10, 1), "rpo-breached", EXIT_BREACHED),
        (True, 15.0, 2.0, Targets(10, 1), "rto-breached+rpo-breached", EXIT_BREACHED),
        (False, None, 0.0, Targets(10, 1), "not-recovered", EXIT_NOT_RECOVERED),
        (False, None, None, None, "not-recovered", EXIT_NOT_RECOVERED),
    ],
)
def test_the_verdicts_word(recovered, rto, rpo, targets, word, code):
    v = judgement.verdict(targets, rto if recovered else None, rpo)
    assert judgement.name(recovered, v) == word
    assert judgement.name(recovered, v.model_dump() if v else None) == word  # a record's JSON says the same
    assert judgement.exit_code(word) == code and word in judgement.VERDICTS
    assert judgement.passed(word) is (code == EXIT_OK)


def test_words_and_labels():
    assert judgement.name(True, None, aborted=True) == "aborted"
    assert judgement.name_of(None) == "not-measured"
    assert judgement.label("rto-breached+rpo-breached") == "RTO BREACHED + RPO BREACHED"
    assert judgement.label("not-recovered") == "NOT RECOVERED" and judgement.label("met") == "MET"


def test_no_path_restates_the_deadline_or_the_verdict():
    """The formula and the verdict names live in the judgement only."""
    from pathlib import Path

    root = Path(judgement.__file__).resolve().parents[1]
    for rel in (
        "drills/checks.py",
        "drills/scenario.py",
        "chaos/control.py",
        "measure/drill.py",
        "commands/measure.py",
        "measure/analysis.py",
    ):
        text = (root / rel).read_text()
        assert "max(2 *" not in text and "3600.0" not in text, rel
        assert '"verdict": "' not in text and 'verdict = "' not in text and '"rto-breached' not in text, rel
