"""Chaos Toolkit tests: experiments and target files (no lab), and `chaos run` against the real lab (`lab`)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAOS = str(Path(sys.executable).with_name("chaos"))
# The measurement control chains a drill record per run: a test's runs go to a throwaway reports folder,
# never into the checkout's own reports/records chain (a test passes DRILL_REPORTS_DIR to look at them).
TEST_REPORTS = Path(tempfile.mkdtemp(prefix="drill-chaos-test-reports-"))
atexit.register(shutil.rmtree, TEST_REPORTS, ignore_errors=True)


def chaos(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real `chaos` CLI in a subprocess, its log file kept out of the way."""
    return subprocess.run(
        [CHAOS, "--no-log-file", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "DRILL_REPORTS_DIR": str(TEST_REPORTS), **(env or {})},
    )
