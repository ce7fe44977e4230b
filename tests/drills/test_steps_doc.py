"""docs/steps.md lists every registered step phrase, and the catalog's steps all resolve (no lab needed)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.drills import preflight

ROOT = Path(__file__).resolve().parents[2]


def _registered() -> list[str]:
    from pytest_bdd.steps import step_function_context_registry

    import steps.backup
    import steps.given
    import steps.s3
    import steps.then
    import steps.when  # noqa: F401 - registering is the point

    return sorted(
        {
            getattr(c.parser, "name", "")
            for c in list(step_function_context_registry.values())
            if c.step_func.__module__.startswith("steps.")
        }
    )


def test_every_step_phrase_is_documented():
    doc = (ROOT / "docs" / "steps.md").read_text()
    # the doc writes parameter lists as PARAMS
    # custom parse types (`{endpoints:Endpoints}`) are written as plain `{endpoints}` there
    missing = [
        p
        for p in _registered()
        if re.sub(r"\{(\w+):[A-Z]\w*\}", r"{\1}", re.sub(r"\{params\}", "PARAMS", p)) not in doc
    ]
    assert not missing, f"docs/steps.md does not list: {missing}"


def test_close_phrases_suggest_the_intended_step():
    _registered()
    assert preflight.close_phrases("the databse primary crashes", "when")[0] == "When the database primary crashes"
    assert (
        preflight.close_phrases("the service recovers within the plans RTO", "then")[0]
        == "Then the service recovers within the plan's RTO"
    )
