"""Benchmark: the S3 object faults and their restores on the lab's own S3 endpoint (harness/lab/s3.py: moto's
server mode, a versioned primary and DR bucket, the replicator standing for CRR with its 5 s lag).

    .venv/bin/drill lab up && .venv/bin/python bench/lab_s3_restore.py --runs 3; .venv/bin/drill lab down

Each run: the harness writes its object (3 versions), object-delete, s3-version-restore; then one version, the
wait until the DR bucket holds its replica, one more version, object-overwrite, s3-cross-region-restore (so the
DR copy is one version behind: object RPO = the replicator's lag, at S3's one-second resolution); each fault
undone after. Prints the replication wait, each restore's wall time and steps, and the object RPO.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.faults import aws_s3, runner  # noqa: E402
from harness.lab import Lab  # noqa: E402
from harness.recovery import Confirmer, get  # noqa: E402


def _restore(lab: Lab, name: str, key: str) -> tuple[float, dict]:
    t0 = time.monotonic()
    report = get(name).run(lab, {"key": key}, Confirmer(auto=True, why="bench"))
    wall = time.monotonic() - t0
    if not report.ok:
        raise SystemExit(f"{name} failed: {report.steps[-1].outcome}")
    return wall, report.facts["restore"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lab = Lab.load()
    setup = aws_s3.lab_setup(lab)
    for n in range(1, args.runs + 1):
        key = f"bench/{time.time_ns()}.json"
        aws_s3.write_objects(setup, key, 3)
        fault = runner.inject("object-delete", {"key": key}, lab)
        wall, out = _restore(lab, "s3-version-restore", key)
        runner.undo(fault)
        steps = ", ".join(f"{s['step']} {s['seconds'] * 1000:.0f} ms" for s in out["steps"])
        print(f"run {n} s3-version-restore: {wall * 1000:.0f} ms wall, RPO {out['rpo_s']} s ({steps})")

        aws_s3.write_objects(setup, key, 1)
        waited = aws_s3.wait_replicated(setup, key)
        aws_s3.write_objects(setup, key, 1)
        fault = runner.inject("object-overwrite", {"key": key}, lab)
        wall, out = _restore(lab, "s3-cross-region-restore", key)
        runner.undo(fault)
        steps = ", ".join(f"{s['step']} {s['seconds'] * 1000:.0f} ms" for s in out["steps"])
        print(
            f"run {n} s3-cross-region-restore: replica after {waited:.2f} s; {wall * 1000:.0f} ms wall, "
            f"RPO {out['rpo_s']} s ({steps})"
        )


if __name__ == "__main__":
    main()
