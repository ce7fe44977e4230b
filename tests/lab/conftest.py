"""The lab integration tests run on both network modes, one lab at a time (fixed ports). The netns run uses the
session's shared sync lab (the one the fault and drill modules kept, netns when root): those tests run after
every other module on it (marker `ends_shared_lab`: test_lifecycle stops it), which saves a lab start and stop.
The loopback run needs a lab of its own (marker `own_lab`)."""

from __future__ import annotations

import functools

import pytest
from faultlab_helpers import lab_session, release_kept

from harness.lab import default_network_mode, running_lab
from harness.lab.network import LabNetwork
from harness.lab.prereq import missing_binaries


@functools.cache
def _shared_lab_is_netns() -> bool:
    return default_network_mode() == "netns"  # probes a throwaway namespace: once per session


def _on_the_shared_lab(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("lab") == "netns" and _shared_lab_is_netns()


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)
            item.add_marker(pytest.mark.ends_shared_lab if _on_the_shared_lab(item) else pytest.mark.own_lab)


@pytest.fixture(scope="session", params=["loopback", "netns"])
def lab(request):
    missing = missing_binaries()
    if missing:
        pytest.skip("lab prerequisites missing: " + ", ".join(missing))
    if request.param == "netns":
        ok, why = LabNetwork.netns_available()
        if not ok:
            pytest.skip(f"netns mode unavailable here: {why}")
        if _shared_lab_is_netns():  # the shared lab is a sync netns lab: reuse it (or start it)
            yield from lab_session("sync")
            return
    release_kept()  # another module's kept lab would be reused with its state, or clash with other options
    with running_lab(replication="sync", network=request.param, timeout=150) as the_lab:
        yield the_lab
