"""One real lab per test session (reused if one is already up and healthy with the same options)."""

from __future__ import annotations

import pytest

from harness.lab import running_lab
from harness.lab.prereq import missing_binaries


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    # loopback: the mode that works everywhere; netns is exercised when the network layer supports it.
    with running_lab(replication="sync", network="loopback", timeout=150) as the_lab:
        yield the_lab

