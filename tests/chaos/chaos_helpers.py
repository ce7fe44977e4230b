"""Chaos Toolkit tests: experiments and target files (no lab), and `chaos run` against the real lab (`lab`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))


def chaos(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `chaos` CLI in a subprocess, its log file kept out of the way."""
    return subprocess.run([CHAOS, "--no-log-file", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
