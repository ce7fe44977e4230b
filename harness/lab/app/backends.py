"""The app's clients for PostgreSQL and Redis, built for faults: every call has a hard deadline.

A frozen server still ACKs TCP, so socket options alone can't bound a call. DB calls run in a worker thread
and the request gives up after `timeout`; the connection that hung is discarded, never reused.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

_EXECUTOR = ThreadPoolExecutor(max_workers=32, thread_name_prefix="backend")


async def with_deadline(fn: Callable[[], Any], timeout: float) -> Any:
    """Run blocking `fn` in a worker thread; raise TimeoutError after `timeout` s (the thread is abandoned)."""
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(_EXECUTOR, fn), timeout)


class Database:
    """A tiny connection pool over psycopg 3 (sync) with a per-call deadline."""

    def __init__(self, dsn: str, timeout: float):
        self.dsn, self.timeout = dsn, timeout
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=max(1, int(self.timeout + 0.999)),
            tcp_user_timeout=int(self.timeout * 1000),
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
        )

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        conn = conn or self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._idle.append(conn)
        return rows

    async def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return await with_deadline(lambda: self._run(sql, params), self.timeout)


class Cache:
    """Redis through Sentinel discovery (or a direct URL), with short socket timeouts and no retries."""

    def __init__(self, sentinels: tuple[tuple[str, int], ...], service: str, url: str, timeout: float):
        no_retry = Retry(NoBackoff(), 0)
        self.timeout = timeout
        if url:
            self._client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry
            )
            self._sentinel = None
        else:
            self._sentinel = Sentinel(
                list(sentinels), socket_timeout=timeout / 2, socket_connect_timeout=timeout / 2, retry=no_retry
            )
            self._client = self._sentinel.master_for(
                service, socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry
            )
        self.service = service

    async def get(self, key: str) -> Any:
        raw = await with_deadline(lambda: self._client.get(key), self.timeout * 2)
        return json.loads(raw) if raw is not None else None

    async def set(self, key: str, value: Any, ttl: int) -> None:
        await with_deadline(lambda: self._client.set(key, json.dumps(value, default=str), ex=ttl), self.timeout * 2)

    async def ping(self) -> dict:
        def check() -> dict:
            self._client.ping()
            info = {"ok": True}
            if self._sentinel is not None:
                host, port = self._sentinel.discover_master(self.service)
                info["primary"] = f"{host}:{port}"
            return info

        return await with_deadline(check, self.timeout * 2)
