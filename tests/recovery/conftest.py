"""Recovery procedures on the real lab: marked `lab`; one lab for the folder's module, stopped at its end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.faults.intent import IntentLog

# Reuse the lab-session helpers of the fault tests (one lab at a time, recover + down at the end).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faultlab"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/recovery/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture
def intent_log() -> IntentLog:
    return IntentLog()
