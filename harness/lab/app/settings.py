"""The app's settings: command-line options, each with a DRILL_APP_* environment fallback."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 18081
    zone: str = "az-a"
    name: str = "app"
    db_dsn: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    redis_service: str = "freight"
    redis_url: str = ""  # direct Redis (DR replica) instead of Sentinel discovery
    version: str = "1.0.0"
    broken: bool = False
    db_timeout: float = 1.0  # every DB call, connect included, is abandoned after this
    cache_timeout: float = 0.5
    cache_ttl: int = 300


def _sentinels(text: str) -> tuple[tuple[str, int], ...]:
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        host, _, port = item.rpartition(":")
        out.append((host, int(port)))
    return tuple(out)


def parse(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m harness.lab.app", description="freight load service")
    p.add_argument("--host", default=env("DRILL_APP_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("DRILL_APP_PORT", "18081")))
    p.add_argument("--zone", default=env("DRILL_APP_ZONE", "az-a"))
    p.add_argument("--name", default=env("DRILL_APP_NAME", "app"))
    p.add_argument("--db-dsn", default=env("DRILL_APP_DB_DSN", ""), help="libpq URL (password via passfile)")
    p.add_argument("--sentinels", default=env("DRILL_APP_SENTINELS", ""), help="host:port,host:port,...")
    p.add_argument("--redis-service", default=env("DRILL_APP_REDIS_SERVICE", "freight"))
    p.add_argument("--redis-url", default=env("DRILL_APP_REDIS_URL", ""))
    p.add_argument("--version", default=env("DRILL_APP_VERSION", "1.0.0"))
    p.add_argument(
        "--broken",
        action="store_true",
        default=env("DRILL_APP_BROKEN", "") in ("1", "true", "yes"),
        help="ship a broken build: /health fails",
    )
    p.add_argument("--db-timeout", type=float, default=float(env("DRILL_APP_DB_TIMEOUT", "1.0")))
    p.add_argument("--cache-timeout", type=float, default=float(env("DRILL_APP_CACHE_TIMEOUT", "0.5")))
    p.add_argument("--state-dir", default="", help="only marks the process as the lab's (pgrep -f)")
    a = p.parse_args(argv)
    if not a.db_dsn:
        p.error("--db-dsn (or DRILL_APP_DB_DSN) is required")
    if not a.sentinels and not a.redis_url:
        p.error("--sentinels or --redis-url is required")
    return Settings(
        host=a.host,
        port=a.port,
        zone=a.zone,
        name=a.name,
        db_dsn=a.db_dsn,
        sentinels=_sentinels(a.sentinels),
        redis_service=a.redis_service,
        redis_url=a.redis_url,
        version=a.version,
        broken=a.broken,
        db_timeout=a.db_timeout,
        cache_timeout=a.cache_timeout,
    )
