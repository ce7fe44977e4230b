"""One real lab per test session (reused if one is already up and healthy with the same options)."""

from __future__ import annotations

import pytest
from faultlab_helpers import release_kept

from harness.lab import running_lab
from harness.lab.network import LabNetwork
from harness.lab.prereq import missing_binaries


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)
            item.add_marker(pytest.mark.own_lab)


@pytest.fixture(scope="session", params=["loopback", "netns"])
def lab(request):
    """The same integration tests run on both network modes, one lab at a time (fixed ports)."""
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    if request.param == "netns":
        ok, why = LabNetwork.netns_available()
        if not ok:
            pytest.skip(f"netns mode unavailable here: {why}")
    release_kept()  # another module's kept lab would be reused with its state, or clash with other options
    with running_lab(replication="sync", network=request.param, timeout=150) as the_lab:
        yield the_lab
