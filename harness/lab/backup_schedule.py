"""The lab's backup schedule, one process per lab (`python -m harness.lab.backup_schedule ROOT DAY_S`, started
by `drill lab up` and stopped with the lab): a Redis snapshot right away, then every lab day an incremental
PostgreSQL backup (from whichever node answers as primary then) and a Redis snapshot. A module of its own so
that backup.py, which postgres.py uses for its archive and restore commands, imports neither the Lab nor
postgres.py."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.lab import backup, postgres
from harness.lab.lab import Lab


def run_schedule(root: Path, day_s: float) -> None:
    """The first incremental waits for the start's full backup (pgBackRest refuses one without it)."""
    ctx = Lab.load(root, partial=True).ctx
    backup.redis_snapshot(ctx)
    next_run = time.monotonic() + day_s
    while True:
        time.sleep(max(0.5, min(5.0, next_run - time.monotonic())))
        if time.monotonic() < next_run:
            continue
        next_run = time.monotonic() + day_s
        if backup.status(ctx) == "ok":
            backup.pg_backup(ctx, "incr", node=postgres.primary_node(ctx))
        backup.redis_snapshot(ctx)


if __name__ == "__main__":
    run_schedule(Path(sys.argv[1]), float(sys.argv[2]))
