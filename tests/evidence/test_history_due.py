"""History and cadence from synthetic drills across quarters, against dates and numbers worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import matplotlib.image as mpimg
import numpy as np
import pytest
from synthetic_drills import make_record, make_restore_test, measurement

from harness.evidence import due, history_rows, load_records
from harness.evidence.cadence import add_months


def _at(y, m, d):
    return datetime(y, m, d, 9, 30, tzinfo=UTC)


@pytest.fixture
def drills(reports):
    """Five drills over four quarters (hand-written ground truth in the tests below)."""
    pg, redis = "postgres-leader-kill", "redis-primary-kill"
    make_record(
        reports,
        _at(2024, 7, 20),
        "quarterly-scenario-drill.yaml",
        [(pg, measurement(24.0, 0.0), "passed"), (redis, measurement(3.1, 0.0, target_rto=60), "passed")],
    )
    make_record(reports, _at(2024, 10, 18), "quarterly-scenario-drill.yaml", [(pg, measurement(21.5, 0.0), "passed")])
    make_record(
        reports, _at(2025, 1, 17), "monthly-component-test.yaml", [(pg, measurement(19.0, 0.4, lost=3), "failed")]
    )
    make_record(
        reports,
        _at(2025, 2, 12),
        "semiannual-dr-drill.yaml",
        [("region-failover", measurement(900.0, 42.0, target_rto=3600, target_rpo=300), "passed")],
    )
    make_record(reports, _at(2025, 4, 15), None, [(pg, measurement(18.2, 0.0), "passed")])  # ad hoc
    return load_records(reports)


def test_history_table_for_one_scenario(drills, cli, reports):
    rows = history_rows(drills, "postgres-leader-kill")
    got = [
        (r.started.date().isoformat(), r.quarter, r.plan_type, r.rto_s, r.rto_target_s, r.rpo_s, r.passed) for r in rows
    ]
    assert got == [
        ("2024-07-20", "2024-Q3", "scenario-based", 24.0, 120.0, 0.0, True),
        ("2024-10-18", "2024-Q4", "scenario-based", 21.5, 120.0, 0.0, True),
        ("2025-01-17", "2025-Q1", "component-test", 19.0, 120.0, 0.4, False),
        ("2025-04-15", "2025-Q2", "ad-hoc", 18.2, 120.0, 0.0, True),
    ]
    assert len(history_rows(drills)) == 6  # every scenario of every drill
    res = cli("history", "--reports", reports, "--scenario", "postgres-leader-kill", "--json")
    assert res.exit_code == 0
    assert [(r["quarter"], r["rto_s"], r["lost_writes"]) for r in json.loads(res.stdout)] == [
        ("2024-Q3", 24.0, 0),
        ("2024-Q4", 21.5, 0),
        ("2025-Q1", 19.0, 3),
        ("2025-Q2", 18.2, 0),
    ]
    table = cli("history", "--reports", reports)
    assert table.exit_code == 0 and "BREACHED" in table.stdout and "region-failover" in table.stdout


def test_history_chart_png(drills, cli, reports, tmp_path):
    chart = tmp_path / "trend.png"
    res = cli("history", "--reports", reports, "--scenario", "postgres-leader-kill", "--chart", chart)
    assert res.exit_code == 0
    img = mpimg.imread(chart)
    assert img.shape[:2] == (650, 1000)
    rgb = (img[..., :3] * 255).round().astype(int)
    # tab10 blue (31, 119, 180): the scenario's measured line and its dashed target line
    blue = np.all(np.abs(rgb - [31, 119, 180]) <= 2, axis=-1)
    assert blue.sum() > 500
    rows, cols = np.nonzero(blue)
    assert cols.max() - cols.min() > 600  # the trend spans the width: four quarters


def test_due_on_2025_05_01(drills, cli, reports):
    rows = {getattr(r.type, "value", r.type): r for r in due(drills, date(2025, 5, 1))}  # restore-test is a str
    # component: last 2025-01-17 -> next 2025-02-17; Feb 17 -> May 1 = 28 + 31 + 14 = 73 days late
    c = rows["component-test"]
    assert (c.last, c.next_due, c.status, c.days_left) == (date(2025, 1, 17), date(2025, 2, 17), "overdue", -73)
    # scenario-based: the 2025-04-15 run was ad hoc and does not count; last 2024-10-18 -> next 2025-01-18,
    # Jan 18 -> May 1 = 31 + 28 + 31 + 13 = 103 days late
    s = rows["scenario-based"]
    assert (s.last, s.next_due, s.status, s.days_left) == (date(2024, 10, 18), date(2025, 1, 18), "overdue", -103)
    # DR drill: 2025-02-12 + 6 months = 2025-08-12; May 1 -> Aug 12 = 30 + 31 + 30 + 12 = 103 days left
    d = rows["dr-drill"]
    assert (d.last, d.next_due, d.status, d.days_left) == (date(2025, 2, 12), date(2025, 8, 12), "ok", 103)
    f = rows["full-dr"]
    assert (f.last, f.next_due, f.status) == (None, None, "overdue")
    res = cli("due", "--reports", reports, "--today", "2025-05-01", "--json")
    assert res.exit_code == 0  # a report: exit 0 even with overdue rows
    assert [r["status"] for r in json.loads(res.stdout)] == ["overdue", "overdue", "ok", "overdue", "overdue"]
    assert [r["type"] for r in json.loads(res.stdout)][-1] == "restore-test"  # never run: overdue
    assert cli("due", "--reports", reports, "--today", "2025-05-01", "--strict").exit_code == 1


@pytest.mark.parametrize(
    "today, status, left",
    [
        ("2025-07-28", "ok", 15),
        ("2025-07-29", "due soon", 14),
        ("2025-08-12", "due soon", 0),
        ("2025-08-13", "overdue", -1),
    ],
)
def test_due_soon_boundary(drills, today, status, left):
    d = next(r for r in due(drills, date.fromisoformat(today)) if r.type.value == "dr-drill")
    assert (d.status, d.days_left) == (status, left)


def test_drills_after_today_are_ignored(drills):
    c = next(r for r in due(drills, date(2024, 12, 1)) if r.type.value == "scenario-based")
    # on 2024-12-01 the last scenario drill was 2024-10-18 -> next 2025-01-18, 48 days away
    assert (c.last, c.next_due, c.status, c.days_left) == (date(2024, 10, 18), date(2025, 1, 18), "ok", 48)
    comp = next(r for r in due(drills, date(2024, 12, 1)) if r.type.value == "component-test")
    assert comp.last is None and comp.status == "overdue"


def test_strict_passes_when_nothing_is_overdue(reports, cli):
    for plan, when in (
        ("monthly-component-test.yaml", _at(2025, 6, 20)),
        ("quarterly-scenario-drill.yaml", _at(2025, 6, 1)),
        ("semiannual-dr-drill.yaml", _at(2025, 3, 1)),
        ("annual-full-dr.yaml", _at(2024, 11, 8)),
    ):
        make_record(reports, when, plan, evidence=False)
    make_restore_test(reports, _at(2025, 6, 30), "passed")  # weekly: next due 2025-07-07 (as of 07-01)
    make_restore_test(reports, _at(2025, 7, 9), "passed")  # as of 07-10: next due 07-16
    res = cli("due", "--reports", reports, "--today", "2025-07-01", "--strict", "--json")
    assert res.exit_code == 0
    assert [r["status"] for r in json.loads(res.stdout)] == ["ok", "ok", "ok", "ok", "ok"]
    assert cli("due", "--reports", reports, "--today", "2025-07-10", "--strict").exit_code == 0  # due soon only


def test_month_arithmetic_clamps_to_month_end():
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 12, 15), 12) == date(2025, 12, 15)
