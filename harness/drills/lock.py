"""One drill at a time per target: the drill lock, and what other commands do while it is held.

    lock = DrillLock.for_target(target_file)
    lock.acquire(run_id, run_dir)       # DrillLocked (exit 2) naming the holder: pid, run id, since when
    ...                                 # the whole run; the pytest child inherits the descriptor
    lock.release()

    refuse_while_drilling("drill fault inject db-primary-crash", force=False)   # DrillLocked while held

The lock is an `flock` on `<state dir>/drill-locks/<key>.lock` (the state dir is the lab's, where the intent
log lives): the kernel drops it when every process holding the descriptor is gone, so a killed run never
leaves a stale lock. The file's content says who holds it, for the refusal message. Every lab target shares
one key (`lab`: there is one lab per state dir whatever the target file is called); a cloud target's key is
its file's name.

An operator who means it passes `--force`: the command then runs, and its action is appended to the holding
run's events file (`runs/<id>/events.jsonl`), so the drill's record shows it in its timeline as an
`outside-action` (harness/drills/events.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import EXIT_USAGE, HarnessError
from harness.faults.intent import default_state_dir

LOCK_DIR = "drill-locks"
LAB_KEY = "lab"


class DrillLocked(HarnessError):
    """Another drill holds the target: nothing was started or injected."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Holder:
    """Who holds a drill lock (as its holder wrote it)."""

    pid: int | None
    run_id: str | None
    since: str | None
    target: str | None
    host: str | None
    run_dir: str | None

    def describe(self) -> str:
        return (
            f"drill run {self.run_id or '(starting)'} (pid {self.pid or '?'} on {self.host or '?'}, "
            f"target {self.target or '?'}, since {self.since or '?'})"
        )


def lock_key(target_file: Any) -> str:
    """Every lab target drills the one lab of this state dir; a cloud target is its file."""
    return LAB_KEY if target_file is None or target_file.lock_key is None else target_file.lock_key


class DrillLock:
    def __init__(self, key: str, state_dir: Path | None = None):
        self.key = key
        self.path = (state_dir or default_state_dir()) / LOCK_DIR / f"{key}.lock"
        self._fd: int | None = None

    @classmethod
    def for_target(cls, target_file: Any, state_dir: Path | None = None) -> DrillLock:
        return cls(lock_key(target_file), state_dir)

    @property
    def fileno(self) -> int | None:
        """The held descriptor (hand it to a child process so the lock lives as long as either)."""
        return self._fd

    def acquire(self, run_id: str, run_dir: Path, target: str) -> None:
        """Take the lock at once or raise DrillLocked naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.holder()
            who = holder.describe() if holder else "another drill run"
            raise DrillLocked(
                f"target {target} is being drilled by {who}; one drill at a time per target: "
                "nothing was started or injected (wait for it to finish)"
            ) from None
        os.set_inheritable(fd, False)
        body = {
            "pid": os.getpid(),
            "run_id": run_id,
            "since": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "target": target,
            "host": socket.gethostname(),
            "run_dir": str(run_dir),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(body) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # the child, if still alive, keeps its copy until it exits
            self._fd = None

    def holder(self) -> Holder | None:
        """Who holds the lock now; None when nobody does."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raw = os.pread(fd, 4096, 0).decode(errors="replace")
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    body = {}
                return Holder(
                    pid=body.get("pid"),
                    run_id=body.get("run_id"),
                    since=body.get("since"),
                    target=body.get("target"),
                    host=body.get("host"),
                    run_dir=body.get("run_dir"),
                )
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def holders(state_dir: Path | None = None) -> list[Holder]:
    """Every drill lock held now, on any target."""
    folder = (state_dir or default_state_dir()) / LOCK_DIR
    found = [DrillLock(p.stem, state_dir).holder() for p in sorted(folder.glob("*.lock"))] if folder.is_dir() else []
    return [h for h in found if h is not None]


def refuse_while_drilling(action: str, force: bool, key: str = LAB_KEY, state_dir: Path | None = None) -> None:
    """Refuse `action` (a command line, as shown) while a drill holds `key`; with force, let it run and put
    it in the drill's timeline as an outside action."""
    holder = DrillLock(key, state_dir).holder()
    if holder is None:
        return
    if not force:
        raise DrillLocked(
            f"refused: {action}: {holder.describe()} holds the lab; wait for it to finish, or pass --force "
            "if you mean it (recorded in that drill's timeline as an outside action)"
        )
    from harness.drills.events import EventsFile

    if holder.run_dir:
        EventsFile(Path(holder.run_dir)).append(
            "outside-action", {"action": action, "by": _who(), "pid": os.getpid(), "forced": True}
        )


def _who() -> str:
    from harness.evidence.record import default_operator

    return default_operator()
