"""Cold `lab up` to all healthy, memory of the lab's processes, and `lab down`: five runs, median.

Run: .venv/bin/python bench/lab_startup.py [--runs 5] [--replication sync] [--network loopback]
Prints a markdown table (paste into BENCHMARKS.md). Needs no lab running (it uses the default one).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from harness.lab import Lab


def one_run(replication: str, network: str) -> dict:
    t0 = time.monotonic()
    lab = Lab.up(replication=replication, network=network)
    healthy = time.monotonic() - t0
    mem = lab.memory()
    t1 = time.monotonic()
    lab.wait_backup(120)
    backup = time.monotonic() - t1
    mem_after_backup = lab.memory()
    t2 = time.monotonic()
    lab.down()
    return {
        "up_s": healthy,
        "backup_s": backup,
        "down_s": time.monotonic() - t2,
        "rss_mb": mem["rss"] / 2**20,
        "pss_mb": mem["pss"] / 2**20,
        "pss_after_backup_mb": mem_after_backup["pss"] / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--replication", default="sync")
    ap.add_argument("--network", default="loopback")
    a = ap.parse_args()
    runs = []
    for i in range(a.runs):
        r = one_run(a.replication, a.network)
        runs.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in r.items()), flush=True)
    keys = list(runs[0])
    print(
        f"\nmachine: {platform.node() and 'local'} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, replication {a.replication}, network {a.network}\n"
    )
    print("| metric | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " | median |")
    print("|---|" + "---|" * (len(runs) + 1))
    for k in keys:
        vals = [r[k] for r in runs]
        print(f"| {k} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | **{statistics.median(vals):.1f}** |")


if __name__ == "__main__":
    main()
