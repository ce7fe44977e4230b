"""Helpers shared by the fault tests (a uniquely named module: conftest.py is not importable by name)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def proc_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat ('S', 'R', 'T' stopped, 'Z' zombie), None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return raw.rpartition(")")[2].split()[0]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
