"""The test session's lab order: tests that need no lab first, then every module on the shared sync lab one
after another (faultlab_helpers.lab_session keeps it between them instead of ~25 s to stop and start it each
time), then the tests that end it (marked `ends_shared_lab`: the netns lab integration tests, whose last one
stops the lab), then the modules that need a lab of their own (marked `own_lab`: other network options, a
half-started lab). The kept lab is stopped when the session ends."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs the tests that need no lab on two workers), each worker gets its own
# state folder: the intent log, the drill lock and the lab state of one worker's tests (and of the `drill`
# processes they start, which inherit the environment) are invisible to the other's. Tests needing the lab
# never run on workers.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _worker_state = Path(tempfile.mkdtemp(prefix=f"drill-tests-{os.environ['PYTEST_XDIST_WORKER']}-"))
    os.environ["DRILL_STATE_DIR"] = str(_worker_state / "state")
    os.environ["DRILL_LAB_DIR"] = str(_worker_state / "lab")

sys.path.insert(0, str(Path(__file__).resolve().parent / "faultlab"))
from faultlab_helpers import release_kept  # noqa: E402 - the one way to run a test lab


def _lab_group(item: pytest.Item) -> int:
    if item.get_closest_marker("lab") is None:
        return 0
    if item.get_closest_marker("own_lab") is not None:
        return 3
    return 2 if item.get_closest_marker("ends_shared_lab") is not None else 1


@pytest.hookimpl(trylast=True)  # after the folders' hooks have marked their items `lab`
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_lab_group)  # stable: the order within each group is kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    release_kept()
