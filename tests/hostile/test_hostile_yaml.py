"""Hostile YAML (issue 16, point 8): duplicate keys, alias bombs and oversized files in objectives, drill plans
and target files are refused at load with one error naming the file and line, in well under a second."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness import objectives
from harness.errors import ConfigError
from harness.evidence.plan import load_plan
from harness.targets.file import load_target

ROOT = Path(__file__).resolve().parents[2]

# Nine levels of nine: 9**9 (387 million) values once expanded, from 11 lines of YAML.
BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["version: 1", "plan: dr-plan.md", "classes: *a8", "components: []"]
)


def _criticality_twice(text: str) -> tuple[str, int, int]:
    """The objectives file with a second `criticality:` under the first class: high, then low."""
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.strip().startswith("criticality: high"))
    lines.insert(first + 1, lines[first].replace("high", "low"))
    return "\n".join(lines) + "\n", first + 1, first + 2


def test_a_duplicate_key_in_objectives_is_refused_naming_both_lines(tmp_path):
    text, first, second = _criticality_twice(objectives.DEFAULT_PATH.read_text())
    bad = tmp_path / "objectives.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        objectives.load(bad)
    msg = str(err.value)
    assert str(bad) in msg
    assert f"key 'criticality' is given twice in one mapping (lines {first} and {second})" in msg


def test_a_duplicate_key_in_a_drill_plan_is_refused(tmp_path):
    text = (ROOT / "plans" / "quarterly-scenario-drill.yaml").read_text()
    first_key = next(ln for ln in text.splitlines() if ln and not ln.startswith(("#", " ", "-")) and ":" in ln)
    bad = tmp_path / "plan.yaml"
    bad.write_text(text + "\n" + first_key + "\n")
    with pytest.raises(ConfigError, match=rf"key '{first_key.split(':')[0]}' is given twice in one mapping"):
        load_plan(bad)


def test_a_duplicate_key_in_a_target_file_is_refused(tmp_path):
    text = (ROOT / "targets" / "local.yaml").read_text()
    first_key = next(ln for ln in text.splitlines() if ln and not ln.startswith(("#", " ", "-")) and ":" in ln)
    bad = tmp_path / "local.yaml"
    bad.write_text(text + "\n" + first_key + "\n")
    with pytest.raises(ConfigError, match=rf"{bad}: line \d+: key '{first_key.split(':')[0]}' is given twice"):
        load_target(bad)


def test_a_billion_laughs_alias_bomb_is_refused_in_well_under_a_second(tmp_path):
    bad = tmp_path / "objectives.yaml"
    bad.write_text(BILLION_LAUGHS)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        objectives.load(bad)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"took {elapsed:.2f} s"
    assert str(bad) in str(err.value)
    assert "YAML aliases" in str(err.value) and "refused" in str(err.value)


def test_a_recursive_alias_is_refused(tmp_path):
    bad = tmp_path / "objectives.yaml"
    bad.write_text("version: 1\nplan: x\nclasses: &loop [*loop]\ncomponents: []\n")
    with pytest.raises(ConfigError, match="line 3: a YAML alias refers to itself"):
        objectives.load(bad)


def test_a_few_honest_aliases_still_load(tmp_path):
    text = objectives.DEFAULT_PATH.read_text().replace(
        '{text: "1 hour", min_s: 3600, max_s: 3600}', '&hour {text: "1 hour", min_s: 3600, max_s: 3600}', 1
    )
    text = text.replace('rto: {text: "1 hour", min_s: 3600, max_s: 3600}', "rto: *hour", 1)
    assert "*hour" in text
    good = tmp_path / "objectives.yaml"
    good.write_text(text)
    assert objectives.load(good).data.classes[2].rto.max_s == 3600


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    bad = tmp_path / "objectives.yaml"
    bad.write_text("version: 1\n" + "# padding\n" * 200_000)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"is \d+ bytes; the limit is 1048576 bytes"):
        objectives.load(bad)
    assert time.perf_counter() - started < 0.5
