from __future__ import annotations

import pytest

from measure_helpers import start_ground_truth, start_postgres, start_redis, stop_postgres, stop_redis


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
    pg = start_postgres()
    try:
        yield pg
    finally:
        stop_postgres(pg)


@pytest.fixture(scope="session")
def redis_server():
    r = start_redis()
    try:
        yield r
    finally:
        stop_redis(r)
