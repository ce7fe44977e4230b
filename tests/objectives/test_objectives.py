"""The objectives catalog against the DR plan itself, and its error messages on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import objectives as o
from harness.errors import ConfigError, HarnessError

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO.parent / "shared" / "dr-plan.md"


@pytest.fixture(scope="module")
def catalog() -> o.Catalog:
    return o.load()


def _plan_text() -> str:
    if not PLAN.exists():
        pytest.skip("the DR plan (shared/dr-plan.md beside the checkout) is not present")
    return PLAN.read_text()


def test_every_plan_row_is_in_the_catalog_word_for_word(catalog):
    _plan_text()
    assert o.check_against_plan(catalog, PLAN) == []
    tables = o.plan_tables(PLAN.read_text())
    plan_rows = len(tables["1.1"]) + sum(len(r) for s, r in tables.items() if re.fullmatch(r"5\.\d+\.\d+", s))
    assert len(catalog.objectives()) == plan_rows == 64


def _independent_seconds(text: str) -> tuple[float, float] | None:
    """A deliberately separate reading of the plan's words, to cross-check the hand-written numbers."""
    unit = {"second": 1, "seconds": 1, "minute": 60, "minutes": 60, "hour": 3600, "hours": 3600}
    t = re.sub(r"\s*\(.*\)$", "", text).strip()
    if m := re.fullmatch(r"(\d+)-(\d+) (\w+)", t):
        return int(m[1]) * unit[m[3]], int(m[2]) * unit[m[3]]
    if m := re.fullmatch(r"<(\d+) (\w+)", t):
        return 0, int(m[1]) * unit[m[2]]
    if m := re.fullmatch(r"Up to (\d+) (\w+)", t):
        return 0, int(m[1]) * unit[m[2]]
    if m := re.fullmatch(r"(\d+) (\w+)", t):
        return int(m[1]) * unit[m[2]], int(m[1]) * unit[m[2]]
    if t == "0":
        return 0, 0
    return None


def test_numbers_agree_with_the_plans_words(catalog):
    checked = 0
    for obj in catalog.objectives():
        for bound in (obj.rto, obj.rpo):
            expect = _independent_seconds(bound.text)
            if expect is None:
                assert bound.judged_s is None, f"{obj.key}: '{bound.text}' should not be numeric"
            else:
                assert (bound.min_s, bound.max_s) == expect, f"{obj.key}: {bound.text}"
                checked += 1
    assert checked > 100


def test_ranges_are_judged_against_the_upper_end_and_words_are_kinds(catalog):
    pg = catalog.lookup("PostgreSQL (RDS)", "Primary Instance Failure")
    assert (pg.rto.min_s, pg.rto.max_s, pg.rto.judged_s) == (60, 120, 120)
    assert pg.rpo.judged_s == 0 and pg.rpo.note == "synchronous replication"
    assert pg.source == "dr-plan.md §5.1.1" and pg.criticality == o.Criticality.high
    assert catalog.lookup("redis", "primary-node-failure").rto.judged_s == 60  # "<1 minute"
    assert catalog.lookup("db", "data-corruption").rpo.kind is o.BoundKind.depends_on_detection
    assert catalog.lookup("ML Models").rpo.kind is o.BoundKind.last_training_cycle
    assert catalog.lookup("postgres").component == "databases"  # class objective via the component's class


def test_lookup_errors_name_what_exists(catalog):
    with pytest.raises(HarnessError, match=r"no scenario 'primary-failure'.*did you mean primary-instance-failure"):
        catalog.lookup("postgres", "primary-failure")
    with pytest.raises(HarnessError, match=r"unknown component 'postgress'.*did you mean"):
        catalog.lookup("postgress", "az-failure")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "objectives.yaml"
    p.write_text(text)
    return p


def test_bad_field_names_file_line_entry_and_field(tmp_path):
    text = o.DEFAULT_PATH.read_text().replace(
        '{text: "1-2 minutes", min_s: 60, max_s: 120}', '{text: "1-2 minutes", min_s: 180, max_s: 120}', 1
    )
    bad = _write(tmp_path, text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "min_s: 180" in ln)
    with pytest.raises(ConfigError) as err:
        o.load(bad)
    msg = str(err.value)
    assert str(bad) in msg and f"line {line}" in msg
    assert "components[0] (postgresql).scenarios[0] (primary-instance-failure).rto" in msg
    assert "min_s (180) is greater than max_s (120)" in msg


def test_unknown_kind_and_numbers_on_a_word_kind_are_refused(tmp_path):
    bad = _write(tmp_path, o.DEFAULT_PATH.read_text().replace("kind: near_zero}", "kind: nearly_zero}", 1))
    with pytest.raises(ConfigError, match=r"classes\[3\] \(object-storage\)\.rto\.kind"):
        o.load(bad)
    bad = _write(
        tmp_path,
        o.DEFAULT_PATH.read_text().replace(
            '{text: "Last training cycle", kind: last_training_cycle}',
            '{text: "Last training cycle", kind: last_training_cycle, max_s: 5}',
        ),
    )
    with pytest.raises(ConfigError, match="carries no seconds"):
        o.load(bad)


def test_yaml_syntax_error_names_the_line(tmp_path):
    bad = _write(tmp_path, "version: 1\nplan: x\nclasses: [\n  {id: a\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        o.load(bad)


def test_catalog_change_is_caught_by_the_plan_check(tmp_path, catalog):
    _plan_text()
    bad = _write(
        tmp_path, o.DEFAULT_PATH.read_text().replace('"5-15 minutes (asynchronous replication)"', '"5 minutes"')
    )
    problems = o.check_against_plan(o.load(bad), PLAN)
    assert len(problems) == 1 and "Region Failure" in problems[0] and "§5.1.1" in problems[0]


def test_cli_json_and_exit_codes(tmp_path):
    drill = [sys.executable, "-m", "harness.cli"]
    out = subprocess.run(drill + ["objectives", "--json"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert len(rows) == 64 and {r["key"] for r in rows} >= {"postgresql/az-failure", "critical-services"}
    one = json.loads(
        subprocess.run(
            drill + ["objectives", "-c", "redis", "-s", "Cache Flush", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert one[0]["rto"]["judged_s"] == 900 and one[0]["rpo"]["kind"] == "not_applicable"
    table = subprocess.run(drill + ["objectives", "-c", "postgres"], capture_output=True, text=True, check=True)
    assert "primary-instance-failure" in table.stdout and "120 s" in table.stdout
    bad = _write(tmp_path, "version: 1\n")
    res = subprocess.run(drill + ["objectives", "--file", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2 and str(bad) in res.stderr and "Traceback" not in res.stderr
