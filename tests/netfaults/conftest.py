"""Network faults through the lab's fault proxies: one real lab for the folder (marked `lab`), stopped at the end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.faults import runner
from harness.faults.intent import IntentLog
from harness.lab import Lab
from harness.lab.prereq import missing_binaries

# The fault lab's helpers (CLI runner, numbers report) are shared with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultlab"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/netfaults/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    """A fresh lab (a running one may predate the proxies: it is recovered and stopped first)."""
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    try:
        running = Lab.load()
    except HarnessError:
        running = None
    if running is not None:
        runner.recover()
        running.down()
    the_lab = Lab.up(replication="sync", timeout=150)
    the_lab.wait_healthy(60)
    try:
        yield the_lab
    finally:
        runner.recover()  # nothing a failed test injected may outlive it
        the_lab.down()


@pytest.fixture
def intent_log() -> IntentLog:
    return IntentLog()  # the default log: the one `drill recover` reads
