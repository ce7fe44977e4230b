from __future__ import annotations

import pytest
from measure_helpers import postgres_running, start_ground_truth, start_redis, stop_redis


@pytest.fixture
def server():
    """A fresh ground-truth HTTP server process per test (its state never leaks between tests)."""
    srv = start_ground_truth()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def postgres():
    yield from postgres_running()


@pytest.fixture(scope="session")
def redis_server():
    r = start_redis()
    try:
        yield r
    finally:
        stop_redis(r)


def pytest_collection_modifyitems(items):
    # Measurement is timed against ground truth (known outages, slowdowns): never beside another worker.
    for item in items:
        if "tests/measure/" in str(item.fspath):
            item.add_marker(pytest.mark.timing)
