"""Routes of the freight load service. `create_app(settings)` builds it."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.lab.app.backends import Cache, Database
from harness.lab.app.settings import Settings

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS loads (
    id         bigserial PRIMARY KEY,
    payload    jsonb NOT NULL,
    zone       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)"""


def _err(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).strip()[:200]}" if str(err).strip() else type(err).__name__


def create_app(settings: Settings) -> Starlette:
    db = Database(settings.db_dsn, settings.db_timeout)
    cache = Cache(settings.sentinels, settings.redis_service, settings.redis_url, settings.cache_timeout)

    async def create_load(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        try:
            # autocommit: the INSERT has committed (and, in sync mode, reached the sync standby) when
            # execute returns, so a 201 is only ever sent for a durable row.
            rows = await db.query(
                "INSERT INTO loads (payload, zone) VALUES (%s::jsonb, %s) RETURNING id", (_json(body), settings.zone)
            )
        except Exception as err:  # noqa: BLE001 - any DB failure is a 503 with its reason
            return JSONResponse({"error": "database", "detail": _err(err)}, status_code=503)
        return JSONResponse({"id": rows[0][0]}, status_code=201)

    async def get_load(request: Request) -> JSONResponse:
        try:
            load_id = int(request.path_params["id"])
        except ValueError:
            return JSONResponse({"error": "id must be an integer"}, status_code=400)
        key = f"load:{load_id}"
        cache_state = "miss"
        try:
            hit = await cache.get(key)
            if hit is not None:
                return JSONResponse(hit, headers={"X-Cache": "hit"})
        except Exception:  # noqa: BLE001 - cache down: serve from the DB, say so
            cache_state = "bypass"
        try:
            rows = await db.query("SELECT id, payload, zone, created_at FROM loads WHERE id = %s", (load_id,))
        except Exception as err:  # noqa: BLE001
            return JSONResponse({"error": "database", "detail": _err(err)}, status_code=503)
        if not rows:
            return JSONResponse({"error": "not found"}, status_code=404)
        load = {"id": rows[0][0], "payload": rows[0][1], "zone": rows[0][2], "created_at": rows[0][3].isoformat()}
        if cache_state == "miss":
            try:
                await cache.set(key, load, settings.cache_ttl)
            except Exception:  # noqa: BLE001 - a read-only cache (DR replica) still serves reads
                cache_state = "bypass"
        return JSONResponse(load, headers={"X-Cache": cache_state})

    async def health(request: Request) -> JSONResponse:
        started = time.monotonic()

        async def check_db() -> dict:
            try:
                rows = await db.query("SELECT pg_is_in_recovery()")
                primary = rows[0][0] is False
                return {"ok": primary, "role": "primary" if primary else "standby"}
            except Exception as err:  # noqa: BLE001
                return {"ok": False, "error": _err(err)}

        async def check_cache() -> dict:
            try:
                return await cache.ping()
            except Exception as err:  # noqa: BLE001
                return {"ok": False, "error": _err(err)}

        db_state, cache_state = await asyncio.gather(check_db(), check_cache())
        details = {
            "name": settings.name,
            "zone": settings.zone,
            "version": settings.version,
            "db": db_state,
            "cache": cache_state,
            "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if settings.broken:
            details["broken"] = "this build is broken on purpose (--broken)"
        ok = db_state["ok"] and cache_state["ok"] and not settings.broken
        return JSONResponse(details, status_code=200 if ok else 503)

    async def version(request: Request) -> JSONResponse:
        return JSONResponse(
            {"version": settings.version, "zone": settings.zone, "name": settings.name, "broken": settings.broken}
        )

    return Starlette(
        routes=[
            Route("/loads", create_load, methods=["POST"]),
            Route("/loads/{id}", get_load, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
        ]
    )


def _json(value) -> str:
    return json.dumps(value)
