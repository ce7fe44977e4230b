"""region-failover (plan 3.3) and region-failback (plan 3.4) on the lab.

The lab's DR region is a Patroni *standby cluster* (`freight-dr`, one node pg-dr with its own etcd-dr) that
streams from the primary cluster through HAProxy, a cross-region Redis replica (redis-dr) and an app replica
(app-dr) kept in maintenance in HAProxy. HAProxy stands in for the connection strings and for Route 53: its
`pg_primary` endpoint lists pg-dr too (in maintenance), so "switch routing" is a runtime-API change.

Failover: check the DR region, the replication status and the backup; promote pg-dr by removing the
`standby_cluster` section of its Patroni configuration (PATCH /config); promote redis-dr (REPLICAOF NO ONE, the
plan's "promote read replicas to primary in DR region"); check app-dr; switch HAProxy (pg_primary → pg-dr,
app → app-dr, the primary region's servers in maintenance); verify a write through the app lands in pg-dr.

Failback: the primary region's database is rebuilt as a standby cluster of pg-dr (its Patroni nodes stopped,
data directories and DCS keys removed, re-bootstrapped with `standby_cluster` → pg-dr: the reverse
replication); once caught up, the app replicas of the primary region go back into rotation one at a time
(canary first) while the DR database still serves; then the database is switched back like a switchover
between clusters — pg-dr demoted to a standby cluster again (Patroni archives its shutdown checkpoint), the
primary region's standby leader replays up to it and is promoted — and HAProxy routes pg_primary to it. pg-dr
then follows the new primary through HAProxy (slot `dr_standby`), redis-dr replicates from the Sentinel
primary again, app-dr is back in maintenance, a fresh full pgBackRest backup is taken (the cluster is on a new timeline),
and the lab is exactly as healthy as after `drill lab up`.
"""

from __future__ import annotations

import shutil
import signal
import time
from typing import Any

import httpx
import psycopg
import yaml

from harness.errors import HarnessError
from harness.lab import apps, backup, etcd, postgres, redis_cache
from harness.lab.haproxy import APP_BACKEND, PG_PRIMARY_BACKEND
from harness.lab.process import is_running, kill_verified, proc_start_time
from harness.lab.state import read_state, write_private
from harness.lab.topology import DR_ZONE, PG_DATABASE, PG_SCOPE, PG_SUPERUSER, PRIMARY_ZONES, SPECS, of_kind
from harness.recovery.procedure import Context, Procedure, Step, poll

DR_DB, DR_APP, DR_CACHE = "pg-dr", "app-dr", "redis-dr"
PRIMARY_DBS = [s.name for s in of_kind("patroni", PRIMARY_ZONES)]
PRIMARY_APPS = [s.name for s in of_kind("app", PRIMARY_ZONES)]


def _timeout(ctx: Context) -> float:
    return float(ctx.param("timeout", "180"))


def _fresh(lab: Any) -> Any:
    """The lab with the state file's view: an undo (another process) restarts components under new PIDs."""
    lab.state = read_state(lab.paths) or lab.state
    return lab


# -- helpers on the lab ---------------------------------------------------------------------------------------
def dr_member(lab: Any) -> dict | None:
    """Patroni's view of pg-dr (role standby_leader / leader, state, timeline), None if it does not answer."""
    view = postgres.cluster_view(lab.ctx, [DR_ZONE])
    return next((m for m in (view or {}).get("members", []) if m.get("name") == DR_DB), None)


def _primary_member(lab: Any, role: str) -> str | None:
    return next(
        (
            m["name"]
            for m in lab.postgres_members()
            if m.get("role") == role and m.get("state") in ("running", "streaming")
        ),
        None,
    )


def _pg(lab: Any, member: str, db: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(lab.pg_dsn(member, user=PG_SUPERUSER, db=db), autocommit=True)


def _patch_config(lab: Any, member: str, body: dict) -> None:
    r = httpx.patch(f"{lab.patroni_url(member)}/config", json=body, timeout=10)
    if r.status_code != 200:
        raise HarnessError(
            f"Patroni on {member} refused the configuration change: {r.status_code} {r.text.strip()[:200]}"
        )


def _haproxy(lab: Any, *commands: str) -> None:
    for cmd in commands:
        reply = lab.haproxy_command(cmd).strip()
        if reply and not reply.startswith("Closed"):  # success is an empty reply
            raise HarnessError(f"HAProxy refused `{cmd}`: {reply[:200]}")


def _up(lab: Any, backend: str) -> list[str]:
    from harness.lab import haproxy

    return sorted(
        sv for (px, sv), st in haproxy.server_states(lab.ctx).items() if px == backend and st.startswith("UP")
    )


def _redis_dr(lab: Any):
    return redis_cache.client(*lab.ctx.addr(DR_CACHE, "redis"), timeout=2.0)


def dr_standby_config(lab: Any) -> dict:
    """pg-dr's `standby_cluster` section as `drill lab up` writes it (follows pg_primary through HAProxy)."""
    return postgres.patroni_config(lab.ctx, SPECS[DR_DB])["bootstrap"]["dcs"]["standby_cluster"]


# -- region-failover ------------------------------------------------------------------------------------------
def check_dr_ready(ctx: Context) -> str:
    lab, problems = ctx.lab, []
    ok, text = etcd.healthy(lab.ctx, SPECS["etcd-dr"])
    if not ok:
        problems.append(f"etcd-dr {text}")
    member = dr_member(lab)
    if member is None or member.get("role") != "standby_leader":
        problems.append(f"pg-dr is not a standby leader ({(member or {}).get('role', 'no answer')})")
    version = apps.version_of(lab.ctx, DR_APP)
    if version is None:
        problems.append("app-dr does not answer")
    try:
        _redis_dr(lab).ping()
    except Exception as err:  # noqa: BLE001 - any failure is "not ready"
        problems.append(f"redis-dr: {type(err).__name__}")
    if problems:
        raise HarnessError("DR region not ready: " + "; ".join(problems))
    leader = lab.postgres_leader()
    return (
        f"DR region ready: etcd-dr healthy, pg-dr standby leader ({member.get('state')}), app-dr "
        f"v{version['version']}, redis-dr answers; primary region: "
        + ("no PostgreSQL leader (down)" if leader is None else f"leader {leader} still up (planned failover)")
    )


def check_replication(ctx: Context) -> str:
    def replayed() -> tuple | None:
        with _pg(ctx.lab, DR_DB) as conn:
            row = conn.execute(
                "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
                "pg_last_wal_replay_lsn() >= coalesce(pg_last_wal_receive_lsn(), '0/0'), "
                "extract(epoch FROM pg_last_xact_replay_timestamp())::float8"
            ).fetchone()
        return row if row[2] else None

    received, replay, _, last_commit = poll("pg-dr to replay all the WAL it received", replayed, 30)
    ctx.facts["dr_last_commit"] = last_commit
    age = f"{time.time() - last_commit:.1f} s ago" if last_commit else "none yet"
    return f"pg-dr received WAL up to {received}, replayed up to {replay}; last replayed commit {age}"


def check_backup(ctx: Context) -> str:
    lab = ctx.lab
    status = backup.status(lab.ctx)
    if status != "ok":
        raise HarnessError(f"latest full backup not usable: {status}")
    verdict = backup.verify(lab.ctx)
    return f"pgBackRest repository verified ({verdict}); {len(backup.archived_wal(lab.ctx))} WAL segments archived"


def promote_dr_database(ctx: Context) -> str:
    lab, t0 = ctx.lab, time.monotonic()
    if (dr_member(lab) or {}).get("role") != "leader":
        _patch_config(lab, DR_DB, {"standby_cluster": None})

    def writable() -> bool:
        member = dr_member(lab) or {}
        if member.get("role") != "leader" or member.get("state") != "running":
            return False
        with _pg(lab, DR_DB, PG_DATABASE) as conn:
            return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

    poll("pg-dr to run as primary", writable, _timeout(ctx))
    with _pg(lab, DR_DB, PG_DATABASE) as conn:
        loads = conn.execute("SELECT count(*) FROM loads").fetchone()[0]
    timeline = (dr_member(lab) or {}).get("timeline")
    return (
        f"pg-dr promoted (standby_cluster removed) in {time.monotonic() - t0:.1f} s, timeline {timeline}; "
        f"writable; loads has {loads} rows"
    )


def promote_dr_cache(ctx: Context) -> str:
    client = _redis_dr(ctx.lab)
    client.replicaof("NO", "ONE")
    poll("redis-dr to become a primary", lambda: client.info("replication").get("role") == "master", 30)
    client.set("drill:region-failover", str(time.time()))
    return f"redis-dr promoted (REPLICAOF NO ONE) and writable; {client.dbsize()} keys"


def verify_dr_app(ctx: Context) -> str:
    poll(
        "app-dr to answer /health 200 (DR database primary, cache up)",
        lambda: apps.health_of(ctx.lab.ctx, DR_APP)[0] == 200,
        _timeout(ctx),
    )
    return "app-dr healthy on the DR database and cache"


def switch_routing_to_dr(ctx: Context) -> str:
    lab = ctx.lab
    # The primary region's servers go into maintenance first, so the endpoints never list both regions.
    _haproxy(
        lab,
        *[
            c
            for n in PRIMARY_DBS
            for c in (f"disable server {PG_PRIMARY_BACKEND}/{n}", f"shutdown sessions server {PG_PRIMARY_BACKEND}/{n}")
        ],
        *[f"disable server {APP_BACKEND}/{n}" for n in PRIMARY_APPS],
        f"enable server {PG_PRIMARY_BACKEND}/{DR_DB}",
        f"enable server {APP_BACKEND}/{DR_APP}",
    )
    poll(
        "HAProxy to route the primary endpoint to pg-dr and the app to app-dr",
        lambda: _up(lab, PG_PRIMARY_BACKEND) == [DR_DB] and _up(lab, APP_BACKEND) == [DR_APP],
        _timeout(ctx),
    )
    return "HAProxy: pg_primary -> pg-dr, app -> app-dr; the primary region's servers in maintenance"


def verify_failover(ctx: Context) -> str:
    lab = ctx.lab

    def booked() -> int | None:
        r = httpx.post(lab.app_url + "/loads", json={"drill": "region-failover", "at": time.time()}, timeout=5)
        return r.json()["id"] if r.status_code == 201 else None

    load_id = poll("a load booked through the app (POST /loads via HAProxy)", booked, _timeout(ctx))
    got = httpx.get(f"{lab.app_url}/loads/{load_id}", timeout=5).json()
    if got.get("zone") != DR_ZONE:
        raise HarnessError(f"load {load_id} was booked by an app replica in {got.get('zone')!r}, not the DR region")
    with _pg(lab, DR_DB, PG_DATABASE) as conn:
        if conn.execute("SELECT count(*) FROM loads WHERE id = %s", (load_id,)).fetchone()[0] != 1:
            raise HarnessError(f"load {load_id} is not in the DR database")
    with psycopg.connect(lab.pg_dsn("primary"), autocommit=True) as conn:
        port, standby = conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
    if port != SPECS[DR_DB].ports["pg"] or standby:
        raise HarnessError(f"the primary endpoint reaches port {port} (in recovery: {standby}), not pg-dr")
    return f"load {load_id} booked through HAProxy by app-dr is in pg-dr; the primary endpoint (writers) reaches pg-dr"


REGION_FAILOVER = Procedure(
    "region-failover",
    "3.3",
    "promote the DR standby cluster and switch traffic to the DR region",
    steps=(
        Step(
            "decide and authorise the failover (plan 3.3 step 1)",
            manual="Confirm the primary region has "
            "failed, assess the impact and get the regional failover authorised by a designated approver",
        ),
        Step("verify DR region readiness", check_dr_ready),
        Step("confirm the data replication status", check_replication),
        Step("validate the latest backup's integrity", check_backup),
        Step("promote the DR database (Patroni standby cluster -> primary)", promote_dr_database),
        Step("promote the DR cache replica", promote_dr_cache),
        Step("verify the DR application replica", verify_dr_app),
        Step("switch routing to the DR region (HAProxy: connection strings + DNS)", switch_routing_to_dr),
        Step(
            "confirm DNS failover (plan 3.3 step 5)",
            manual="Confirm Route 53 now answers with the DR region's endpoints and the change has propagated",
        ),
        Step("post-failover verification: a write through the app lands in the DR database", verify_failover),
        Step(
            "notify stakeholders (plan 3.3 step 7)",
            manual="Notify stakeholders that the service runs in "
            "the DR region, with the expected impact and the next update time",
        ),
    ),
    params={"timeout": "seconds per waiting step (180)"},
)


# -- region-failback ------------------------------------------------------------------------------------------
def check_primary_region(ctx: Context) -> str:
    lab = _fresh(ctx.lab)
    if (dr_member(lab) or {}).get("role") != "leader":
        raise HarnessError(
            f"pg-dr is not the primary ({(dr_member(lab) or {}).get('role', 'no answer')}): "
            "there is nothing to fail back (run region-failover first)"
        )
    if lab.network.mode == "netns":
        cut = sorted(set(lab.network.partitions().get("isolated", [])) & set(PRIMARY_ZONES))
        if cut:
            raise HarnessError(
                f"the primary region is still cut off ({', '.join(cut)} isolated): undo the "
                "region-outage fault first (`drill fault undo ID`)"
            )
    started = []
    for name, rec in lab.components.items():
        if rec.get("zone") in PRIMARY_ZONES and not is_running(rec):
            lab.start_component(name)  # "restore infrastructure if necessary"
            started.append(name)
    poll(
        "the primary region's etcd members to be healthy",
        lambda: all(etcd.healthy(lab.ctx, s)[0] for s in of_kind("etcd", PRIMARY_ZONES)),
        _timeout(ctx),
    )
    return "primary region available: etcd quorum healthy" + (
        f"; started {', '.join(started)}" if started else "; every component running"
    )


def _write_patroni_config(lab: Any, name: str, standby_of_dr: bool) -> None:
    cfg = postgres.patroni_config(lab.ctx, SPECS[name])
    if standby_of_dr:
        host, port = lab.ctx.addr(DR_DB, "pg")
        cfg["bootstrap"]["dcs"]["standby_cluster"] = {
            "host": host,
            "port": port,
            "create_replica_methods": ["basebackup"],
            # pg-dr archives into the DR region's stanza since its promotion.
            "restore_command": backup.restore_command(lab.ctx, name, backup.DR_STANZA),
        }
    write_private(
        postgres.node_dir(lab.ctx, name) / "patroni.yml", yaml.safe_dump(cfg, sort_keys=False), lab.ctx.postgres_owner
    )


def _stop_postgres_node(lab: Any, name: str) -> None:
    if name in _fresh(lab).components and is_running(lab.components[name]):
        lab.stop_component(name, timeout=60)
    pid = lab.postmaster_pid(name)  # a postmaster a killed Patroni left behind
    if pid and proc_start_time(pid) is not None:
        kill_verified(pid, str(postgres.data_dir(lab.ctx, name)), signal.SIGINT)
        poll(f"the {name} postmaster to stop", lambda: proc_start_time(pid) is None, 60)


def resync_from_dr(ctx: Context) -> str:
    lab, t0 = _fresh(ctx.lab), time.monotonic()
    for name in PRIMARY_DBS:
        _stop_postgres_node(lab, name)
    deleted = postgres.clear_cluster_keys(lab.ctx, PG_SCOPE, PRIMARY_ZONES)
    for name in PRIMARY_DBS:
        shutil.rmtree(postgres.data_dir(lab.ctx, name), ignore_errors=True)
        _write_patroni_config(lab, name, standby_of_dr=True)
    first, rest = PRIMARY_DBS[0], PRIMARY_DBS[1:]
    lab.start_component(first)
    leader = poll(
        f"{first} to clone pg-dr and run as standby leader",
        lambda: _primary_member(lab, "standby_leader"),
        _timeout(ctx),
        interval=0.5,
    )
    for name in rest:
        lab.start_component(name)
    poll(
        "the other primary-region nodes to stream from the standby leader",
        lambda: (
            sum(1 for m in lab.postgres_members() if m.get("role") == "replica" and m.get("state") == "streaming")
            == len(rest)
        ),
        _timeout(ctx),
        interval=0.5,
    )
    ctx.facts["standby_leader"] = leader
    return (
        f"primary region rebuilt as a standby cluster of pg-dr in {time.monotonic() - t0:.1f} s: {leader} "
        f"standby leader, {', '.join(rest)} streaming ({deleted} old DCS keys removed)"
    )


def _replayed_up_to(lab: Any, member: str, lsn: str) -> bool:
    with _pg(lab, member) as conn:
        return bool(conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0])


def wait_caught_up(ctx: Context) -> str:
    lab, leader = ctx.lab, ctx.facts["standby_leader"]
    with _pg(lab, DR_DB) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    poll(f"{leader} to replay pg-dr's WAL up to {lsn}", lambda: _replayed_up_to(lab, leader, lsn), _timeout(ctx))
    return f"{leader} replayed pg-dr's WAL up to {lsn}"


def canary_apps(ctx: Context) -> str:
    lab = ctx.lab
    for i, name in enumerate(PRIMARY_APPS):
        _haproxy(lab, f"enable server {APP_BACKEND}/{name}")
        poll(f"{name} UP in HAProxy", lambda n=name: n in _up(lab, APP_BACKEND), _timeout(ctx))
        if i == 0:  # the canary: the app answers through HAProxy with it in rotation before the others follow
            poll(
                "the app to answer /health 200 with the canary in rotation",
                lambda: httpx.get(lab.app_url + "/health", timeout=2.0).status_code == 200,
                _timeout(ctx),
            )
    _haproxy(lab, f"disable server {APP_BACKEND}/{DR_APP}", f"shutdown sessions server {APP_BACKEND}/{DR_APP}")
    return (
        f"app traffic back on {', '.join(PRIMARY_APPS)} ({PRIMARY_APPS[0]} first, as canary); app-dr in "
        "maintenance (the database is still pg-dr)"
    )


def switch_database_back(ctx: Context) -> str:
    lab, leader, t0 = ctx.lab, ctx.facts["standby_leader"], time.monotonic()
    # Writes stop reaching pg-dr; its demotion writes a shutdown checkpoint the standby leader receives.
    _haproxy(
        lab, f"disable server {PG_PRIMARY_BACKEND}/{DR_DB}", f"shutdown sessions server {PG_PRIMARY_BACKEND}/{DR_DB}"
    )
    _patch_config(lab, DR_DB, {"standby_cluster": dr_standby_config(lab)})
    poll(
        "pg-dr to run as a standby leader again",
        lambda: (dr_member(lab) or {}).get("role") == "standby_leader",
        _timeout(ctx),
        interval=0.5,
    )

    def dr_end() -> str:
        with _pg(lab, DR_DB) as conn:
            return conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()[0]

    end = poll("pg-dr's last WAL position", dr_end, _timeout(ctx))
    poll(f"{leader} to replay pg-dr's last WAL ({end})", lambda: _replayed_up_to(lab, leader, end), _timeout(ctx))
    _patch_config(lab, leader, {"standby_cluster": None})
    poll(f"{leader} to run as primary", lambda: lab.postgres_leader() == leader, _timeout(ctx), interval=0.5)
    _haproxy(lab, *[f"enable server {PG_PRIMARY_BACKEND}/{n}" for n in PRIMARY_DBS])
    poll(
        f"HAProxy to route the primary endpoint to {leader}",
        lambda: _up(lab, PG_PRIMARY_BACKEND) == [leader],
        _timeout(ctx),
    )
    for name in PRIMARY_DBS:  # the standard config again, for later restarts (bootstrap is done)
        _write_patroni_config(lab, name, standby_of_dr=False)
    return (
        f"database switched back in {time.monotonic() - t0:.1f} s: pg-dr demoted to a standby cluster at "
        f"{end}, {leader} promoted, HAProxy pg_primary -> {leader}"
    )


def reset_dr_region(ctx: Context) -> str:
    lab = ctx.lab
    primary = poll("the Sentinels to agree on a Redis primary", lab.redis_primary, _timeout(ctx))
    host, port = lab.ctx.addr(primary, "redis")
    client = _redis_dr(lab)
    client.replicaof(host, port)
    poll(
        "redis-dr to replicate again",
        lambda: client.info("replication").get("master_link_status") == "up",
        _timeout(ctx),
    )
    poll(
        "pg-dr to stream from the primary region again",
        lambda: (m := dr_member(lab) or {}).get("role") == "standby_leader" and m.get("state") == "streaming",
        _timeout(ctx),
        interval=0.5,
    )
    return (
        f"pg-dr standby leader streaming from the primary region; redis-dr replica of {primary}; app-dr in maintenance"
    )


def verify_failback(ctx: Context) -> str:
    lab = ctx.lab
    lab.wait_healthy(_timeout(ctx))
    r = httpx.post(lab.app_url + "/loads", json={"drill": "region-failback", "at": time.time()}, timeout=5)
    if r.status_code != 201:
        raise HarnessError(f"POST /loads through HAProxy answered {r.status_code}: {r.text[:200]}")
    load_id = r.json()["id"]
    zone = httpx.get(f"{lab.app_url}/loads/{load_id}", timeout=5).json().get("zone")
    if zone not in PRIMARY_ZONES:
        raise HarnessError(f"load {load_id} was booked in {zone!r}, not the primary region")

    def on_dr() -> bool:
        with _pg(lab, DR_DB, PG_DATABASE) as conn:
            return conn.execute("SELECT count(*) FROM loads WHERE id = %s", (load_id,)).fetchone()[0] == 1

    poll(f"load {load_id} to reach pg-dr", on_dr, _timeout(ctx))
    return f"lab healthy; load {load_id} booked in {zone} reached the DR standby"


def new_base_backup(ctx: Context) -> str:
    ctx.lab.start_base_backup()
    ctx.lab.wait_backup(_timeout(ctx))
    return "new full pgBackRest backup of the primary cluster taken (PITR starts from the new timeline)"


REGION_FAILBACK = Procedure(
    "region-failback",
    "3.4",
    "resynchronise the primary region and switch traffic back",
    steps=(
        Step(
            "schedule the failback (plan 3.4 step 1)",
            manual="Confirm the primary region is restored and approve the failback window",
        ),
        Step("verify the primary region is available", check_primary_region),
        Step("re-synchronise the primary region from DR (reverse replication)", resync_from_dr),
        Step("wait until the primary region has caught up", wait_caught_up),
        Step("gradual transition: app replicas back in rotation, canary first", canary_apps),
        Step("complete the failback: switch the database back", switch_database_back),
        Step("reset the DR region to standby", reset_dr_region),
        Step("verify: lab healthy, a write reaches the DR standby", verify_failback),
        Step("take a new base backup", new_base_backup),
        Step(
            "confirm DNS failback (plan 3.4 step 5)",
            manual="Confirm Route 53 answers with the primary region's endpoints again and all traffic is routed there",
        ),
    ),
    params={"timeout": "seconds per waiting step (180)"},
)
