"""Fixtures for the fault framework tests: a private state dir, real victim processes the test owns, and the
`drill` command line (through harness.cli once it registers the fault commands, else the module's own entry)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.faults.intent import IntentLog

REPO = Path(__file__).resolve().parents[2]


def _cli_prefix() -> list[str]:
    """`drill` itself when harness/cli.py registers `fault`, else the same commands from the module."""
    from harness import cli

    names = {g.name for g in cli.app.registered_groups}
    if "fault" in names:
        return [sys.executable, "-m", "harness.cli"]
    return [sys.executable, "-m", "harness.commands.fault"]


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir, so tests never touch a running lab's intent log, and a private (empty) lab dir,
    so a lab fault here always meets "no lab is running": with the real `.lab/` visible, a lab someone left
    up would get its primary killed by the bad-input test that expects that refusal (it happened)."""
    path = tmp_path / "state"
    path.mkdir()
    (tmp_path / "no-lab").mkdir()
    monkeypatch.setenv("DRILL_STATE_DIR", str(path))
    monkeypatch.setenv("DRILL_LAB_DIR", str(tmp_path / "no-lab"))
    return path


@pytest.fixture
def log(state_dir: Path) -> IntentLog:
    return IntentLog(state_dir / "intent.jsonl")


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start processes in their own session (own process group: freezing it never freezes pytest), and make
    sure every one is resumed and killed at the end, whatever the test did to it."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("cwd", REPO)
        proc = subprocess.Popen(argv, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait(timeout=10)


@pytest.fixture
def victim(spawn) -> subprocess.Popen:
    """A real process to break: `sleep` in its own session."""
    return spawn(["sleep", "600"])


@pytest.fixture
def drill(state_dir: Path) -> Callable[..., subprocess.CompletedProcess]:
    prefix = _cli_prefix()

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "DRILL_STATE_DIR": str(state_dir),
            "DRILL_LAB_DIR": str(state_dir.parent / "no-lab"),
            "COLUMNS": "200",
        }
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)

    return run
