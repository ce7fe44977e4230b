"""Helpers for the network fault tests: timing the app's DB path (the CLI runner and `report` are the fault
lab's, tests/faultlab/faultlab_helpers.py)."""

from __future__ import annotations

import statistics
import time

import httpx


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
