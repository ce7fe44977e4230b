"""A drill run's events as they happen: `runs/<id>/events.jsonl`, written by the pytest child (faults, undo,
recovery steps, aborts, scenario ends) and by a forced outside action (harness/drills/lock.py), read live by
`drill run` into its drill record (harness.evidence.record.RecordBuilder's live file).

    events = EventsFile(run_dir)
    events.append("fault-injected", {"scenario": "...", "fault": "db-primary-crash", "id": "..."})
    for entry in events.read_new():   # each {"at", "kind", "detail"} appended since the last call
        rec.event(entry["kind"], entry["detail"], at=...)

Each line is one `write` on an O_APPEND descriptor, fsync'd: writers in several processes never interleave
inside a line, and a kill leaves at most a torn last line (skipped: it was never complete).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.redact import clean

EVENTS_FILE = "events.jsonl"
RUN_DIR_ENV = "DRILL_RUN_EVENTS"  # set by `drill run` for its child: where the child appends


def _iso(at: float | None) -> str:
    moment = datetime.fromtimestamp(at, UTC) if at is not None else datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventsFile:
    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / EVENTS_FILE
        self._offset = 0

    def append(self, kind: str, detail: dict[str, Any], at: float | None = None) -> None:
        line = json.dumps({"at": _iso(at), "kind": kind, "detail": clean(detail)}, allow_nan=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_new(self) -> list[dict[str, Any]]:
        """Complete lines appended since the last call (a line still being written waits for the next)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        out = []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        for raw in data[: end + 1].splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("kind"):
                out.append(entry)
        self._offset += end + 1
        return out

    def read_all(self) -> list[dict[str, Any]]:
        self._offset = 0
        return self.read_new()


def child_sink() -> Callable[[str, dict[str, Any], float | None], None] | None:
    """In the pytest child of `drill run`: a function appending to the run's events file; None otherwise."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        return None
    events = EventsFile(Path(run_dir))

    def sink(kind: str, detail: dict[str, Any], at: float | None = None) -> None:
        try:
            events.append(kind, detail, at)
        except OSError:
            pass  # a full disk must not break the drill's undo; the parent reports the missing evidence

    return sink


class Tail:
    """Copies new lines of a run's events file into `on_event` from a thread, every `every` seconds, until
    stopped (then once more, so nothing written before the child exited is missed)."""

    def __init__(self, events: EventsFile, on_event: Callable[[dict[str, Any]], None], every: float = 0.2):
        self.events, self.on_event, self.every = events, on_event, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-events-tail", daemon=True)
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def start(self) -> Tail:
        self._thread.start()
        return self

    def _drain(self) -> None:
        with self.lock:
            for entry in self.events.read_new():
                self.on_event(entry)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._drain()
            except Exception as err:  # noqa: BLE001 - e.g. a full disk for the live record: reported at stop()
                self.error = err
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error is None:
            self._drain()
        else:
            raise self.error
