"""Runs that ended without their record: seal them into the chain as `incomplete`, and find run folders no
record covers.

A killed run leaves its live record (`records/<id>.live.jsonl`, harness.evidence.record) unlocked, and often
a run folder (`runs/<id>/`). `seal()` turns what the live file holds (and what the caller adds: events and
scenarios the run wrote elsewhere) into a chained record with an `incomplete` section, so the chain stays
valid and the killed run shows in `drill verify`, `drill history` and `drill audit` with what it did:

    path = seal(live_path, reports, extra_events=[...], extra_scenarios=[...], run_dir=reports / "runs" / id)

The live file itself is kept as evidence (`evidence/<id>/record.live.jsonl`, hashed into the record).
`uncovered_run_folders()` lists `runs/*` folders that neither a chained record nor a live one covers: a run
killed before its first event, or a record removed with its index entry.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.evidence import chain as chain_mod
from harness.evidence import paths
from harness.evidence.record import (
    LIVE_SUFFIX,
    RecordBuilder,
    chained_line,
    default_operator,
    evaluate_outcome,
    parse_utc,
    utc_iso,
)

LIVE_EVIDENCE_NAME = "record.live.jsonl"
RUN_ID = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{6}$")  # harness.evidence.record.new_record_id


def live_lines(path: Path) -> list[dict[str, Any]]:
    """The live file's lines up to the first one that does not chain (a torn last line is dropped). A line
    edited in the middle is tampering: HarnessError, nothing sealed."""
    raw = path.read_text(encoding="utf-8").splitlines()
    out, prev = [], chain_mod.GENESIS
    for n, text in enumerate(raw, start=1):
        line = chained_line(text, n, prev)
        if line is None:
            if n == len(raw):
                break  # killed mid-write
            raise HarnessError(f"{path.name}: line {n} was changed; not sealed (the file is evidence as it is)")
        out.append(line)
        prev = line["hash"]
    return out


def seal(
    live_path: Path | None,
    reports: str | Path | None = None,
    extra_events: list[dict[str, Any]] | None = None,
    extra_scenarios: list[dict[str, Any]] | None = None,
    run_dir: Path | None = None,
    reason: str = "its run ended without finishing its record (killed?)",
    record_id: str | None = None,
    header: dict[str, Any] | None = None,
) -> Path:
    """Chain the record of a run that died, marked incomplete. `extra_events`: {"at", "kind", "detail"}
    the live file lacks; `extra_scenarios`: keyword arguments of RecordBuilder.scenario for scenarios the
    live file has no line for. Without a live file (a run killed before its first event) `record_id` and
    `header` (target, environment, started, ...) say what is known. Returns the chained record's path."""
    base = paths.reports_dir(reports)
    lines = live_lines(live_path) if live_path is not None else []
    header = next((ln["body"] for ln in lines if ln.get("kind") == "header"), None) or dict(header or {})
    record_id = header.get("id") or record_id or (live_path.name.removesuffix(LIVE_SUFFIX) if live_path else None)
    if not record_id:
        raise HarnessError("seal: no live file and no record id")
    started = parse_utc(header["started"]) if header.get("started") else datetime.now(UTC)
    builder = RecordBuilder(
        base,
        target=header.get("target") or "unknown",
        environment=header.get("environment") or "unknown",
        operator=header.get("operator"),
        started=started,
        path=header.get("path") or "gherkin",
        experiment=header.get("experiment"),
        live=False,
    )
    builder.id = record_id
    live_events = [ln["body"] for ln in lines if ln.get("kind") == "event"]
    seen = {(e.get("at"), e.get("kind")) for e in live_events}
    for entry in live_events:
        builder.event(entry["kind"], entry.get("detail") or {}, at=parse_utc(entry["at"]))
    for entry in extra_events or []:
        if (entry.get("at"), entry.get("kind")) not in seen:
            builder.event(entry["kind"], entry.get("detail") or {}, at=parse_utc(entry["at"]))
    recorded = [ln["body"] for ln in lines if ln.get("kind") == "scenario"]
    named = {s.get("name") for s in recorded}
    for kwargs in extra_scenarios or []:
        if kwargs.get("name") not in named:
            builder.scenario(**kwargs)
    last = live_events[-1] if live_events else None
    builder.event("incomplete", {"reason": reason, "sealed_by": default_operator()})
    if live_path is not None:
        kept = base / "evidence" / record_id / LIVE_EVIDENCE_NAME
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(live_path, kept)
        builder.evidence(kept)
    if run_dir is not None and run_dir.is_dir():
        builder.evidence(run_dir)
    record = builder.to_dict()
    scenarios = recorded + record["scenarios"]
    outcome = evaluate_outcome(scenarios, None)
    outcome["checks"].append({"criterion": "the run finished its record", "ok": False, "detail": reason})
    outcome["passed"] = False
    record.update(
        {
            "scenarios": scenarios,
            "outcome": outcome,
            "incomplete": {
                "reason": reason,
                "sealed_at": utc_iso(),
                "sealed_by": default_operator(),
                "plan": header.get("plan"),
                "pid": header.get("pid"),
                "host": header.get("host"),
                "last_event": last,
                "live_lines": len(lines),
            },
        }
    )
    chain = chain_mod.Chain(paths.records_dir(base), label="record")
    with chain.locked():
        chain.append(record, key=chain_mod.signing_key())
    if live_path is not None:
        with contextlib.suppress(FileNotFoundError):
            live_path.unlink()  # its lines are in the record and kept as evidence
    return chain.dir / f"{record_id}.json"


def uncovered_run_folders(reports: str | Path | None, records: list[dict[str, Any]], live_ids: set[str]) -> list[str]:
    """`runs/<name>` folders that no chained record (by id or evidence path) and no live record covers."""
    runs = paths.reports_dir(reports) / "runs"
    if not runs.is_dir():
        return []
    covered = {r.get("id") for r in records} | set(live_ids)
    # only folders named like a record id are runs of `drill run` (a by-hand pytest run writes runs/adhoc)
    for r in records:
        for item in r.get("evidence") or []:
            parts = str(item.get("path", "")).split("/")
            if len(parts) > 2 and parts[0] == "runs":
                covered.add(parts[1])
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and RUN_ID.match(p.name) and p.name not in covered)
