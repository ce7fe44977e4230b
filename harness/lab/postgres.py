"""PostgreSQL 15 under Patroni: the primary cluster (one node per AZ) and the DR standby cluster.

PITR-ready: every primary archives its WAL into the lab's pgBackRest repository (`pgbackrest archive-push`,
harness/lab/backup.py), and the DR standby leader can restore from it (`archive-get`) when streaming falls
behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.lab import backup, etcd
from harness.lab.context import PG_BIN, LabContext, Launch
from harness.lab.state import ensure_dir, write_private
from harness.lab.topology import (
    DR_SLOT,
    PG_DR_SCOPE,
    PG_REPL_USER,
    PG_SCOPE,
    PG_SUPERUSER,
    PRIMARY_ZONES,
    SPECS,
    ComponentSpec,
    of_kind,
)


def node_dir(ctx: LabContext, name: str) -> Path:
    return ctx.paths.component_dir(name)


def data_dir(ctx: LabContext, name: str) -> Path:
    return node_dir(ctx, name) / "data"


def patroni_config(ctx: LabContext, spec: ComponentSpec) -> dict[str, Any]:
    host = ctx.host(spec.zone)
    is_dr = spec.zone == "dr"
    ndir = node_dir(ctx, spec.name)
    params = {
        "wal_level": "replica",
        "hot_standby": "on",
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "wal_keep_size": "128MB",
        "wal_log_hints": "on",
        "archive_mode": "on",
        "archive_timeout": 60,
        "unix_socket_directories": str(ndir),
        # Small footprint: 4 PostgreSQL instances share a 2-core box.
        "shared_buffers": "32MB",
        "max_connections": 100,
        "max_worker_processes": 4,
        "logging_collector": "off",
        "log_min_messages": "warning",
    }
    dcs: dict[str, Any] = {
        # Patroni 4 clamps ttl >= 20, loop_wait >= 1, retry_timeout >= 3: these are the floors.
        "ttl": 20,
        "loop_wait": 1,
        "retry_timeout": 3,
        "maximum_lag_on_failover": 1048576,
        "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": params},
    }
    if is_dr:
        # The primary cluster's endpoint at the edge (HAProxy -> Patroni /primary): it follows the leader
        # across switchovers, like a cross-region replica on a cluster endpoint. (A multi-host conninfo
        # would too, but Patroni's passfile line for it never matches a single host.)
        dcs["standby_cluster"] = {
            "host": ctx.host("edge"),
            "port": SPECS["haproxy"].ports["pg_primary"],
            "primary_slot_name": DR_SLOT,
            "restore_command": backup.restore_command(ctx, spec.name),
            "create_replica_methods": ["basebackup"],
        }
    else:
        dcs["synchronous_mode"] = ctx.replication == "sync"
        dcs["slots"] = {DR_SLOT: {"type": "physical"}}
    etcd_zones = ["dr"] if is_dr else PRIMARY_ZONES
    return {
        "scope": PG_DR_SCOPE if is_dr else PG_SCOPE,
        "namespace": "/drill/",
        "name": spec.name,
        "log": {"level": "WARNING"},
        "restapi": {"listen": f"{host}:{spec.ports['rest']}", "connect_address": f"{host}:{spec.ports['rest']}"},
        "etcd3": {"hosts": [u.removeprefix("http://") for u in etcd.client_urls(ctx, etcd_zones)]},
        "bootstrap": {
            "dcs": dcs,
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
            "pg_hba": [
                "local all all trust",
                "host replication all 127.0.0.0/8 scram-sha-256",
                "host all all 127.0.0.0/8 scram-sha-256",
            ],
        },
        "postgresql": {
            "listen": f"{host}:{spec.ports['pg']}",
            "connect_address": f"{host}:{spec.ports['pg']}",
            "data_dir": str(data_dir(ctx, spec.name)),
            "bin_dir": str(PG_BIN),
            "pgpass": str(ndir / "pgpass.patroni"),
            "use_unix_socket": False,
            "authentication": {
                "superuser": {"username": PG_SUPERUSER, "password": ctx.secrets[PG_SUPERUSER]},
                "replication": {"username": PG_REPL_USER, "password": ctx.secrets[PG_REPL_USER]},
            },
            # Per node (local settings win over the DCS's): pgBackRest's archive-push reads the node's own
            # data directory. It accepts a segment already archived with the same checksum, so a node that
            # re-archives after a failover or pg_rewind does not wedge its archiver.
            "parameters": {
                "unix_socket_directories": str(ndir),
                "archive_command": backup.archive_command(ctx, spec.name),
            },
            "basebackup": [{"checkpoint": "fast"}],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False, "zone": spec.zone},
    }


def launch(ctx: LabContext, spec: ComponentSpec) -> Launch:
    owner = ctx.postgres_owner
    ndir = ensure_dir(node_dir(ctx, spec.name), 0o700, owner)
    config = ndir / "patroni.yml"
    # The config holds passwords: 0600, owned by the user Patroni runs as.
    write_private(config, yaml.safe_dump(patroni_config(ctx, spec), sort_keys=False), owner)
    patroni = str(Path(ctx.python).parent / "patroni")
    return Launch(argv=[ctx.python, patroni, str(config)], user=ctx.postgres_user)


def rest_url(ctx: LabContext, spec: ComponentSpec) -> str:
    return f"http://{ctx.host(spec.zone)}:{spec.ports['rest']}"


def cluster_view(ctx: LabContext, zones: list[str], timeout: float = 0.5) -> dict[str, Any] | None:
    """Patroni's GET /cluster from the first member that answers (members, roles, states, lag)."""
    for spec in of_kind("patroni", zones):
        try:
            r = httpx.get(f"{rest_url(ctx, spec)}/cluster", timeout=timeout)
            if r.status_code == 200:
                return r.json()
        except (httpx.HTTPError, ValueError):
            continue
    return None


def answers_as_primary(ctx: LabContext, name: str, timeout: float = 0.5) -> bool:
    """True when the member's own Patroni answers GET /primary with 200: it runs PostgreSQL as the primary
    and holds the leader lock. Unlike the DCS view (/cluster), a killed or frozen node never passes: its
    leader key outlives it until the TTL expires (~20 s). The check HAProxy routes by."""
    try:
        return httpx.get(f"{rest_url(ctx, SPECS[name])}/primary", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def primary_node(ctx: LabContext) -> str | None:
    """The primary region's Patroni node that answers as primary now (pgBackRest backs up from it), or None."""
    for spec in of_kind("patroni", PRIMARY_ZONES):
        if answers_as_primary(ctx, spec.name):
            return spec.name
    return None


def postmaster_pid(ctx: LabContext, name: str) -> int | None:
    """PID of a node's postmaster (Patroni starts it in its own session, so it outlives a killed Patroni)."""
    try:
        return int((data_dir(ctx, name) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, PermissionError, ValueError):
        return None
