"""PostgreSQL 15 under Patroni: the primary cluster (one node per AZ) and the DR standby cluster.

PITR-ready: every primary archives its WAL into the lab's pgBackRest repository (`pgbackrest archive-push`,
harness/lab/backup.py), and the DR standby leader can restore from it (`archive-get`) when streaming falls
behind.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.errors import HarnessError
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


# -- the DR standby forked off the primary's history ---------------------------------------------------------
# pg-dr streams from whichever node answers /primary behind HAProxy. WAL the old leader wrote after the last
# record its replicas received (a leader cut off from its zone still writes until Patroni demotes it, ~3 s;
# in sync mode too: a commit waits for the sync standby, its WAL does not) reaches pg-dr but not the new
# leader, whose timeline forks off before it. pg-dr is then ahead of the fork: PostgreSQL refuses to follow
# the new timeline ("requested timeline N is not a child of this server's history"). Patroni pg_rewinds a
# standby leader it finds diverged, but when that rewind fails it does not fall back to a re-clone for a
# standby cluster (it does so only for members of the primary cluster), and the lab stays unhealthy. The lab
# re-clones pg-dr then (Lab.wait_healthy): the DR region's own runbook for a diverged standby.

# How long a fork may stand before the lab re-clones pg-dr: Patroni's own pg_rewind goes first (measured: it
# rewound pg-dr 8 s after the new timeline reached it, on a loaded 2-core box). A re-clone cut into a rewind
# still ends right, only ~5 s later.
DR_REWIND_GRACE_S = 12.0


def lsn_value(text: str) -> int:
    """A pg_lsn text ("0/6000050") as a number."""
    hi, lo = text.strip().split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def control_positions(ctx: LabContext, name: str) -> list[tuple[int, int]]:
    """(timeline, LSN) pairs from a node's pg_control, each pair consistent in itself: its latest checkpoint
    and its minimum recovery point (what PostgreSQL checks at start against the timeline it is to follow).
    Empty when pg_control cannot be read (no data directory yet: a clone in progress)."""
    try:
        out = subprocess.run(
            [str(PG_BIN / "pg_controldata"), "-D", str(data_dir(ctx, name))],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    fields = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    pairs = []
    for tl_key, lsn_key in (
        ("Latest checkpoint's TimeLineID", "Latest checkpoint location"),
        ("Min recovery ending loc's timeline", "Minimum recovery ending location"),
    ):
        try:
            tl, lsn = int(fields[tl_key]), lsn_value(fields[lsn_key])
        except (KeyError, ValueError):
            continue
        if tl > 0 and lsn > 0:  # a minimum recovery point of 0/0 on timeline 0: none recorded
            pairs.append((tl, lsn))
    return pairs


def primary_history(ctx: LabContext) -> dict[int, int] | None:
    """Where each past timeline of the primary cluster ended ({timeline: LSN of the switch}), from Patroni's
    GET /history on the node answering as primary; None while no node does."""
    node = primary_node(ctx)
    if node is None:
        return None
    try:
        r = httpx.get(f"{rest_url(ctx, SPECS[node])}/history", timeout=2.0)
        rows = r.json() if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(rows, list):
        return None
    return {int(row[0]): int(row[1]) for row in rows if isinstance(row, list) and len(row) >= 2}


def dr_fork(ctx: LabContext) -> str | None:
    """Why pg-dr can never follow the primary cluster again, or None: a position of pg-dr (checkpoint or
    minimum recovery point) on a timeline past the LSN where the primary's history says that timeline ended.
    None while pg-dr is itself the primary (a region failover): then the primary region follows it."""
    if answers_as_primary(ctx, "pg-dr"):
        return None
    history = primary_history(ctx)
    if not history:
        return None
    for timeline, lsn in control_positions(ctx, "pg-dr"):
        ended = history.get(timeline)
        if ended is not None and lsn > ended:
            return (
                f"pg-dr is at {lsn >> 32:X}/{lsn & 0xFFFFFFFF:X} on timeline {timeline}, which the primary cluster"
                f" left at {ended >> 32:X}/{ended & 0xFFFFFFFF:X}"
            )
    return None


def clear_cluster_keys(ctx: LabContext, scope: str, zones: list[str]) -> int:
    """Delete a Patroni cluster's keys (/drill/<scope>/...) from the etcd of `zones` (v3 JSON API): its next
    node bootstraps the cluster anew. The number of keys deleted."""
    prefix = f"/drill/{scope}/".encode()
    body = {
        "key": base64.b64encode(prefix).decode(),
        "range_end": base64.b64encode(prefix[:-1] + bytes([prefix[-1] + 1])).decode(),
    }
    last = None
    for url in etcd.client_urls(ctx, zones):
        try:
            r = httpx.post(f"{url}/v3/kv/deleterange", json=body, timeout=5)
            if r.status_code == 200:
                return int(r.json().get("deleted", 0))
            last = f"{r.status_code} {r.text[:120]}"
        except httpx.HTTPError as err:
            last = type(err).__name__
    raise HarnessError(f"could not clear the {scope} cluster's keys in etcd: {last}")


def wipe_dr(ctx: LabContext) -> int:
    """With pg-dr's Patroni stopped: remove its data directory and the DR cluster's DCS keys, so that the next
    start bootstraps a new standby leader cloned (pg_basebackup) from the primary cluster's endpoint."""
    shutil.rmtree(data_dir(ctx, "pg-dr"), ignore_errors=True)
    return clear_cluster_keys(ctx, PG_DR_SCOPE, ["dr"])
