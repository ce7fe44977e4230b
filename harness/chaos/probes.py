"""Chaos Toolkit probes for the local lab: its health checks (harness.lab) and what the intent log holds.
Use them in a steady-state hypothesis (with a tolerance) or in the method (wait until healthy).

    {"type": "probe", "name": "the lab is healthy", "tolerance": true,
     "provider": {"type": "python", "module": "harness.chaos.probes", "func": "lab_healthy"}}
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.errors import HarnessError
from harness.faults.intent import IntentLog


def _lab() -> Any:
    from harness.lab import Lab

    return Lab.load()


def lab_healthy() -> bool:
    """Every lab component running and healthy right now (one look, no waiting)."""
    try:
        _lab().wait_healthy(0)
        return True
    except HarnessError:
        return False


def lab_problems() -> list[str]:
    """What is not healthy right now ([] when all is well): for a journal that says why."""
    status = _lab().status()
    return list(status.get("problems") or [])


def wait_lab_healthy(timeout: float = 180) -> bool:
    """Block until the lab is healthy (True) or raise after `timeout` s naming what is not."""
    _lab().wait_healthy(float(timeout))
    return True


def app_healthy(timeout: float = 2.0) -> bool:
    """The app's /health through HAProxy answers 200."""
    try:
        return httpx.get(f"{_lab().app_url}/health", timeout=float(timeout)).status_code == 200
    except httpx.HTTPError:
        return False


def postgres_leader() -> str | None:
    """The Patroni leader's member name (e.g. "pg-a"), None during an election."""
    return _lab().postgres_leader()


def postgres_writable() -> bool:
    """A write through HAProxy's primary endpoint commits."""
    from psycopg import connect

    try:
        with connect(_lab().pg_dsn("primary"), autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT txid_current()")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not writable" to a probe
        return False


def redis_primary() -> str | None:
    """The Redis primary the Sentinels agree on (component name), None while they disagree."""
    return _lab().redis_primary()


def component_healthy(name: str) -> bool:
    rows = {c["name"]: c for c in _lab().status()["components"]}
    if name not in rows:
        raise HarnessError(f"unknown component {name!r}; the lab has: {', '.join(sorted(rows))}")
    return bool(rows[name].get("ok"))


def pending_faults(intent_log: str | None = None) -> int:
    """How many faults of the intent log are still in force (0 after every rollback played)."""
    return len((IntentLog(intent_log) if intent_log else IntentLog()).pending())


def redis_writable() -> bool:
    """A SET on the Sentinel-discovered Redis primary succeeds."""
    try:
        return bool(_lab().redis_client(timeout=1.0).set("chaos:probe", "1", ex=60))
    except Exception:  # noqa: BLE001
        return False


def _wait(check: Any, what: str, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + float(timeout)
    while not check():
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what} not within {float(timeout):g} s")
        time.sleep(0.25)
    return True


def wait_app_healthy(timeout: float = 120) -> bool:
    """Block until the app answers 200 through HAProxy (raise after `timeout` s)."""
    return _wait(app_healthy, "the app healthy through HAProxy", timeout)


def wait_postgres_writable(timeout: float = 120) -> bool:
    """Block until a write through the primary endpoint commits (raise after `timeout` s)."""
    return _wait(postgres_writable, "a PostgreSQL write through HAProxy", timeout)


def wait_redis_writable(timeout: float = 120) -> bool:
    """Block until the Redis primary (through the Sentinels) takes a write (raise after `timeout` s)."""
    return _wait(redis_writable, "a Redis write through the Sentinels", timeout)
