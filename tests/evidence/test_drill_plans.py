"""Drill plans: the four example plans load; a bad plan is one ConfigError naming file, line and field."""

from __future__ import annotations

import hashlib
import textwrap

import pytest
from synthetic_drills import PLANS

from harness.errors import ConfigError
from harness.evidence import DrillType, load_plan

GOOD = """\
name: q-drill
type: scenario-based
scope:
  tags: "@quarterly and not @cloud"
target: local
participants:
  - name: Sam Rivera
    role: DR Coordinator
  - name: Dana Okafor
    role: Database Lead
approvers:
  - name: Sam Rivera
"""


def _write(tmp_path, text: str, name: str = "plan.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_example_plans_cover_the_four_rows_of_section_6_1():
    plans = {p.name: load_plan(p) for p in PLANS.glob("*.yaml")}
    assert {p.type for p in plans.values()} == set(DrillType)
    quarterly = plans["quarterly-scenario-drill.yaml"]
    assert quarterly.scope.tags == "@quarterly and not @cloud"
    assert quarterly.scope.includes("any", ["@quarterly", "@database"])
    assert not quarterly.scope.includes("any", ["@quarterly", "@cloud"])
    assert quarterly.success_criteria.max_rto_s == 60
    assert quarterly.window.end.isoformat() == "2025-04-15T12:00:00+00:00"
    dr = plans["semiannual-dr-drill.yaml"]
    assert dr.type is DrillType.dr_drill and "region-failover" in dr.scope.scenarios
    path = PLANS / "annual-full-dr.yaml"
    assert load_plan(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_good_plan_loads(tmp_path):
    plan = load_plan(_write(tmp_path, GOOD))
    assert plan.participants[1].role == "Database Lead" and plan.approver_names() == {"Sam Rivera"}


@pytest.mark.parametrize(
    "edit, line, field, words",
    [
        (("role: Database Lead", "role: DBA"), 10, "participants[1].role", "not a role of the DR plan §7.2"),
        (("type: scenario-based", "type: chaos-monkey"), 2, "type", "component-test"),
        (('tags: "@quarterly and not @cloud"', 'tags: "@quarterly and and"'), 4, "scope.tags", "tag expression"),
        (("target: local\n", "target: local\ncolour: blue\n"), 6, "colour", "Extra inputs are not permitted"),
        (
            ("  - name: Sam Rivera\n", "  - name: Sam Rivera\n    title: 7\n", 2),
            13,
            "approvers[0].title",
            "valid string",
        ),
    ],
)
def test_plan_errors_name_file_line_and_field(tmp_path, edit, line, field, words):
    old, new, *nth = edit
    text = GOOD
    if nth:  # replace the n-th occurrence only
        head, sep, tail = text.rpartition(old)
        text = head + new + tail
    else:
        text = text.replace(old, new, 1)
    path = _write(tmp_path, text, "bad-plan.yaml")
    with pytest.raises(ConfigError) as err:
        load_plan(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: line {line}: {field}: "), msg
    assert words in msg


def test_missing_field_names_the_field(tmp_path):
    path = _write(tmp_path, GOOD.replace("target: local\n", ""))
    with pytest.raises(ConfigError, match=r"plan\.yaml: line 1: target: Field required"):
        load_plan(path)


def test_dr_drill_needs_window_and_coordinator(tmp_path):
    text = GOOD.replace("type: scenario-based", "type: dr-drill")
    with pytest.raises(ConfigError, match="needs a maintenance window"):
        load_plan(_write(tmp_path, text))
    text += "window:\n  start: 2025-06-07T06:00:00Z\n  duration: 6h\n"
    assert load_plan(_write(tmp_path, text)).window.end.hour == 12
    text = text.replace("role: DR Coordinator", "role: Security Lead")
    with pytest.raises(ConfigError, match="needs a participant with role DR Coordinator"):
        load_plan(_write(tmp_path, text))


def test_window_end_and_duration_are_exclusive(tmp_path):
    text = GOOD + "window:\n  start: 2025-06-07T06:00:00Z\n  end: 2025-06-07T05:00:00Z\n"
    with pytest.raises(ConfigError) as err:
        load_plan(_write(tmp_path, text))
    assert "line 13: window" in str(err.value) and "ends before it starts" in str(err.value)


def test_invalid_yaml_names_line_and_column(tmp_path):
    path = _write(tmp_path, GOOD.replace("target: local", "target: [local"))
    with pytest.raises(ConfigError, match=r"plan\.yaml: line \d+, column \d+: not valid YAML"):
        load_plan(path)


def test_unreadable_plan(tmp_path):
    with pytest.raises(ConfigError, match="cannot read plan"):
        load_plan(tmp_path / "nope.yaml")
