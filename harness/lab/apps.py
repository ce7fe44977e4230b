"""Launching the freight load service replicas (the ASGI app in harness/lab/app/)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from harness.lab import proxies, redis_cache
from harness.lab.context import LabContext, Launch
from harness.lab.topology import PG_APP_USER, PG_DATABASE, ComponentSpec

DEFAULT_VERSION = "1.0.0"


def pg_dsn(ctx: LabContext, host: str, port: int, user: str = PG_APP_USER, db: str = PG_DATABASE, **extra: str) -> str:
    """A libpq URL with no secret in it: the password comes from the lab's passfile."""
    params = {"passfile": str(ctx.paths.pgpass), "connect_timeout": "2", **extra}
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params.items())
    return f"postgresql://{user}@{host}:{port}/{db}?{query}"


def launch(ctx: LabContext, spec: ComponentSpec, version: str = DEFAULT_VERSION, broken: bool = False) -> Launch:
    if spec.zone == "dr":
        # The DR replica talks to its own region: the DR database (read-only until promoted) and the
        # cross-region Redis copy.
        db = pg_dsn(ctx, *ctx.addr("pg-dr", "pg"))
        cache = ["--redis-url", "redis://{}:{}/0".format(*ctx.addr("redis-dr", "redis"))]
    else:
        # PostgreSQL through the `db` fault proxy (pass mode unless a network fault is in force), which
        # forwards to HAProxy's primary endpoint.
        db = pg_dsn(ctx, *proxies.app_db_address(ctx))
        cache = ["--sentinels", ",".join(f"{h}:{p}" for h, p in redis_cache.sentinel_addrs(ctx))]
    argv = [
        ctx.python,
        "-m",
        "harness.lab.app",
        "--host",
        ctx.host(spec.zone),
        "--port",
        str(spec.ports["http"]),
        "--zone",
        spec.zone,
        "--name",
        spec.name,
        "--db-dsn",
        db,
        *cache,
        "--version",
        version,
        "--state-dir",
        str(ctx.paths.root),
    ]
    if broken:
        argv.append("--broken")
    return Launch(argv=argv)


def url(ctx: LabContext, name: str) -> str:
    host, port = ctx.addr(name, "http")
    return f"http://{host}:{port}"


def version_of(ctx: LabContext, name: str, timeout: float = 0.5) -> dict | None:
    try:
        r = httpx.get(f"{url(ctx, name)}/version", timeout=timeout)
        return r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def health_of(ctx: LabContext, name: str, timeout: float = 2.0) -> tuple[int | None, dict]:
    try:
        r = httpx.get(f"{url(ctx, name)}/health", timeout=timeout)
        return r.status_code, r.json()
    except (httpx.HTTPError, ValueError) as err:
        return None, {"error": type(err).__name__}
