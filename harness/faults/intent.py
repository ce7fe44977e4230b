"""The intent log: what the harness is about to break and how to put it back, written BEFORE it breaks it.

One append-only JSONL file (default `<state dir>/intent.jsonl`), one event per line, each line written with a
single O_APPEND write under an exclusive fcntl lock and fsync'd before the call returns. Because the undo of
every side effect is on disk before the side effect happens, a fresh process (`drill recover`) can put
everything back after the harness was killed -9, from this file alone.

Events (all carry `event`, `id`, `ts`):
    intend        fault, params, blast (what it will touch), owner {pid, start_time}, undo: []
    undo_record   record {kind, ...}: one more undo step, appended by the fault before each side effect
    injected      detail {...}: the fault is in force
    inject_failed error: the fault broke half-way; its recorded undo steps still have to run
    undo_step     index, outcome: step `index` of this intent's undo ran (so it is not run twice)
    undone        every undo step ran
    undo_failed   error: some undo step failed; the intent stays pending and `recover` retries it

`pending()` = intents with no `undone` event, in the order they were intended.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.faults.undo import process_identity

INTENT_FILE = "intent.jsonl"


def default_state_dir() -> Path:
    """DRILL_STATE_DIR, else the lab's DRILL_LAB_DIR, else `.lab/` at the project root (where the lab lives)."""
    for var in ("DRILL_STATE_DIR", "DRILL_LAB_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(__file__).resolve().parents[2] / ".lab"


@dataclass
class Intent:
    """Everything the log knows about one fault, folded from its events."""

    id: str
    fault: str
    params: dict[str, Any]
    ts: float
    blast: dict[str, Any] = field(default_factory=dict)
    owner: dict[str, Any] = field(default_factory=dict)
    undo: list[dict[str, Any]] = field(default_factory=list)
    done_steps: set[int] = field(default_factory=set)
    state: str = "intended"  # intended | injected | inject_failed | undone | undo_failed
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.state != "undone"


class IntentLog:
    """The append-only, fsync'd, fcntl-locked JSONL intent log."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else default_state_dir() / INTENT_FILE
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    @property
    def state_dir(self) -> Path:
        return self.path.parent

    # -- locking ---------------------------------------------------------------------------------------
    @contextmanager
    def locked(self, exclusive: bool = True) -> Iterator[None]:
        """Hold the log's lock (a separate file, so readers never see a half-appended line).

        Re-entrant per process is NOT supported: take it once around a read-check-append sequence."""
        self._ensure_dir()
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    @contextmanager
    def undo_lock(self) -> Iterator[None]:
        """Serialises undo across processes, so a step marked done is never run twice by two undoers."""
        self._ensure_dir()
        fd = os.open(self.path.with_name(self.path.name + ".undo.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- writing ---------------------------------------------------------------------------------------
    def intend(
        self,
        id: str,
        fault: str,
        params: dict[str, Any],
        *,
        blast: dict[str, Any] | None = None,
        undo: list[dict[str, Any]] | None = None,
    ) -> None:
        self.append(
            {
                "event": "intend",
                "id": id,
                "fault": fault,
                "params": params,
                "blast": blast or {},
                "owner": process_identity(os.getpid()) or {"pid": os.getpid()},
                "undo": list(undo or []),
            }
        )

    def add_undo(self, id: str, record: dict[str, Any]) -> None:
        self.append({"event": "undo_record", "id": id, "record": record})

    def injected(self, id: str, detail: dict[str, Any] | None = None) -> None:
        self.append({"event": "injected", "id": id, "detail": detail or {}})

    def inject_failed(self, id: str, error: str) -> None:
        self.append({"event": "inject_failed", "id": id, "error": error})

    def undo_step(self, id: str, index: int, outcome: str) -> None:
        self.append({"event": "undo_step", "id": id, "index": index, "outcome": outcome})

    def undone(self, id: str) -> None:
        self.append({"event": "undone", "id": id})

    def undo_failed(self, id: str, error: str) -> None:
        self.append({"event": "undo_failed", "id": id, "error": error})

    def append(self, entry: dict[str, Any]) -> None:
        """Append one event durably: one write of one line, fsync'd, under the exclusive lock."""
        entry = {**entry, "ts": time.time()}
        try:
            line = json.dumps(entry, sort_keys=True, allow_nan=False) + "\n"
        except (TypeError, ValueError) as err:
            raise HarnessError(f"intent log entry is not JSON-serialisable ({err}): {entry!r}") from err
        with self.locked():
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:  # make the new directory entry itself durable
                dfd = os.open(self.state_dir, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)

    # -- reading ---------------------------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """Every event, oldest first. A torn last line (power loss mid-write) is skipped, not fatal."""
        if not self.path.exists():
            return []
        with self.locked(exclusive=False):
            raw = self.path.read_text(encoding="utf-8")
        out = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def intents(self) -> dict[str, Intent]:
        """All intents by id, in the order they were intended (dicts keep insertion order)."""
        found: dict[str, Intent] = {}
        for ev in self.events():
            kind, id = ev.get("event"), ev.get("id")
            if kind == "intend":
                found[id] = Intent(
                    id=id,
                    fault=ev["fault"],
                    params=ev.get("params", {}),
                    ts=ev["ts"],
                    blast=ev.get("blast", {}),
                    owner=ev.get("owner", {}),
                    undo=list(ev.get("undo", [])),
                )
                continue
            intent = found.get(id)
            if intent is None:
                continue
            if kind == "undo_record":
                intent.undo.append(ev["record"])
            elif kind == "injected":
                intent.state, intent.detail = "injected", ev.get("detail", {})
            elif kind == "inject_failed":
                intent.state, intent.error = "inject_failed", ev.get("error")
            elif kind == "undo_step":
                intent.done_steps.add(int(ev["index"]))
            elif kind == "undone":
                intent.state, intent.error = "undone", None
            elif kind == "undo_failed":
                intent.state, intent.error = "undo_failed", ev.get("error")
        return found

    def get(self, id: str) -> Intent:
        intents = self.intents()
        if id in intents:
            return intents[id]
        matches = [i for i in intents if i.startswith(id)] if id else []
        if len(matches) == 1:
            return intents[matches[0]]
        if len(matches) > 1:
            raise HarnessError(f"fault id '{id}' is ambiguous: {', '.join(matches)}")
        raise HarnessError(f"no fault with id '{id}' in {self.path}")

    def pending(self) -> list[Intent]:
        """Intended or injected and not yet undone (undo_failed stays pending), oldest first."""
        return [i for i in self.intents().values() if i.pending]

    def _ensure_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
