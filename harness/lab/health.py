"""What each component is doing right now, and whether the lab as a whole is healthy.

Healthy means: every process running; etcd members healthy; a Patroni leader with 2 streaming replicas (one
of them the sync standby in sync mode); the DR standby leader streaming; the Redis replica linked and all
Sentinels agreeing on the primary and none in TILT mode; every AZ app replica UP in HAProxy (the DR one
alive, in maintenance); exactly one PostgreSQL server UP behind HAProxy's primary endpoint; every fault
proxy answering on its control socket and in `pass` mode (harness/lab/proxies.py); the S3 endpoint answering
with both its buckets, and its replicator running (harness/lab/s3.py).

The monitoring (Prometheus and its exporters, harness/lab/monitoring.py) is shown like every component but
is not part of that: a monitoring component that is down or not answering is a warning, never a problem,
so the existing drills do not depend on it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.lab import apps, etcd, haproxy, monitoring, postgres, proxies, redis_cache, s3
from harness.lab.context import LabContext
from harness.lab.process import is_running
from harness.lab.topology import COMPONENTS, PRIMARY_ZONES, of_kind

# Kinds shown by `lab status` whose trouble is a warning, not a reason the lab is unhealthy.
OPTIONAL_KINDS = frozenset({monitoring.KIND})


def _row(name: str, ok: bool, role: str, health: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "role": role, "health": health}


def _etcd(ctx: LabContext) -> list[dict]:
    rows = []
    for s in of_kind("etcd"):
        ok, text = etcd.healthy(ctx, s)
        rows.append(_row(s.name, ok, "dcs (dr)" if s.zone == "dr" else "dcs", text))
    return rows


def _patroni(ctx: LabContext) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    view = postgres.cluster_view(ctx, PRIMARY_ZONES) or {"members": []}
    members = {m["name"]: m for m in view.get("members", [])}
    leaders = [m for m in members.values() if m.get("role") == "leader" and m.get("state") == "running"]
    streaming = [
        m for m in members.values() if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming"
    ]
    sync = [m for m in members.values() if m.get("role") == "sync_standby"]
    if len(leaders) != 1:
        problems.append(f"postgres: {len(leaders)} running leaders (want 1)")
    if len(streaming) != 2:
        problems.append(f"postgres: {len(streaming)} streaming replicas (want 2)")
    if ctx.replication == "sync" and len(sync) != 1:
        problems.append("postgres: no synchronous standby yet (sync mode)")
    for s in of_kind("patroni", PRIMARY_ZONES):
        m = members.get(s.name)
        if m is None:
            rows.append(_row(s.name, False, "?", "not in cluster"))
            continue
        ok = m.get("state") in ("running", "streaming") if m.get("role") == "leader" else m.get("state") == "streaming"
        lag = m.get("lag")
        detail = m.get("state", "?") + (f", lag {lag}" if lag not in (None, 0, "") else "")
        rows.append(_row(s.name, ok, m.get("role", "?"), detail))
    dr = postgres.cluster_view(ctx, ["dr"]) or {"members": []}
    drm = next((m for m in dr.get("members", []) if m["name"] == "pg-dr"), None)
    if drm is None:
        rows.append(_row("pg-dr", False, "?", "not in cluster"))
        problems.append("pg-dr: DR standby cluster not up")
    else:
        ok = drm.get("role") in ("standby_leader", "leader") and drm.get("state") in ("streaming", "running")
        rows.append(_row("pg-dr", ok, drm.get("role", "?"), drm.get("state", "?")))
        if not ok:
            problems.append(f"pg-dr: {drm.get('role')} {drm.get('state')} (want standby_leader streaming)")
    return rows, problems


def _redis(ctx: LabContext) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    masters = redis_cache.sentinel_masters(ctx)
    answers = {a for a in masters.values() if a is not None}
    primary = redis_cache.name_at(ctx, next(iter(answers))) if len(answers) == 1 else None
    if len(answers) != 1 or None in masters.values():
        problems.append(f"sentinels do not agree on the Redis primary: {masters}")
    for s in of_kind("redis"):
        info = redis_cache.replication_info(ctx, s.name)
        if info is None:
            rows.append(_row(s.name, False, "?", "unreachable"))
            continue
        role = info.get("role", "?")
        if role == "master":
            ok = s.name == primary and int(info.get("connected_slaves", 0)) >= 1
            health = f"{info.get('connected_slaves', 0)} replicas"
            role = "primary"
        else:
            ok = info.get("master_link_status") == "up"
            health = f"link {info.get('master_link_status')}"
            role = "replica (dr)" if s.zone == "dr" else "replica"
        rows.append(_row(s.name, ok, role, health))
    for s in of_kind("sentinel"):
        addr = masters.get(s.name)
        ok = addr is not None and len(answers) == 1
        health = f"primary {redis_cache.name_at(ctx, addr)}" if addr else "no answer"
        if addr is not None and redis_cache.sentinel_tilted(ctx, s.name):
            ok, health = False, "in TILT mode (resumed after a freeze: inactive for 30 s)"
        rows.append(_row(s.name, ok, "sentinel", health))
    return rows, problems


def _edge(ctx: LabContext) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    try:
        states = haproxy.server_states(ctx)
    except OSError as err:
        rows.append(_row("haproxy", False, "edge", f"runtime API: {type(err).__name__}"))
        states = {}
        problems.append("haproxy: runtime API not answering")
    else:
        up = [sv for (px, sv), st in states.items() if px == haproxy.PG_PRIMARY_BACKEND and st.startswith("UP")]
        ok = len(up) == 1
        rows.append(_row("haproxy", ok, "edge", f"pg primary -> {up[0] if up else 'none'}"))
        if not ok:
            problems.append(f"haproxy: {len(up)} PostgreSQL servers UP as primary (want 1)")
    for s in of_kind("app"):
        st = states.get((haproxy.APP_BACKEND, s.name), "?")
        if s.zone == "dr":
            ver = apps.version_of(ctx, s.name)
            ok = ver is not None
            rows.append(_row(s.name, ok, "standby app", f"haproxy {st}, v{ver['version']}" if ver else "no answer"))
        else:
            ok = st.startswith("UP")
            rows.append(_row(s.name, ok, "app", f"haproxy {st}"))
    return rows, problems


def collect(ctx: LabContext, records: dict[str, dict]) -> dict[str, Any]:
    """Status of every component: [{name, kind, zone, address, role, health, ok, optional, pid, running}],
    problems (what makes the lab unhealthy) and warnings (optional components that are not ok)."""
    parts = (_etcd, _patroni, _redis, _edge, proxies.health_rows, monitoring.health_rows, s3.health_rows)
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        futures = [pool.submit(f, ctx) for f in parts]
        results = [f.result() for f in futures]
    rows: dict[str, dict] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for res in results:
        part_rows, part_problems = (res, []) if isinstance(res, list) else res
        rows.update({r["name"]: r for r in part_rows})
        problems.extend(part_problems)
    out = []
    for spec in COMPONENTS:
        rec = records.get(spec.name) or {}
        running = bool(rec) and is_running(rec)
        row = rows.get(spec.name, {"ok": False, "role": "?", "health": "?"})
        first_port = next(iter(spec.ports.values()), None)  # the S3 replicator listens on nothing
        entry = {
            "name": spec.name,
            "kind": spec.kind,
            "zone": spec.zone,
            "address": ctx.host(spec.zone) + (f":{first_port}" if first_port is not None else ""),
            "ports": dict(spec.ports),
            "role": row["role"],
            "health": row["health"] if running else "not running",
            "ok": bool(row["ok"]) and running,
            "optional": spec.kind in OPTIONAL_KINDS,
            "pid": rec.get("pid"),
            "running": running,
        }
        if not entry["ok"]:
            (warnings if entry["optional"] else problems).append(f"{spec.name}: {entry['health']}")
        out.append(entry)
    return {
        "healthy": all(c["ok"] for c in out if not c["optional"]) and not problems,
        "components": out,
        "problems": problems,
        "warnings": warnings,
    }
