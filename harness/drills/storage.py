"""File-system errors during `drill run` as one clear error with the right exit code.

Before anything is injected a full disk or an unwritable reports folder is bad usage (exit 2, nothing
started); after, it is a drill that could not complete (exit 3): the child's faults were undone by then (its
rollback does not write to the reports folder first), and the chain is never half-written (an append writes
the record to a temporary file before linking it), so `drill verify` stays valid and shows the run's live
record as incomplete until `drill recover --reports DIR` seals it.

    storage.check_writable(reports)          # ReportsUnwritable (exit 2)
    guard = storage.Guard(injected=False)
    with guard:                              # OSError -> ReportsUnwritable (2) or RecordNotWritten (3)
        ...
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from types import TracebackType

from harness.errors import EXIT_NOT_RECOVERED, EXIT_USAGE, HarnessError

MIN_FREE_BYTES = 32 * 1024 * 1024  # a run writes samples, Allure results and the record: a few MB each


class ReportsUnwritable(HarnessError):
    """The reports folder cannot take a run: nothing was started or injected."""

    exit_code = EXIT_USAGE


class RecordNotWritten(HarnessError):
    """A storage error after the drill started: its faults were undone, its evidence is incomplete."""

    exit_code = EXIT_NOT_RECOVERED


def check_writable(reports: Path, min_free: int = MIN_FREE_BYTES) -> None:
    """The reports folder exists (or can be made), takes a file, and has room for a run."""
    try:
        (reports / "records").mkdir(parents=True, exist_ok=True)
        probe = reports / "records" / f".write-check-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
        free = shutil.disk_usage(reports).free
    except OSError as err:
        raise ReportsUnwritable(f"--reports {reports}: {_why(err)}; nothing was started or injected") from None
    if free < min_free:
        raise ReportsUnwritable(
            f"--reports {reports}: only {free / 1e6:.1f} MB free (a drill run needs {min_free / 1e6:.0f} MB for "
            "its samples, results and record); nothing was started or injected"
        )


def _why(err: OSError) -> str:
    what = os.strerror(err.errno) if err.errno else str(err)
    where = f" ({err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return f"the disk is full{where}"
    return f"{what.lower()}{where}"


class Guard:
    """Turns an OSError inside the block into one HarnessError: exit 2 while nothing is injected, else 3."""

    def __init__(self, injected: bool = False):
        self.injected = injected

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if not isinstance(err, OSError):
            return
        if not self.injected:
            raise ReportsUnwritable(f"cannot write the run's evidence: {_why(err)}; nothing was injected") from None
        raise RecordNotWritten(
            f"cannot write the run's evidence: {_why(err)}; the drill's faults were undone, but its record is "
            "incomplete (`drill verify` lists it; free space, then `drill recover --reports DIR` seals it)"
        ) from None
