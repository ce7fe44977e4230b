"""`drill due`: which drills of the DR plan's §6.1 testing strategy are overdue, due soon, or fine.

A drill counts for its plan's type only (a full DR test does not also count as a DR drill: the plan lists
them as separate obligations). Ad-hoc runs (no plan) count for nothing: a test without a plan, participants
and approvals is not the documented test §6.5 asks for. A drill counts when it ran, whatever its verdict: a
failed drill is a test that was done and found something (its findings track the rest).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from harness.evidence.plan import DrillType
from harness.evidence.record import parse_utc

DUE_SOON_DAYS = 14

# §6.1: type -> (the plan's words, months between tests)
CADENCE: dict[DrillType, tuple[str, str, int]] = {
    DrillType.component_test: ("Component Recovery Tests", "Monthly", 1),
    DrillType.scenario_based: ("Scenario-Based Tests", "Quarterly", 3),
    DrillType.dr_drill: ("DR Drill", "Semi-annually", 6),
    DrillType.full_dr: ("Full DR Test", "Annually", 12),
}


@dataclass
class DueRow:
    type: DrillType
    name: str
    frequency: str
    last: date | None
    last_record: str | None
    next_due: date | None  # None: never run, due now
    status: str  # "overdue", "due soon", "ok"
    days_left: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
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


def due(records: list[dict[str, Any]], today: date, soon_days: int = DUE_SOON_DAYS) -> list[DueRow]:
    """One row per §6.1 test type, from the latest record of that type started on or before `today`."""
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
        status = "overdue" if left < 0 else "due soon" if left <= soon_days else "ok"
        rows.append(DueRow(kind, name, frequency, day, rec_id, next_due, status, left))
    return rows


def any_overdue(rows: list[DueRow]) -> bool:
    return any(r.status == "overdue" for r in rows)
