"""Accuracy and cost of the measurement engine against ground truth.

    .venv/bin/python bench/measure_accuracy.py [--repeat N]

1. A ground-truth HTTP server goes down for exactly D seconds (refuse / 503 / hang); the engine measures
   RTO at probe intervals of 10, 50 and 100 ms. Prints measured RTO, error vs D and the stated uncertainty.
   Then slow, not down: the server answers in exactly L s for D s (`slow:L`) against a 1 s budget and a
   degraded threshold of L/2: below the budget the truth is "no outage, degraded D s", above it an outage.
2. CPU cost: 4 probes (http, tcp, redis, postgres) at 20 Hz for 10 s; process CPU seconds per wall second
   of this process (all threads), plus the same at 100 Hz.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "measure"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from measure_helpers import (  # noqa: E402
    start_ground_truth,
    start_postgres,
    start_redis,
    stop_postgres,
    stop_redis,
)

from harness.errors import TargetUnhealthy  # noqa: E402
from harness.measure import Measurement, parse_probe_spec  # noqa: E402


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def one_run(srv, spec: str, interval: float, mode: str, d: float) -> tuple[float, float, int, float, float] | None:
    """(measured RTO, ground truth t_up - t_inject, false failures after t_up, uncertainty, degraded s) or None
    if the healthy baseline was refused (a sample missed its deadline while the server was up)."""
    with (
        tempfile.TemporaryDirectory() as out,
        Measurement(probes=[parse_probe_spec(spec)], interval=interval, stable=0.5, out_dir=Path(out)) as m,
    ):
        m.start()
        try:
            m.baseline(0.3)
        except TargetUnhealthy:
            return None
        t_inject = m.mark_inject(mode)
        _, t_up = srv.down(mode, d)
        m.wait_recovered(d + 10)
        if mode.startswith("slow:"):  # let the last slow answers land before the end of the fault is marked
            time.sleep(max(0.0, t_up + float(mode[5:]) + 0.3 - time.monotonic()))
            m.mark_fault_end()
        samples = m.samples()
        r = m.stop()
    # a failed sample that started after the server was back (+ one timeout) is our noise, not the target's
    false_failures = sum(
        1 for series in samples.values() for s in series if not s.ok and s.t > t_up + r.probe_timeout_s
    )
    return r.rto_s, t_up - t_inject, false_failures, r.uncertainty_s, r.degraded_s


def accuracy(repeat: int) -> None:
    srv = start_ground_truth()
    print(
        "| probe | interval ms | mode | D s | runs | measured RTO s (mean) | error ms (mean / max abs) "
        "| stated uncertainty ms | degraded s (mean) | false failures after recovery | baselines refused |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    plan = [
        ("http", i, mode, d)
        for i in (0.010, 0.050, 0.100)
        for mode in ("refuse", "503", "hang")
        for d in (0.5, 1.5, 3.0)
    ]
    plan += [("tcp", 0.010, "refuse", d) for d in (0.5, 1.5, 3.0)]
    # slow, not down: L below the interval's multiple but within the 1 s budget, and L above the budget
    plan += [("http", 0.050, f"slow:{latency}", 3.0) for latency in (0.08, 0.3, 1.5)]
    try:
        for kind, interval, mode, d in plan:
            spec = f"http={srv.url}" if kind == "http" else f"tcp=127.0.0.1:{srv.port}"
            if mode.startswith("slow:"):
                spec += f"|budget=1|degraded={float(mode[5:]) / 2:g}"
            rtos, errs, degs, false, refused = [], [], [], 0, 0
            while len(rtos) < repeat and refused < 10:
                run = one_run(srv, spec, interval, mode, d)
                if run is None:
                    refused += 1
                    continue
                rto, truth, ff, unc, degraded = run
                if mode.startswith("slow:") and float(mode[5:]) < 1.0:
                    truth = 0.0  # within the budget: slow is not down, the true outage is none
                rtos.append(rto)
                errs.append((rto - truth) * 1000)
                degs.append(degraded)
                false += ff
            if not rtos:
                print(f"| {kind} | {interval * 1000:.0f} | {mode} | {d} | 0 | — | — | — | — | — | {refused} |")
                continue
            print(
                f"| {kind} | {interval * 1000:.0f} | {mode} | {d} | {len(rtos)} | {statistics.mean(rtos):.4f} | "
                f"{statistics.mean(errs):+.1f} / {max(map(abs, errs)):.1f} | {unc * 1000:.0f} | "
                f"{statistics.mean(degs):.3f} | {false} | "
                f"{refused} |",
                flush=True,
            )
    finally:
        srv.stop()


def cpu_cost() -> None:
    srv, pg, rd = start_ground_truth(), start_postgres(), start_redis()
    try:
        probes = [f"http={srv.url}", f"tcp=127.0.0.1:{srv.port}", f"redis={rd.url}", f"postgres={pg.dsn}"]
        print("\n| probes | rate per probe | wall s | CPU s | CPU s per wall s | samples | failed |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for hz in (20, 100):
            with (
                tempfile.TemporaryDirectory() as out,
                Measurement(
                    probes=[parse_probe_spec(p) for p in probes], interval=1 / hz, stable=1.0, out_dir=Path(out)
                ) as m,
            ):
                m.start()
                time.sleep(1.0)  # warm-up: connections, imports
                c0, w0 = cpu_seconds(), time.monotonic()
                time.sleep(10.0)
                c1, w1 = cpu_seconds(), time.monotonic()
                r = m.stop()
            n = sum(p.samples for p in r.probes)
            failed = sum(p.failures for p in r.probes)
            print(
                f"| http, tcp, redis, postgres | {hz} Hz | {w1 - w0:.1f} | {c1 - c0:.2f} | "
                f"{(c1 - c0) / (w1 - w0):.3f} | {n} | {failed} |",
                flush=True,
            )
    finally:
        srv.stop()
        stop_postgres(pg)
        stop_redis(rd)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    accuracy(args.repeat)
    cpu_cost()
