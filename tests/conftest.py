"""The test session's lab order: tests that need no lab first, then every module on the shared sync lab one
after another (faultlab_helpers.lab_session keeps it between them instead of ~25 s to stop and start it each
time), then the modules that need a lab of their own (marked `own_lab`: other replication or network options).
The kept lab is stopped when the session ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "faultlab"))
from faultlab_helpers import release_kept  # noqa: E402 - the one way to run a test lab


def _lab_group(item: pytest.Item) -> int:
    if item.get_closest_marker("lab") is None:
        return 0
    return 2 if item.get_closest_marker("own_lab") is not None else 1


@pytest.hookimpl(trylast=True)  # after the folders' hooks have marked their items `lab`
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_lab_group)  # stable: the order within each group is kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    release_kept()
