"""auto-failover (plan 5.1.1, 5.1.3): wait for and verify the automatic failover — nothing is promoted by
hand; the procedure checks that Patroni, Sentinel and HAProxy did their job and the app serves again.

Its first step is the plan's runbook 8.3 "verify if automatic failover has occurred". Run by hand right after
`drill fault inject db-primary-crash`, two things make that honest: the leader that failed is learned from
the pending fault in the intent log (as a Gherkin drill passes it), and a leader counts only when its own
Patroni answers GET /primary, since a kill -9'd leader's DCS key says "leader, running" until its TTL ends."""

from __future__ import annotations

import httpx
import psycopg

from harness.faults.intent import IntentLog
from harness.recovery.procedure import Context, Procedure, Step, poll


def _timeout(ctx: Context) -> float:
    return float(ctx.param("timeout", "60"))


def old_leader(ctx: Context) -> tuple[str | None, str]:
    """The leader that failed and must not count, and where that came from: the `old_leader` parameter,
    else the newest pending fault whose detail names the leader it took away (db-primary-crash records
    `leader`), else (None, "") and any member answering as primary counts."""
    given = ctx.param("old_leader")
    if given:
        return given, "given"
    for intent in reversed(IntentLog().pending()):
        leader = intent.detail.get("leader") if isinstance(intent.detail, dict) else None
        if leader:
            return str(leader), f"from the pending fault {intent.id}"
    return None, ""


def wait_pg_primary(ctx: Context) -> str:
    old, source = old_leader(ctx)

    def primary() -> str | None:
        now = ctx.lab.postgres_primary()
        return now if now and now != old else None

    ctx.facts["leader"] = poll(
        "a PostgreSQL member answering as primary (Patroni GET /primary)"
        + (f" other than {old} (the old leader, {source})" if old else ""),
        primary,
        _timeout(ctx),
    )
    failed = f"; old leader {old} ({source})" if old else ""
    return f"leader is {ctx.facts['leader']}, answering as primary{failed}"


def verify_haproxy_primary(ctx: Context) -> str:
    def up_servers() -> list[str]:
        return [
            m["name"]
            for m in ctx.lab.postgres_members()
            if ctx.lab.haproxy_server_state("pg_primary", m["name"]).startswith("UP")
        ]

    ups = poll(
        "HAProxy to route the primary endpoint to exactly the leader",
        lambda: u if (u := up_servers()) == [ctx.facts["leader"]] else None,
        _timeout(ctx),
    )
    return f"pg_primary routes to {ups[0]}"


def verify_writes(ctx: Context) -> str:
    def write() -> bool:
        with psycopg.connect(ctx.lab.pg_dsn("primary"), autocommit=True) as conn:
            return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] and bool(
                conn.execute("SELECT txid_current()").fetchone()
            )

    poll("a write through the primary endpoint", write, _timeout(ctx))
    return "the primary endpoint accepts writes"


def verify_redis_primary(ctx: Context) -> str:
    primary = poll("the Sentinels to agree on a Redis primary", ctx.lab.redis_primary, _timeout(ctx))
    poll(
        "a write to the Redis primary",
        lambda: ctx.lab.redis_client(timeout=1.0).set("drill:failover", "1"),
        _timeout(ctx),
    )
    return f"Redis primary {primary} accepts writes"


def verify_app(ctx: Context) -> str:
    poll(
        "the app to answer /health 200 through HAProxy",
        lambda: httpx.get(ctx.lab.app_url + "/health", timeout=2.0).status_code == 200,
        _timeout(ctx),
    )
    return "app healthy through HAProxy"


AUTO_FAILOVER = Procedure(
    "auto-failover",
    "5.1.1, 5.1.3",
    "verify the automatic failover: new primary, writes resume",
    steps=(
        Step("verify the automatic failover occurred: a new PostgreSQL primary (Patroni)", wait_pg_primary),
        Step("verify HAProxy routes the primary endpoint to it", verify_haproxy_primary),
        Step("verify writes through the primary endpoint", verify_writes),
        Step("verify the Redis primary (Sentinel)", verify_redis_primary),
        Step("verify the app is healthy", verify_app),
        Step(
            "tell the on-call channel (plan 5.1.1: notify)",
            manual="Announce the DB failover in the incident channel with the new leader's name",
        ),
    ),
    params={
        "old_leader": "a leader that must NOT count (the one that failed; default: the pending fault's leader)",
        "timeout": "seconds per step (60)",
    },
)
