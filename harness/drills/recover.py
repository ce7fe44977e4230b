"""`drill recover`, the evidence half: seal the records of drill runs that were killed.

After the faults are undone (harness.faults.runner.recover), every live record no running process holds,
and every run folder no record covers, is chained as an `incomplete` record (harness.evidence.incomplete)
with what the run did: the live file's events, the events the pytest child wrote to `runs/<id>/events.jsonl`
after its parent died, and each scenario's outcome from the run folder (a scenario the kill interrupted is
`broken`). A run still going (its live file locked, or its drill lock held) is left alone.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from harness.drills.events import EventsFile
from harness.drills.lock import holders
from harness.drills.run import load_scenarios, scenario_fields
from harness.errors import HarnessError
from harness.evidence import paths
from harness.evidence.incomplete import live_lines, seal, uncovered_run_folders
from harness.evidence.record import LiveRecord, live_records, load_records

RUN_ID = re.compile(r"^(\d{8}T\d{6})(\d{3})Z-[0-9a-f]{6}$")


def seal_killed_runs(reports: str | Path | None = None) -> list[str]:
    """Seal every killed run's record; one line per run, saying what was sealed or left alone."""
    base = paths.reports_dir(reports)
    running = {h.run_id for h in holders() if h.run_id}
    lines = []
    for live in live_records(base):
        if live.running or live.id in running:
            lines.append(f"{live.id}: still running, left alone ({live.describe()})")
            continue
        run_dir = base / "runs" / live.id
        described = live.describe()
        told = _events(run_dir)
        try:
            seal(live.file, base, told, _scenarios(run_dir, told + _live_events(live)), run_dir)
        except HarnessError as err:  # an edited live file is evidence as it is: said, not sealed
            lines.append(f"{live.id}: not sealed: {err}")
            continue
        lines.append(f"sealed {live.id} as incomplete: {described}")
    for name in uncovered_run_folders(base, load_records(base), {live.id for live in live_records(base)}):
        if name in running:
            continue
        run_dir = base / "runs" / name
        header = {"id": name, "started": _started(name), "target": _target_of(run_dir), "path": "gherkin"}
        told = _events(run_dir)
        seal(None, base, told, _scenarios(run_dir, told), run_dir, record_id=name, header=header)
        lines.append(f"sealed {name} as incomplete: a run folder with no record (killed before its first event)")
    return lines


def _events(run_dir: Path) -> list[dict]:
    return EventsFile(run_dir).read_all() if run_dir.is_dir() else []


def _live_events(live: LiveRecord) -> list[dict]:
    return [line["body"] for line in live_lines(live.file) if line.get("kind") == "event"]


def _scenarios(run_dir: Path, told: list[dict]) -> list[dict]:
    """Each scenario's outcome from the run folder; a scenario the events name but that wrote nothing yet
    (killed before its close) is broken, with nothing measured."""
    found = []
    if (run_dir / "scenarios").is_dir():
        found = [scenario_fields(s) for s in load_scenarios(run_dir) if s.get("status") != "skipped"]
    names = {s["name"] for s in found}
    for event in told:
        name = (event.get("detail") or {}).get("scenario")
        if name and name not in names and event.get("kind") != "scenario-skipped":
            names.add(name)
            found.append({"name": name, "status": "broken", "measurement": None})
    return found


def _started(name: str) -> str:
    m = RUN_ID.match(name)
    assert m is not None  # uncovered_run_folders lists run ids only
    day, ms = m.group(1), m.group(2)
    return f"{day[:4]}-{day[4:6]}-{day[6:8]}T{day[9:11]}:{day[11:13]}:{day[13:15]}.{ms}Z"


def _target_of(run_dir: Path) -> str:
    """The --drill-target of the run's command line (command.txt), if it got that far."""
    try:
        argv = shlex.split((run_dir / "command.txt").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unknown"
    return argv[argv.index("--drill-target") + 1] if "--drill-target" in argv[:-1] else "unknown"
