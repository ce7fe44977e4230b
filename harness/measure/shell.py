"""Run the user's fault / recovery shell command, timed, with its failure kept visible (never hidden)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from harness.measure.result import CommandRun
from harness.redact import mask


def run_shell(command: str, timeout: float, started_s: float) -> CommandRun:
    """Run `command` in a shell in its own process group; kill the group if it outlives `timeout`.

    `started_s` is the command's start relative to t_inject (0 for the fault command itself).
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=max(0.1, timeout))
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own process group, nothing else
        _, err = proc.communicate()
        code = None
    tail = "\n".join(err.decode(errors="replace").strip().splitlines()[-10:])[-2000:]
    return CommandRun(
        command=mask(command),
        exit_code=code,
        started_s=round(started_s, 4),
        duration_s=round(time.monotonic() - t0, 4),
        stderr_tail=mask(tail) or "",
    )
