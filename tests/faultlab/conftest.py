"""Lab fault tests: marked `lab`; each test gets the default intent log (the one `drill recover` reads)."""

from __future__ import annotations

import pytest

from harness.faults.intent import IntentLog


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faultlab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture
def intent_log() -> IntentLog:
    return IntentLog()
