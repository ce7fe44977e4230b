"""Helpers for the network fault tests: the `drill` CLI in a subprocess, timing the app's DB path, reporting."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx


def drill(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real `drill` CLI in a fresh process."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([str(Path(sys.executable).with_name("drill")), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def report(name: str, **numbers) -> None:
    """Measured numbers, printed (-s) and appended to reports/netfaults.txt for the docs."""
    line = f"{name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items())
    print(line)
    out = Path(__file__).resolve().parents[2] / "reports" / "netfaults.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def post_load_seconds(url: str, n: int = 5) -> float:
    """Median wall time of `n` POST /loads on one app replica: an INSERT through the app's DB path."""
    times = []
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            t0 = time.monotonic()
            r = client.post(f"{url}/loads", json={"netfaults": i})
            times.append(time.monotonic() - t0)
            assert r.status_code == 201, (r.status_code, r.text)
    return statistics.median(times)
