"""`drill due`'s weekly "Automated Restore Testing" row (plan 4.4 / 6.1), from records written through the
evidence API the way `drill backup verify` and a `@weekly` Gherkin run write them; dates worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from synthetic_drills import make_record, make_restore_test

from harness.evidence import due, load_records

_restore_test = make_restore_test


def _at(y, m, d):
    return datetime(y, m, d, 3, 0, tzinfo=UTC)


def _row(reports, today: date, **kw):
    rows = due(load_records(reports), today, **kw)
    return rows, next((r for r in rows if r.type == "restore-test"), None)


def test_weekly_row_counts_the_last_passing_restore_test(reports, cli):
    _restore_test(reports, _at(2025, 3, 3), "passed")
    _restore_test(reports, _at(2025, 3, 10), "failed")  # a failed restore does not reset the clock
    rows, r = _row(reports, date(2025, 3, 12))
    assert [x.type if isinstance(x.type, str) else x.type.value for x in rows][-1] == "restore-test"
    # last pass 2025-03-03 + 7 days = 2025-03-10; Mar 12 is 2 days late
    assert (r.last, r.next_due, r.status, r.days_left) == (date(2025, 3, 3), date(2025, 3, 10), "overdue", -2)
    res = cli("due", "--reports", reports, "--today", "2025-03-12", "--json")
    assert res.exit_code == 0
    weekly = json.loads(res.stdout)[-1]
    assert (weekly["type"], weekly["frequency"], weekly["status"]) == ("restore-test", "Weekly", "overdue")
    assert cli("due", "--reports", reports, "--today", "2025-03-12", "--strict").exit_code == 1


def test_weekly_due_soon_window_is_two_days(reports):
    _restore_test(reports, _at(2025, 3, 3), "passed")  # next due 2025-03-10
    got = [(d, _row(reports, date(2025, 3, d))[1].status) for d in (7, 8, 10, 11)]
    assert got == [(7, "ok"), (8, "due soon"), (10, "due soon"), (11, "overdue")]
    # the drill rows keep their 14-day window: a monthly test on 2025-03-03 is due soon from 2025-03-20
    make_record(reports, _at(2025, 3, 3), "monthly-component-test.yaml", evidence=False)
    comp = next(r for r in due(load_records(reports), date(2025, 3, 20)) if r.type.value == "component-test")
    assert (comp.status, comp.days_left) == ("due soon", 14)


def test_a_weekly_gherkin_run_counts_and_ad_hoc_drills_do_not(reports):
    make_record(reports, _at(2025, 3, 4), None, evidence=False)  # an untagged drill: not a restore test
    assert _row(reports, date(2025, 3, 5))[1].last is None  # not a restore test: still never run
    _restore_test(reports, _at(2025, 3, 5), "passed", path="gherkin", tags=("@component", "@weekly"))
    _, r = _row(reports, date(2025, 3, 6))
    assert (r.last, r.next_due, r.status, r.days_left) == (date(2025, 3, 5), date(2025, 3, 12), "ok", 6)


def test_only_failed_restore_tests_or_none_at_all(reports, cli):
    _, never = _row(reports, date(2025, 3, 5))  # no restore test recorded: overdue, never run
    assert (never.last, never.next_due, never.status) == (None, None, "overdue")
    res = cli("due", "--reports", reports, "--today", "2025-03-05", "--json")
    assert [r["type"] for r in json.loads(res.stdout)][-1] == "restore-test"
    assert cli("due", "--reports", reports, "--today", "2025-03-05", "--strict").exit_code == 1
    _restore_test(reports, _at(2025, 3, 3), "failed")
    _, r = _row(reports, date(2025, 3, 5))
    assert (r.last, r.next_due, r.status) == (None, None, "overdue")
