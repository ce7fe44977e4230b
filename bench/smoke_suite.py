"""Benchmark: wall time of the smoke drill suite as `make drill` runs it (lab start, drills, lab stop, report).

    .venv/bin/python bench/smoke_suite.py [--runs N]

Runs `drill run --tags smoke --yes --report` with no lab running (so it starts and stops one) and prints a
table: total wall time and the per-scenario measured RTO. Needs the lab prerequisites; leaves nothing running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def one_run(reports: Path) -> tuple[float, int, list[dict]]:
    t0 = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("drill")),
            "run",
            "--tags",
            "smoke",
            "--yes",
            "--report",
            "--reports",
            str(reports),
        ],
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - t0
    found = [json.loads(p.read_text()) for p in reports.glob("runs/*/scenarios/*/scenario.json")]
    return wall, done.returncode, found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    walls, table = [], Table(title=f"smoke suite ({os.cpu_count()} cores, {platform.platform()})")
    for col in ("run", "exit", "wall s", "scenario RTOs (s)"):
        table.add_column(col)
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            wall, code, found = one_run(Path(tmp) / "reports")
        walls.append(wall)
        rtos = ", ".join(f"{s['name'][:28]}={s['measurement']['rto_s']:.1f}" for s in found if s.get("measurement"))
        table.add_row(str(i + 1), str(code), f"{wall:.1f}", rtos)
    Console().print(table)
    print(f"median wall: {statistics.median(walls):.1f} s over {len(walls)} run(s)")


if __name__ == "__main__":
    main()
