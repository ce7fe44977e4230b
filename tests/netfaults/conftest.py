"""Network faults through the lab's fault proxies: one real lab for the folder (marked `lab`), stopped at the end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.faults.intent import IntentLog

# The fault lab's helpers (lab session, CLI runner, numbers report) are shared with these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultlab"))
from faultlab_helpers import lab_session  # noqa: E402


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/netfaults/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    """The session's sync lab (started here or kept from an earlier module)."""
    yield from lab_session("sync")


@pytest.fixture
def intent_log() -> IntentLog:
    return IntentLog()  # the default log: the one `drill recover` reads
