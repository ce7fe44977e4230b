"""Undo as data: a registry of undo actions, `kind` → function(record) → outcome text.

A fault never undoes itself with its own code. Before each side effect it writes an undo record (a plain
JSON dict: `{"kind": "sigcont", "members": [...]}`) into the intent log; undo — in the same process, or in a
fresh `drill recover` after the harness was killed -9 — looks the kind up here and calls it with the record.

Every action must be idempotent (running it twice, or after the thing already healed, is harmless) and must
never signal a process it did not mean: a PID is only signalled when its start time (field 22 of
/proc/<pid>/stat) and the boot id match what was recorded, so a recycled PID is left alone.

The kinds here need no environment (noop, sigcont, restart_command). Each environment module registers its own
(harness/faults/lab.py: lab_start, netns_heal, proxy_mode, ...; aws.py; k8s.py), and harness.faults.registry
imports every one of them, so whoever replays undo through the runner knows every kind.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

UndoAction = Callable[[dict[str, Any]], str]
_ACTIONS: dict[str, UndoAction] = {}


def undo_action(kind: str) -> Callable[[UndoAction], UndoAction]:
    """Register `fn` as the undo for records of `kind`."""

    def register(fn: UndoAction) -> UndoAction:
        _ACTIONS[kind] = fn
        return fn

    return register


def known_kinds() -> list[str]:
    return sorted(_ACTIONS)


def check_record(record: dict[str, Any]) -> None:
    """Refuse a record nobody could replay — checked before the side effect it protects."""
    kind = record.get("kind")
    if kind not in _ACTIONS:
        raise HarnessError(f"undo record kind '{kind}' has no undo action; known: {', '.join(known_kinds())}")


def perform(record: dict[str, Any]) -> str:
    """Run the undo action for one record; returns what it did. Raises on failure."""
    check_record(record)
    return _ACTIONS[record["kind"]](record)


# -- process identity --------------------------------------------------------------------------------------
def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def read_stat(pid: int) -> dict[str, Any] | None:
    """pid, comm, state, ppid, pgid, start_time (clock ticks since boot) from /proc/<pid>/stat, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm is in parentheses and may itself contain spaces or ')': split at the LAST ')'.
    head, _, tail = raw.rpartition(")")
    fields = tail.split()
    return {
        "pid": pid,
        "comm": head.partition("(")[2],
        "state": fields[0],
        "ppid": int(fields[1]),
        "pgid": int(fields[2]),
        "start_time": int(fields[19]),
    }


def process_identity(pid: int) -> dict[str, Any] | None:
    """What identifies this process uniquely on this machine: pid + start time + boot id."""
    stat = read_stat(pid)
    if stat is None:
        return None
    return {"pid": pid, "start_time": stat["start_time"], "boot_id": boot_id()}


def same_process(identity: dict[str, Any]) -> bool:
    """True if identity's PID is still the very process recorded and is alive (a zombie is dead)."""
    stat = read_stat(int(identity["pid"]))
    if stat is None or stat["state"] in ("Z", "X"):
        return False
    if identity.get("boot_id") and identity["boot_id"] != boot_id():
        return False
    return stat["start_time"] == int(identity["start_time"])


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is pgid (scan of /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None and stat["pgid"] == pgid:
                members.append(stat["pid"])
    return sorted(members)


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(shlex.quote(p) for p in raw.decode(errors="replace").split("\0") if p)


# -- the actions -------------------------------------------------------------------------------------------
@undo_action("noop")
def _noop(record: dict[str, Any]) -> str:
    return record.get("reason", "nothing to undo")


@undo_action("sigcont")
def _sigcont(record: dict[str, Any]) -> str:
    """Resume frozen processes: {"kind": "sigcont", "members": [{pid, start_time, boot_id}, ...]}."""
    resumed, gone, other = [], [], []
    for member in record["members"]:
        pid = int(member["pid"])
        if not same_process(member):
            (other if read_stat(pid) else gone).append(pid)
            continue
        try:
            os.kill(pid, signal.SIGCONT)
            resumed.append(pid)
        except ProcessLookupError:
            gone.append(pid)
    parts = [f"resumed {_pids(resumed)}"] if resumed else []
    if gone:
        parts.append(f"already gone {_pids(gone)}")
    if other:
        parts.append(f"left alone (PID now belongs to another process) {_pids(other)}")
    return "; ".join(parts) or "nothing to resume"


@undo_action("restart_command")
def _restart_command(record: dict[str, Any]) -> str:
    """Start a killed process again: {"kind": "restart_command", "argv": [...], "victim": identity,
    "log": path, "cwd": path|None}. Does nothing while the victim still runs (the kill never happened), so
    replaying it after a crash between 'record' and 'kill' does not start a second copy."""
    victim = record.get("victim")
    if victim and same_process(victim):
        return f"pid {victim['pid']} still running; not restarted"
    log = Path(record["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            proc = subprocess.Popen(
                record["argv"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=record.get("cwd") or None,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as err:
            raise HarnessError(f"restart command {shlex.join(record['argv'])!r} failed: {err}") from err
    return f"restarted as pid {proc.pid} ({shlex.join(record['argv'])}; log {log})"


def _pids(pids: list[int]) -> str:
    return ("pid " if len(pids) == 1 else "pids ") + ", ".join(map(str, pids))
