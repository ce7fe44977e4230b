"""`drill due`: which drills of the DR plan's §6.1 testing strategy are overdue, due soon, or fine.

A drill counts for its plan's type only (a full DR test does not also count as a DR drill: the plan lists
them as separate obligations). Ad-hoc runs (no plan) count for nothing: a test without a plan, participants
and approvals is not the documented test §6.5 asks for. A drill counts when it ran, whatever its verdict: a
failed drill is a test that was done and found something (its findings track the rest).

Plan 4.4 / 6.1's "Automated Restore Testing: Weekly" is a row of its own, counted differently: from records of
path `backup` (`drill backup verify`) and Gherkin runs with a scenario tagged `weekly`, and only a *passing* one
resets the clock (a restore that failed did not show the backups can be restored). A week is shorter than the
drill rows' 14-day due-soon window, so the row has its own (RESTORE_TEST_SOON_DAYS). The row is always listed:
a site that never ran a restore test is overdue on it, which is what an auditor asking for "the last successful
restore test" must see.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from harness.evidence.plan import DrillType
from harness.evidence.record import parse_utc

DUE_SOON_DAYS = 14
RESTORE_TEST_SOON_DAYS = 2
RESTORE_TEST_DAYS = 7
RESTORE_TEST_TYPE = "restore-test"
RESTORE_TEST_TAGS = ("weekly", "@weekly")

# §6.1: type -> (the plan's words, months between tests)
CADENCE: dict[DrillType, tuple[str, str, int]] = {
    DrillType.component_test: ("Component Recovery Tests", "Monthly", 1),
    DrillType.scenario_based: ("Scenario-Based Tests", "Quarterly", 3),
    DrillType.dr_drill: ("DR Drill", "Semi-annually", 6),
    DrillType.full_dr: ("Full DR Test", "Annually", 12),
}


@dataclass
class DueRow:
    type: DrillType | str  # a §6.1 drill type, or RESTORE_TEST_TYPE
    name: str
    frequency: str
    last: date | None
    last_record: str | None
    next_due: date | None  # None: never run, due now
    status: str  # "overdue", "due soon", "ok"
    days_left: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value if isinstance(self.type, DrillType) else self.type,
            "name": self.name,
            "frequency": self.frequency,
            "last": self.last.isoformat() if self.last else None,
            "last_record": self.last_record,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "status": self.status,
            "days_left": self.days_left,
        }


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _status(left: int, soon_days: int) -> str:
    return "overdue" if left < 0 else "due soon" if left <= soon_days else "ok"


def _restore_scenarios(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The restore tests in a record: every scenario of a `backup` record, the `weekly` ones of a Gherkin run."""
    scenarios = rec.get("scenarios") or []
    if rec.get("path") == "backup":
        return scenarios
    return [s for s in scenarios if any(t in RESTORE_TEST_TAGS for t in s.get("tags") or [])]


def _passed(scenario: dict[str, Any]) -> bool:
    return scenario.get("status") == "passed" and (scenario.get("verdict") or {}).get("passed") is not False


def restore_test_row(records: list[dict[str, Any]], today: date) -> DueRow | None:
    """The weekly restore-test row from the latest passing restore test started on or before `today`;
    None when no record (passing or not) holds a restore test."""
    seen, last = False, None
    for rec in records:
        tests = _restore_scenarios(rec)
        if not tests:
            continue
        seen = True
        day = parse_utc(rec["started"]).date()
        if day <= today and all(_passed(s) for s in tests) and (last is None or day >= last[0]):
            last = (day, rec["id"])
    if not seen:
        return None
    name, frequency = "Automated Restore Testing", "Weekly"
    if last is None:
        return DueRow(RESTORE_TEST_TYPE, name, frequency, None, None, None, "overdue", None)
    day, rec_id = last
    next_due = day + timedelta(days=RESTORE_TEST_DAYS)
    left = (next_due - today).days
    return DueRow(
        RESTORE_TEST_TYPE, name, frequency, day, rec_id, next_due, _status(left, RESTORE_TEST_SOON_DAYS), left
    )


def due(
    records: list[dict[str, Any]],
    today: date,
    soon_days: int = DUE_SOON_DAYS,
) -> list[DueRow]:
    """One row per §6.1 test type, from the latest record of that type started on or before `today`; then
    the weekly restore-test row (overdue when none ever passed)."""
    last: dict[DrillType, tuple[date, str]] = {}
    for rec in records:
        plan_type = (rec.get("plan") or {}).get("type")
        if plan_type is None:
            continue
        kind = DrillType(plan_type)
        day = parse_utc(rec["started"]).date()
        if day <= today and (kind not in last or day >= last[kind][0]):
            last[kind] = (day, rec["id"])
    rows = []
    for kind, (name, frequency, months) in CADENCE.items():
        if kind not in last:
            rows.append(DueRow(kind, name, frequency, None, None, None, "overdue", None))
            continue
        day, rec_id = last[kind]
        next_due = add_months(day, months)
        left = (next_due - today).days
        rows.append(DueRow(kind, name, frequency, day, rec_id, next_due, _status(left, soon_days), left))
    restore = restore_test_row(records, today)
    if restore is None:  # never run
        restore = DueRow(RESTORE_TEST_TYPE, "Automated Restore Testing", "Weekly", None, None, None, "overdue", None)
    rows.append(restore)
    return rows


def any_overdue(rows: list[DueRow]) -> bool:
    return any(r.status == "overdue" for r in rows)
