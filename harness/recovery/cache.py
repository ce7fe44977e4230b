"""cache-rebuild (plan 5.1.3): after a flush or a lost cache, warm Redis from the source of truth (the loads
table) in the same format the app writes (`load:<id>` → JSON, with the app's TTL)."""

from __future__ import annotations

import json

import psycopg

from harness.recovery.procedure import Context, Procedure, Step, poll

APP_CACHE_TTL = 300  # the app's default cache_ttl (harness/lab/app/settings.py)


def wait_cache(ctx: Context) -> str:
    primary = poll("a Redis primary the Sentinels agree on", ctx.lab.redis_primary, 60)
    return f"Redis primary {primary}"


def warm(ctx: Context) -> str:
    limit = int(ctx.param("limit", "10000"))
    with psycopg.connect(ctx.lab.pg_dsn("primary")) as conn:
        rows = conn.execute(
            "SELECT id, payload, zone, created_at FROM loads ORDER BY id DESC LIMIT %s", (limit,)
        ).fetchall()
    client = ctx.lab.redis_client(timeout=2.0)
    pipe = client.pipeline(transaction=False)
    for id, payload, zone, created in rows:
        pipe.set(
            f"load:{id}",
            json.dumps({"id": id, "payload": payload, "zone": zone, "created_at": created.isoformat()}, default=str),
            ex=APP_CACHE_TTL,
        )
    pipe.execute()
    ctx.facts["warmed"] = len(rows)
    return f"warmed {len(rows)} key(s) from the loads table"


def verify(ctx: Context) -> str:
    keys = ctx.lab.redis_client(timeout=2.0).dbsize()
    if keys < ctx.facts.get("warmed", 0):
        from harness.errors import HarnessError

        raise HarnessError(f"only {keys} keys in Redis after warming {ctx.facts['warmed']}")
    return f"{keys} key(s) in Redis"


CACHE_REBUILD = Procedure(
    "cache-rebuild",
    "5.1.3",
    "rebuild the cache from the source data",
    steps=(
        Step("wait for a Redis primary", wait_cache),
        Step("warm the cache from the loads table", warm),
        Step("verify the key count", verify),
    ),
    params={"limit": "newest rows to load (10000)"},
)
