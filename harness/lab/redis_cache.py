"""Redis (primary az-a, replica az-b, cross-region replica dr) and three Sentinels, one per AZ.

Sentinels are pre-seeded with their ids, the other Sentinels and the known replica so the group agrees
within a second of start; down-after 1000 ms and failover-timeout 3000 make a failover take ~2-3 s.
"""

from __future__ import annotations

import hashlib

import redis

from harness.lab.context import LabContext, Launch
from harness.lab.state import ensure_dir
from harness.lab.topology import REDIS_SERVICE, SPECS, ComponentSpec, of_kind

QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
INITIAL_PRIMARY = "redis-a"


def _conf(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def sentinel_id(name: str) -> str:
    """A stable 40-hex Sentinel run id per Sentinel name (pre-seeded so peers know each other at once)."""
    return hashlib.sha1(f"drill-lab-{name}".encode()).hexdigest()


def launch_redis(ctx: LabContext, spec: ComponentSpec) -> Launch:
    d = ensure_dir(ctx.paths.component_dir(spec.name), 0o700)
    conf = d / "redis.conf"
    lines = [
        f"bind {ctx.host(spec.zone)}",
        f"port {spec.ports['redis']}",
        "protected-mode no",
        f"dir {d}",
        'save ""',
        "appendonly no",
        "daemonize no",
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
        # Keep the config path in the process title so `pgrep -f <state dir>` finds this process.
        'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
    ]
    if spec.name != INITIAL_PRIMARY:
        host, port = ctx.addr(INITIAL_PRIMARY, "redis")
        lines.append(f"replicaof {host} {port}")
    if spec.zone == "dr":
        lines.append("replica-priority 0")  # cross-region copy: Sentinel must never promote it
    conf.write_text(_conf(lines))
    return Launch(argv=["redis-server", str(conf)])


def launch_sentinel(ctx: LabContext, spec: ComponentSpec) -> Launch:
    d = ensure_dir(ctx.paths.component_dir(spec.name), 0o700)
    conf = d / "sentinel.conf"
    mhost, mport = ctx.addr(INITIAL_PRIMARY, "redis")
    rhost, rport = ctx.addr("redis-b", "redis")
    lines = [
        f"bind {ctx.host(spec.zone)}",
        f"port {spec.ports['sentinel']}",
        "protected-mode no",
        f"dir {d}",
        "daemonize no",
        f"sentinel myid {sentinel_id(spec.name)}",
        'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
        f"sentinel monitor {REDIS_SERVICE} {mhost} {mport} {QUORUM}",
        f"sentinel down-after-milliseconds {REDIS_SERVICE} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {REDIS_SERVICE} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {REDIS_SERVICE} 1",
        f"sentinel known-replica {REDIS_SERVICE} {rhost} {rport}",
    ]
    for other in of_kind("sentinel"):
        if other.name != spec.name:
            ohost = ctx.host(other.zone)
            lines.append(
                f"sentinel known-sentinel {REDIS_SERVICE} {ohost} {other.ports['sentinel']} {sentinel_id(other.name)}"
            )
    # Sentinel rewrites its config file at runtime, so it must be a file it can write.
    conf.write_text(_conf(lines))
    return Launch(argv=["redis-sentinel", str(conf)])


def sentinel_addrs(ctx: LabContext) -> list[tuple[str, int]]:
    return [(ctx.host(s.zone), s.ports["sentinel"]) for s in of_kind("sentinel")]


def client(host: str, port: int, timeout: float = 0.5) -> redis.Redis:
    return redis.Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def sentinel_masters(ctx: LabContext) -> dict[str, tuple[str, int] | None]:
    """What each Sentinel says the primary is (None if that Sentinel does not answer)."""
    out: dict[str, tuple[str, int] | None] = {}
    for s in of_kind("sentinel"):
        try:
            # Raw command: redis-py's helper returns only True unless asked for the response.
            addr = client(ctx.host(s.zone), s.ports["sentinel"]).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", REDIS_SERVICE
            )
            out[s.name] = (_text(addr[0]), int(addr[1])) if addr else None
        except redis.RedisError:
            out[s.name] = None
    return out


def sentinel_tilted(ctx: LabContext, name: str) -> bool:
    """A Sentinel in TILT mode (it was frozen, or its clock jumped, for more than 2 s) observes but does not
    act for 30 s: it neither votes a primary down nor takes part in a failover. A lab with one is not ready
    for the next drill (measured: a Redis AZ drill right after a zone freeze took 27.8 s instead of ~2.3 s)."""
    spec = next(s for s in of_kind("sentinel") if s.name == name)
    try:
        info = client(ctx.host(spec.zone), spec.ports["sentinel"]).info("sentinel")
    except redis.RedisError:
        return False  # not answering is reported on its own
    return bool(int(info.get("sentinel_tilt", 0)))


def name_at(ctx: LabContext, addr: tuple[str, int] | None) -> str | None:
    """Component name of the Redis server at `addr`."""
    if addr is None:
        return None
    for spec in of_kind("redis"):
        if ctx.addr(spec.name, "redis") == (addr[0], int(addr[1])):
            return spec.name
    return None


def replication_info(ctx: LabContext, name: str) -> dict | None:
    try:
        return client(*ctx.addr(name, "redis")).info("replication")
    except redis.RedisError:
        return None


assert INITIAL_PRIMARY in SPECS
