"""Findings: issues a drill found and their corrective actions (plan §6.4 evaluation, §6.5 issue logs and
improvement plans), kept as an append-only hash chain in reports/findings/ beside the records.

Nothing is edited: opening a finding appends a `finding-opened` entry, closing it appends `finding-closed`
with a reference (ticket, PR, runbook change); the current state is the fold of the entries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.errors import HarnessError
from harness.evidence import chain as chain_mod
from harness.evidence import paths
from harness.evidence.record import default_operator, find_record, new_record_id, parse_utc, utc_iso


class Finding(BaseModel):
    id: str
    record: str
    title: str
    owner: str
    due: date
    action: str
    opened_at: str
    opened_by: str
    status: str = "open"
    closed_at: str | None = None
    closed_by: str | None = None
    reference: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def overdue(self, today: date) -> bool:
        return self.is_open and today > self.due


def findings_chain(reports: str | Path | None = None) -> chain_mod.Chain:
    return chain_mod.Chain(paths.findings_dir(reports), label="finding entry")


def _fold(entries: list[dict[str, Any]]) -> dict[str, Finding]:
    state: dict[str, Finding] = {}
    for e in entries:
        if e.get("kind") == "finding-opened":
            state[e["finding"]] = Finding(
                id=e["finding"],
                record=e["record"],
                title=e["title"],
                owner=e["owner"],
                due=e["due"],
                action=e["action"],
                opened_at=e["at"],
                opened_by=e["by"],
            )
        elif e.get("kind") == "finding-closed" and e.get("finding") in state:
            f = state[e["finding"]]
            f.status, f.closed_at, f.closed_by, f.reference = "closed", e["at"], e["by"], e["reference"]
    return state


def list_findings(reports: str | Path | None = None, open_only: bool = False) -> list[Finding]:
    found = list(_fold(findings_chain(reports).entries()).values())
    return [f for f in found if f.is_open] if open_only else found


def _parse_due(due: str | date) -> date:
    if isinstance(due, date):
        return due
    try:
        return date.fromisoformat(due)
    except ValueError:
        raise HarnessError(f"--due '{due}' is not a date like 2025-03-31") from None


def _normalise_id(text: str) -> str:
    """'F-0003', 'f-3' and '3' all name F-0003."""
    digits = text.strip().upper().removeprefix("F-")
    return f"F-{int(digits):04d}" if digits.isdigit() else text.strip().upper()


def add_finding(
    reports: str | Path | None,
    record: str,
    title: str,
    owner: str,
    due: str | date,
    action: str,
    by: str | None = None,
    at: datetime | None = None,
) -> Finding:
    """Open a finding against a drill record (id or unique prefix); returns it with its new id (F-0001...)."""
    for name, value in (("title", title), ("owner", owner), ("action", action)):
        if not value or not value.strip():
            raise HarnessError(f"a finding needs a non-empty --{name}")
    due_date = _parse_due(due)
    rec = find_record(reports, record)
    chain = findings_chain(reports)
    at = at or datetime.now(UTC)
    with chain.locked():
        current = _fold(chain.entries())
        finding_id = f"F-{len(current) + 1:04d}"
        chain.append(
            {
                "id": f"{new_record_id(at)}-{finding_id}-opened",
                "kind": "finding-opened",
                "finding": finding_id,
                "record": rec["id"],
                "title": title.strip(),
                "owner": owner.strip(),
                "due": due_date.isoformat(),
                "action": action.strip(),
                "by": by or default_operator(),
                "at": utc_iso(at),
            },
            key=chain_mod.signing_key(),
        )
    return _fold(chain.entries())[finding_id]


def close_finding(
    reports: str | Path | None, finding_id: str, reference: str, by: str | None = None, at: datetime | None = None
) -> Finding:
    """Close an open finding, citing what fixed it (a ticket, a PR, a runbook revision)."""
    if not reference or not reference.strip():
        raise HarnessError("closing a finding needs a --reference (ticket, PR or document that fixed it)")
    chain = findings_chain(reports)
    at = at or datetime.now(UTC)
    with chain.locked():
        current = _fold(chain.entries())
        finding = current.get(_normalise_id(finding_id))
        if finding is None:
            raise HarnessError(f"no finding '{finding_id}' (known: {', '.join(current) or 'none'})")
        if not finding.is_open:
            raise HarnessError(f"finding {finding.id} is already closed ({finding.reference}, {finding.closed_at})")
        chain.append(
            {
                "id": f"{new_record_id(at)}-{finding.id}-closed",
                "kind": "finding-closed",
                "finding": finding.id,
                "reference": reference.strip(),
                "by": by or default_operator(),
                "at": utc_iso(at),
            },
            key=chain_mod.signing_key(),
        )
    return _fold(chain.entries())[finding.id]


def findings_for_report(
    record: dict[str, Any], records: list[dict[str, Any]], findings: list[Finding]
) -> list[Finding]:
    """What an after-action report on `record` lists: its own findings, plus findings of earlier drills that
    were still open when this drill started (still open now, or closed only after it)."""
    order = {r["id"]: i for i, r in enumerate(records)}
    mine = order.get(record["id"], len(records))
    started = parse_utc(record["started"])
    out = []
    for f in findings:
        if f.record == record["id"]:
            out.append(f)
        elif order.get(f.record, len(records)) < mine and (f.is_open or parse_utc(f.closed_at) > started):
            out.append(f)
    return out
