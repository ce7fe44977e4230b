"""The local lab: start, inspect and stop the freight platform's real services (see docs/lab.md).

from harness.lab import Lab, running_lab
lab = Lab.up(replication="sync", network="loopback")   # or Lab.load() for the running one
lab.postgres_leader(); lab.pg_dsn("primary"); lab.app_url; lab.status()
lab.down()
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from psycopg import sql
from redis.sentinel import Sentinel

from harness.errors import HarnessError, LabNotRunning, LabStartIncomplete
from harness.lab import apps, backup, etcd, haproxy, health, monitoring, postgres, prereq, proxies, redis_cache, s3
from harness.lab.app.main import SCHEMA_SQL
from harness.lab.context import LabContext, Launch
from harness.lab.network import LabNetwork
from harness.lab.process import (
    is_running,
    kill_verified,
    memory_bytes,
    pids_with_in_cmdline,
    proc_start_time,
    signal_group,
    spawn,
    wait_gone,
)
from harness.lab.state import (
    LabPaths,
    default_state_dir,
    ensure_dir,
    load_or_create_secrets,
    pgpass_text,
    read_state,
    state_lock,
    write_private,
    write_state,
)
from harness.lab.topology import (
    EDGE,
    PG_APP_USER,
    PG_DATABASE,
    PG_SUPERUSER,
    PRIMARY_ZONES,
    REDIS_SERVICE,
    SPECS,
    ZONES,
    ComponentSpec,
    of_kind,
)

Progress = Callable[[str], None]
# `phase` in the state file: "starting" from the first byte `up` writes until the lab is complete (healthy, the
# base backup under way, the monitoring waited for), then "up". Only an "up" lab is one a drill may use.
PHASE_STARTING, PHASE_UP = "starting", "up"
REPLICATION_MODES = ("sync", "async")
NETWORK_MODES = ("netns", "loopback")
_LAUNCHERS: dict[str, Callable[[LabContext, ComponentSpec], Launch]] = {
    "etcd": etcd.launch,
    "patroni": postgres.launch,
    "redis": redis_cache.launch_redis,
    "sentinel": redis_cache.launch_sentinel,
    "haproxy": haproxy.launch,
    "app": apps.launch,
    "proxy": proxies.launch,
    "monitoring": monitoring.launch,
    s3.KIND: s3.launch,
    s3.REPLICATOR_KIND: s3.launch,
}
# Patroni stops PostgreSQL cleanly (checkpoint) before exiting. etcd members that all stop at once each
# try a leadership transfer first (seconds); their data is discarded on the next `up`, so don't wait long.
STOP_GRACE = {"patroni": 15.0, "etcd": 1.0}


def default_network_mode() -> str:
    """netns when namespaces work and we are root, else loopback."""
    ok, _ = LabNetwork.netns_available()
    return "netns" if ok and os.geteuid() == 0 else "loopback"


def _quiet(_: str) -> None:
    pass


class Lab:
    """A running (or being started) lab, backed by its state folder. Build it with `Lab.up()` or
    `Lab.load()`; every method works from a fresh process too, since all state is in the folder."""

    def __init__(self, paths: LabPaths, state: dict[str, Any]):
        self.paths = paths
        self.state = state
        self.network = LabNetwork(paths.root, mode=state["network"], zones=list(ZONES))
        secrets = load_or_create_secrets(paths) if paths.secrets_file.exists() else {}
        self.ctx = LabContext(paths=paths, net=self.network, replication=state["replication"], secrets=secrets)
        self.already_up = False  # set by up() when it found this lab running

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def up(
        cls,
        replication: str = "sync",
        network: str | None = None,
        state_dir: Path | str | None = None,
        timeout: float = 120.0,
        progress: Progress | None = None,
    ) -> Lab:
        """Start the whole lab and wait until it is healthy; return it. If a lab is already running in the
        state folder, return that one (`lab.already_up` is True). A half-started lab (a `drill lab up` killed
        before it finished) is stopped and started again. On any failure everything started so far is
        stopped again and a HarnessError says why."""
        if replication not in REPLICATION_MODES:
            raise HarnessError(f"--db-replication must be one of {', '.join(REPLICATION_MODES)}, not {replication!r}")
        if network is not None and network not in NETWORK_MODES:
            raise HarnessError(f"--network must be one of {', '.join(NETWORK_MODES)}, not {network!r}")
        say = progress or _quiet
        paths = LabPaths(Path(state_dir).resolve() if state_dir else default_state_dir())
        ensure_dir(paths.root, 0o755)
        with state_lock(paths):
            existing = read_state(paths)
            if (
                existing
                and existing.get("phase") == PHASE_UP
                and any(is_running(r) for r in existing.get("components", {}).values())
            ):
                lab = cls(paths, existing)
                lab.already_up = True
                return lab
            if existing:  # a crashed or half-started lab: clean up what its state file knows about first
                if existing.get("phase") != PHASE_UP:
                    # We hold the state lock, which its `up` held until it died: nobody is finishing it.
                    say(f"a previous `drill lab up` did not finish ({incomplete_reason(existing)}): starting again")
                cls(paths, existing)._teardown(say)
            mode = network or default_network_mode()
            if mode == "netns":
                ok, reason = LabNetwork.netns_available()
                if not ok or os.geteuid() != 0:
                    raise HarnessError(
                        f"--network netns is not possible here: {reason if not ok else 'needs root'};"
                        " use --network loopback"
                    )
            state = {
                "network": mode,
                "replication": replication,
                "components": {},
                "phase": PHASE_STARTING,
                "starter": {"pid": os.getpid(), "start_time": proc_start_time(os.getpid())},
                "started_at": time.time(),
                "network_setup": False,
            }
            lab = cls._fresh(paths, state)
            say("checking prerequisites")
            prereq.check(lab.ctx)
            write_state(paths, state)
            try:
                lab._start_all(say, timeout)
            except BaseException:
                say("start failed: stopping what was started")
                lab._teardown(say)
                raise
            return lab

    @classmethod
    def _fresh(cls, paths: LabPaths, state: dict[str, Any]) -> Lab:
        """Wipe the previous lab's data (a new lab starts from initdb) and create new secrets."""
        for sub in ("run", "backup", "logs"):
            shutil.rmtree(paths.root / sub, ignore_errors=True)
        for f in (paths.secrets_file, paths.pgpass, paths.base_backup_status):
            f.unlink(missing_ok=True)
        secrets = load_or_create_secrets(paths)
        write_private(paths.pgpass, pgpass_text(secrets))
        ensure_dir(paths.root / "run", 0o755)
        ensure_dir(paths.logs, 0o755)
        return cls(paths, state)

    @classmethod
    def load(cls, state_dir: Path | str | None = None, *, partial: bool = False) -> Lab:
        """The lab running in the state folder: LabNotRunning if there is none, LabStartIncomplete if its
        `drill lab up` has not finished (killed half way, or still starting), since a drill must not use a
        lab without, say, its base backup. `partial=True` returns a half-started lab too: for `status` (which
        reports it unhealthy) and `down` (which stops it)."""
        paths = LabPaths(Path(state_dir).resolve() if state_dir else default_state_dir())
        state = read_state(paths)
        if state and state.get("phase") != PHASE_UP:
            if partial:
                return cls(paths, state)
            raise LabStartIncomplete(
                f"the lab in {paths.root} is not completely started: {incomplete_reason(state)}; "
                + (
                    "wait until that `drill lab up` has finished"
                    if starter_running(state)
                    else "run `drill lab up` again (it stops a half-started lab and starts it afresh)"
                )
            )
        if not state or not state.get("components"):
            raise LabNotRunning(f"no lab is running (no state in {paths.root}); start one with `drill lab up`")
        return cls(paths, state)

    def down(self, progress: Progress | None = None) -> None:
        """Stop every process of this lab and remove its namespaces/firewall. Idempotent."""
        with state_lock(self.paths):
            self._teardown(progress or _quiet)

    # ---------------------------------------------------------------- starting
    def _start_all(self, say: Progress, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        ctx = self.ctx
        if self.network.mode == "netns":
            self.state["network_setup"] = True  # recorded first: teardown undoes a partial setup too
            write_state(self.paths, self.state)
        say(f"network: {self.network.mode}")
        self.network.setup()
        backup.prepare_store(ctx)
        say("starting etcd, Redis, Sentinels, HAProxy, the fault proxies, the app replicas and the monitoring")
        # proxies before their clients; the monitoring with them, before PostgreSQL (nothing waits for it)
        for kind in ("etcd", "redis", "sentinel", "haproxy", "proxy", "app", monitoring.KIND):
            for spec in of_kind(kind):
                self._spawn(spec)
        self._wait(lambda: all(etcd.healthy(ctx, s)[0] for s in of_kind("etcd")), deadline, "etcd quorum")
        say("starting Patroni/PostgreSQL (3 AZ nodes)")
        for spec in of_kind("patroni", PRIMARY_ZONES):
            self._spawn(spec)
            if spec.name == "pg-a":  # a head start so az-a usually wins the bootstrap race
                time.sleep(0.5)
        self._wait(lambda: self.postgres_leader() is not None, deadline, "a PostgreSQL leader")
        say(f"leader {self.postgres_leader()}: creating the freight schema")
        self._wait(self._create_schema, deadline, "the freight schema")
        say("starting S3 (moto, its replicator makes the buckets) and the DR standby cluster")
        # After the bootstrap, niced: moto's and the replicator's start (a second of CPU each) must not compete
        # with initdb and the leader race on two cores. The health wait below waits for their buckets. pg-dr
        # stays the last component started (a `lab up` killed after it has everything but the base backup).
        for spec in [*of_kind(s3.KIND), *of_kind(s3.REPLICATOR_KIND)]:
            self._spawn(spec)
        self._spawn(SPECS["pg-dr"])
        say("waiting for everything to be healthy")
        self.wait_healthy(max(1.0, deadline - time.monotonic()))
        say("healthy; taking the base backup in the background")
        healthy_at = time.time()
        self._start_base_backup()
        # Prometheus and its exporters are not part of the lab's health: wait a little for them (they are
        # usually ready long before), then say what is missing instead of failing the lab.
        missing = monitoring.wait_ready(ctx, min(monitoring.READY_WAIT_S, max(0.0, deadline - time.monotonic())))
        if missing:
            say("monitoring not ready (the lab is healthy without it): " + "; ".join(missing))
        self.state["phase"] = PHASE_UP
        self.state["healthy_at"] = healthy_at
        write_state(self.paths, self.state)

    def _spawn(self, spec: ComponentSpec, launch: Launch | None = None) -> dict:
        launch = launch or _LAUNCHERS[spec.kind](self.ctx, spec)
        env = dict(launch.env)
        if launch.user and os.geteuid() == 0:
            # Enter the zone as root, then drop to the user (`ip netns exec` needs root; setpriv execs).
            prefix = self.network.exec_prefix(spec.zone, user=launch.user) if spec.zone != EDGE else []
            env.update(HOME=str(self.paths.component_dir(spec.name)), USER=launch.user, LOGNAME=launch.user)
        else:
            prefix = self.network.exec_prefix(spec.zone) if spec.zone != EDGE else []
        rec = spawn([*prefix, *launch.argv], self.paths.log(spec.name), env=env)
        rec.user = launch.user or rec.user
        entry = {
            **rec.to_dict(),
            "kind": spec.kind,
            "zone": spec.zone,
            "host": self.ctx.host(spec.zone),
            "ports": dict(spec.ports),
            "launch": {"argv": launch.argv, "user": launch.user, "env": launch.env},
        }
        self.state["components"][spec.name] = entry
        write_state(self.paths, self.state)
        return entry

    @staticmethod
    def _wait(cond: Callable[[], bool], deadline: float, what: str) -> None:
        last_err = None
        while time.monotonic() < deadline:
            try:
                if cond():
                    return
            except Exception as err:  # noqa: BLE001 - services are still coming up
                last_err = err
            time.sleep(0.2)
        raise HarnessError(
            f"timed out waiting for {what}"
            + (f" (last error: {type(last_err).__name__})" if last_err else "")
            + "; see `drill lab logs`"
        )

    def _create_schema(self) -> bool:
        leader = self.postgres_leader()
        if leader is None:
            return False
        pw = self.ctx.secrets[PG_APP_USER]
        with psycopg.connect(self.pg_dsn(leader, user=PG_SUPERUSER, db="postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PG_APP_USER,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(PG_APP_USER), sql.Literal(pw))
            )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(PG_DATABASE), sql.Identifier(PG_APP_USER)
                    )
                )
        with psycopg.connect(self.pg_dsn(leader), autocommit=True) as conn:
            conn.execute(SCHEMA_SQL)
        return True

    def _start_base_backup(self) -> None:
        launch = backup.launch_full_backup(self.ctx)
        rec = spawn(launch.argv, self.paths.log("backup"), user=launch.user, env=launch.env)
        self.state["backup_job"] = rec.to_dict()
        if not self.state.get("backup_schedule"):  # one schedule per lab (a failback only adds a full backup)
            sched = backup.launch_schedule(self.ctx)
            self.state["backup_schedule"] = spawn(sched.argv, self.paths.log("backup-schedule")).to_dict()
        write_state(self.paths, self.state)

    def start_base_backup(self) -> None:
        """Take a new base backup in the background (e.g. after a failback put the primary cluster on a new
        timeline); `wait_backup()` waits for it. Re-reads the state file first: it writes it."""
        with state_lock(self.paths):
            self.state = read_state(self.paths) or self.state
            self._start_base_backup()

    # ---------------------------------------------------------------- stopping
    def _teardown(self, say: Progress) -> None:
        comps: dict[str, dict] = self.state.get("components", {})
        # Phase 1 everything but etcd (Patroni wants its DCS while it shuts down), phase 2 etcd.
        phases = [
            [n for n in comps if comps[n].get("kind") != "etcd"],
            [n for n in comps if comps[n].get("kind") == "etcd"],
        ]
        for job in ("backup_job", "backup_schedule"):
            if self.state.get(job):
                phases[0].append(f"__{job}__")
                comps = {**comps, f"__{job}__": self.state[job]}
        for names in phases:
            if names:
                say(f"stopping {', '.join(n for n in names if not n.startswith('__'))}")
            for n in names:
                if signal_group(comps[n], signal.SIGTERM):
                    signal_group(comps[n], signal.SIGCONT)  # a frozen process can't act on SIGTERM
            for n in names:
                grace = STOP_GRACE.get(comps[n].get("kind"), 5.0)
                if not wait_gone(comps[n], grace):
                    signal_group(comps[n], signal.SIGKILL)
                    wait_gone(comps[n], 5.0)
        # PostgreSQL runs in its own session (Patroni detaches it): stop any postmaster left behind.
        for spec in of_kind("patroni"):
            pid = postgres.postmaster_pid(self.ctx, spec.name)
            if pid and proc_start_time(pid) is not None:
                kill_verified(pid, str(postgres.data_dir(self.ctx, spec.name)), signal.SIGQUIT)
        # Sweep: anything still carrying the state folder in its command line is this lab's.
        needle = str(self.paths.root) + "/"
        deadline = time.monotonic() + 5
        while (left := pids_with_in_cmdline(needle)) and time.monotonic() < deadline:
            for pid in left:
                kill_verified(pid, needle, signal.SIGKILL if time.monotonic() > deadline - 3 else signal.SIGTERM)
            time.sleep(0.2)
        if self.state.get("network_setup") or self.network.mode == "netns":
            say("removing namespaces and firewall rules")
        self.network.teardown()
        self.paths.state_file.unlink(missing_ok=True)
        self.state["components"] = {}

    # ---------------------------------------------------------------- inspecting
    @property
    def components(self) -> dict[str, dict]:
        """name -> {kind, zone, host, ports, pid, pgid, start_time, log, user, argv}."""
        return {n: {k: v for k, v in r.items() if k != "launch"} for n, r in self.state.get("components", {}).items()}

    def status(self) -> dict[str, Any]:
        """Everything `drill lab status --json` prints: per-component role and health, backup, endpoints."""
        fresh = read_state(self.paths)
        if fresh is None:
            return {"up": False, "healthy": False, "state_dir": str(self.paths.root), "components": [], "problems": []}
        self.state = fresh
        result = health.collect(self.ctx, self.state.get("components", {}))
        if self.state.get("phase") != PHASE_UP:
            # Its processes may all answer, but the lab is not finished (no base backup yet, say): never healthy.
            result["healthy"] = False
            result["problems"].insert(0, f"start incomplete: {incomplete_reason(self.state)}")
        wal = backup.archived_wal(self.ctx)
        result.update(
            {
                "up": any(c["running"] for c in result["components"]),
                "state_dir": str(self.paths.root),
                "network": self.network.mode,
                "replication": self.ctx.replication,
                "phase": self.state.get("phase"),
                "backup": {
                    "base": backup.status(self.ctx),
                    "repository": str(backup.repo_dir(self.ctx)),
                    "wal_files": len(wal),
                },
                "endpoints": {
                    "app": self.app_url,
                    "pg_primary": self.pg_dsn("primary"),
                    "pg_replicas": self.pg_dsn("replicas"),
                    "pg_dr": self.pg_dsn("dr"),
                    "redis": self.redis_url(),
                    "prometheus": self.prometheus_url,
                    "s3": s3.endpoint_url(self.ctx),
                    "stats": f"http://{self.ctx.host(EDGE)}:{SPECS['haproxy'].ports['stats']}/",
                },
            }
        )
        return result

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the lab is healthy; return the status. HarnessError naming what is not, on timeout."""
        deadline = time.monotonic() + timeout
        next_nudge = time.monotonic() + 5.0
        next_fork_check, forked_since = time.monotonic(), None
        while True:
            # Re-read the state each round: an undo (or another process) may have restarted a component
            # under a new pid since this object last looked.
            self.state = read_state(self.paths) or self.state
            st = health.collect(self.ctx, self.state.get("components", {}))
            if st["healthy"]:
                return st
            if time.monotonic() >= deadline:
                raise HarnessError(f"lab not healthy after {timeout:.0f}s: " + "; ".join(st["problems"][:8]))
            if time.monotonic() >= next_nudge and any("streaming replicas" in p for p in st["problems"]):
                self._nudge_wal()
                next_nudge = time.monotonic() + 5.0
            dr_down = any(p.startswith("pg-dr") for p in st["problems"])
            if dr_down and time.monotonic() >= next_fork_check:  # forked off? Patroni's rewind first, then a re-clone
                forked_since = (forked_since or time.monotonic()) if postgres.dr_fork(self.ctx) else None
                if forked_since is not None and time.monotonic() - forked_since >= postgres.DR_REWIND_GRACE_S:
                    self.reclone_dr()
                    forked_since = None
                next_fork_check = time.monotonic() + 2.0
            time.sleep(0.25)

    def reclone_dr(self) -> None:
        """Rebuild the DR standby from the primary cluster (pg_basebackup): for a pg-dr that forked off the
        primary's history (postgres.dr_fork) and that Patroni could not pg_rewind."""
        self.stop_component("pg-dr", timeout=60)
        postgres.wipe_dr(self.ctx)
        self.start_component("pg-dr")

    def _nudge_wal(self) -> None:
        """Write one WAL record on the primary. A crashed leader that Patroni pg_rewinds comes back with a
        minimum recovery point at the start of the new primary's next record; on an idle primary that record
        never comes, so the node stays "starting" (not consistent) until something writes. Measured: 4 min
        of "not yet accepting connections" after an AZ drill, over the moment the next drill wrote."""
        try:
            with psycopg.connect(
                self.pg_dsn("primary", user=PG_SUPERUSER, db="postgres"), autocommit=True, connect_timeout=2
            ) as conn:
                conn.execute("SELECT pg_logical_emit_message(false, 'drill-lab', 'nudge')")
        except psycopg.Error:
            pass  # no primary yet (an election): the next round tries again

    def wait_full_backup_done(self, timeout: float = 180.0) -> float:
        """Wait while the lab's background full backup is still running (whatever its outcome); seconds waited.
        Its end switches WAL: under a replication-lag fault that jump alone would put the replicas past
        Patroni's maximum_lag_on_failover, and no failover would ever happen."""
        t0 = time.monotonic()
        while backup.status(self.ctx) == "running" and time.monotonic() - t0 < timeout:
            time.sleep(0.2)
        return time.monotonic() - t0

    def wait_backup(self, timeout: float = 60.0) -> dict:
        """Wait until the base backup is complete and a WAL segment is archived: {"base", "wal": [...]}."""
        return backup.wait(self.ctx, self.pg_dsn("primary", user=PG_SUPERUSER, db="postgres"), timeout)

    def postgres_members(self) -> list[dict]:
        """Patroni's view of the primary cluster: [{name, role, state, host, port, lag, timeline, ...}]."""
        view = postgres.cluster_view(self.ctx, PRIMARY_ZONES)
        return view.get("members", []) if view else []

    def postgres_leader(self) -> str | None:
        """Name of the leader in Patroni's DCS view (e.g. "pg-a"), or None during an election. A crashed leader
        stays in it until its key expires; postgres_primary() asks the node itself."""
        for m in self.postgres_members():
            if m.get("role") == "leader" and m.get("state") == "running":
                return m["name"]
        return None

    def postgres_primary(self, timeout: float = 0.5) -> str | None:
        """Name of the one primary-cluster member whose own Patroni answers GET /primary with 200, or None
        (none or several do). Stricter than postgres_leader(), which reads the DCS: a leader killed with
        kill -9 stays "leader, running" there until its key's TTL runs out. Asks all members at once, so
        it takes at most `timeout` even when a frozen node does not answer."""
        names = [s.name for s in of_kind("patroni", PRIMARY_ZONES)]
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            answers = list(pool.map(lambda n: postgres.answers_as_primary(self.ctx, n, timeout), names))
        primaries = [n for n, ok in zip(names, answers, strict=True) if ok]
        return primaries[0] if len(primaries) == 1 else None

    def postmaster_pid(self, member: str) -> int | None:
        """PID of a member's postmaster (not Patroni's): the thing to kill -9 for a database crash."""
        return postgres.postmaster_pid(self.ctx, member)

    def patroni_url(self, member: str) -> str:
        """Base URL of a member's Patroni REST API (e.g. POST {url}/switchover)."""
        return postgres.rest_url(self.ctx, SPECS[member])

    def switchover(self, candidate: str | None = None, timeout: float = 30.0) -> str:
        """Graceful Patroni switchover to `candidate` (or any healthy replica); returns the new leader."""
        leader = self.postgres_leader()
        if leader is None:
            raise HarnessError("no PostgreSQL leader to switch over from")
        body = {"leader": leader, **({"candidate": candidate} if candidate else {})}
        r = httpx.post(f"{self.patroni_url(leader)}/switchover", json=body, timeout=timeout)
        if r.status_code != 200:
            raise HarnessError(f"switchover refused by Patroni: {r.status_code} {r.text.strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.postgres_leader()
            if new and new != leader:
                return new
            time.sleep(0.2)
        raise HarnessError(f"switchover from {leader}: no new leader within {timeout:.0f}s")

    def set_replication(self, mode: str, timeout: float = 30.0) -> str:
        """Switch Patroni between synchronous and asynchronous replication on the running lab (PATCH /config)
        and wait until the cluster shows it; returns the previous mode. Drills use it to reproduce the
        plan's two RPO regimes (5.1.1: 0 with synchronous replication, minutes with asynchronous)."""
        if mode not in REPLICATION_MODES:
            raise HarnessError(f"replication mode must be one of {', '.join(REPLICATION_MODES)}, not {mode!r}")
        previous = self.ctx.replication
        leader = self.postgres_leader()
        if leader is None:
            raise HarnessError("no PostgreSQL leader to change the replication mode on")
        r = httpx.patch(f"{self.patroni_url(leader)}/config", json={"synchronous_mode": mode == "sync"}, timeout=5)
        if r.status_code != 200:
            raise HarnessError(f"Patroni refused the replication change: {r.status_code} {r.text.strip()[:200]}")
        with state_lock(self.paths):
            state = read_state(self.paths) or self.state
            state["replication"] = mode
            write_state(self.paths, state)
        self.state["replication"] = self.ctx.replication = mode
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            roles = [m.get("role") for m in self.postgres_members()]
            if ("sync_standby" in roles) == (mode == "sync"):
                return previous
            time.sleep(0.2)
        raise HarnessError(f"the cluster did not switch to {mode} replication within {timeout:.0f}s")

    def redis_primary(self) -> str | None:
        """Component name of the Redis primary the Sentinels agree on: every Sentinel that answers names the
        same server and they are a majority (None otherwise). A Sentinel that is down (its AZ is out) does not
        veto: that is the state an AZ drill must be able to judge."""
        masters = redis_cache.sentinel_masters(self.ctx)
        answers = [addr for addr in masters.values() if addr is not None]
        if len(set(answers)) != 1 or len(answers) <= len(masters) // 2:
            return None
        return redis_cache.name_at(self.ctx, answers[0])

    def redis_sentinels(self) -> list[tuple[str, int]]:
        return redis_cache.sentinel_addrs(self.ctx)

    def redis_url(self) -> str:
        """Sentinel form: redis+sentinel://h:p,h:p,h:p/<service> (no password: the lab's Redis has none)."""
        return "redis+sentinel://" + ",".join(f"{h}:{p}" for h, p in self.redis_sentinels()) + f"/{REDIS_SERVICE}"

    def redis_client(self, timeout: float = 0.5) -> redis.Redis:
        """A redis-py client for the current primary, found through the Sentinels."""
        s = Sentinel(self.redis_sentinels(), socket_timeout=timeout, socket_connect_timeout=timeout)
        return s.master_for(REDIS_SERVICE, socket_timeout=timeout, socket_connect_timeout=timeout)

    @property
    def app_url(self) -> str:
        """The app through HAProxy (the public entry point)."""
        return f"http://{self.ctx.host(EDGE)}:{SPECS['haproxy'].ports['app']}"

    @property
    def prometheus_url(self) -> str:
        """The lab's Prometheus (1 s scrape interval), for `prometheus=URL|query=...` probes."""
        return monitoring.prometheus_url(self.ctx)

    def app_replica_url(self, name: str) -> str:
        return apps.url(self.ctx, name)

    def pg_dsn(self, target: str = "primary", user: str = PG_APP_USER, db: str = PG_DATABASE) -> str:
        """libpq URL with no secret in it (password from the lab's passfile, 2 s connect timeout).
        target: "primary" / "replicas" (HAProxy), "dr" (DR standby leader) or a member name ("pg-b")."""
        hp = SPECS["haproxy"].ports
        if target == "primary":
            host, port = self.ctx.host(EDGE), hp["pg_primary"]
        elif target == "replicas":
            host, port = self.ctx.host(EDGE), hp["pg_replicas"]
        elif target == "dr":
            host, port = self.ctx.addr("pg-dr", "pg")
        elif target in SPECS and SPECS[target].kind == "patroni":
            host, port = self.ctx.addr(target, "pg")
        else:
            raise HarnessError(f"unknown pg_dsn target {target!r}: primary, replicas, dr or a member name")
        return apps.pg_dsn(self.ctx, host, port, user=user, db=db)

    def haproxy_command(self, cmd: str) -> str:
        """One HAProxy runtime API command, e.g. "disable server app/app-a", "enable server app/app-dr"."""
        return haproxy.command(self.ctx, cmd)

    def haproxy_server_state(self, backend: str, server: str) -> str:
        """HAProxy's view of one server: "UP", "DOWN", "MAINT", "UP 1/2", ... ("" if unknown)."""
        return haproxy.server_states(self.ctx).get((backend, server), "")

    def logs(self, component: str | None = None, lines: int = 50) -> str:
        """Last `lines` of one component's log (or of each, headed by its name)."""
        names = [component] if component else [n for n in SPECS] + ["backup"]
        if component and component not in SPECS and component != "backup":
            raise HarnessError(f"unknown component {component!r}; one of: {', '.join([*SPECS, 'backup'])}")
        out = []
        for n in names:
            path = self.paths.log(n)
            if not path.exists():
                continue
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(("\n".join(tail)) if component else f"==> {n} <==\n" + "\n".join(tail))
        return "\n".join(out)

    def memory(self) -> dict[str, int]:
        """{"rss", "pss"} bytes of all the lab's processes and their children (PostgreSQL backends too)."""
        pids = [r["pid"] for r in self.state.get("components", {}).values() if is_running(r)]
        pids += [p for p in (self.postmaster_pid(s.name) for s in of_kind("patroni")) if p]
        return memory_bytes(pids)

    # ---------------------------------------------------------------- one component
    def stop_component(self, name: str, sig: int = signal.SIGTERM, wait: bool = True, timeout: float = 20.0) -> bool:
        """Send `sig` to a component's process group (checked against the recorded start time first).
        With SIGTERM/SIGKILL and `wait`, block until it is gone. False if it was not running."""
        rec = self._record(name)
        if not signal_group(rec, sig):
            return False
        if wait and sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
            if not wait_gone(rec, timeout):
                raise HarnessError(f"{name} still running {timeout:.0f}s after signal {signal.Signals(sig).name}")
        return True

    def start_component(self, name: str) -> dict:
        """Start a stopped component again with the same command line; returns its new record."""
        with state_lock(self.paths):
            self.state = read_state(self.paths) or self.state
            rec = self._record(name)
            if is_running(rec):
                raise HarnessError(f"{name} is already running (pid {rec['pid']})")
            launch = Launch(**rec["launch"])
            return self._spawn(SPECS[name], launch)

    def deploy_app(self, name: str, version: str, broken: bool = False) -> dict:
        """Roll one app replica to `version` (optionally a broken build whose /health fails): stop, start."""
        spec = SPECS[name]
        if spec.kind != "app":
            raise HarnessError(f"{name} is not an app replica")
        self.stop_component(name)
        with state_lock(self.paths):
            self.state = read_state(self.paths) or self.state
            return self._spawn(spec, apps.launch(self.ctx, spec, version=version, broken=broken))

    def _record(self, name: str) -> dict:
        self.state = read_state(self.paths) or self.state
        rec = self.state.get("components", {}).get(name)
        if rec is None:
            raise HarnessError(f"unknown lab component {name!r}; one of: {', '.join(self.state.get('components', {}))}")
        return rec


def starter_running(state: dict[str, Any]) -> bool:
    """True while the `drill lab up` that wrote this state is still alive (pid and start time match)."""
    starter = state.get("starter") or {}
    return bool(starter.get("pid")) and is_running(starter)


def incomplete_reason(state: dict[str, Any]) -> str:
    """Why a state is not a complete lab, in words: who was starting it, how far it got."""
    starter = state.get("starter") or {}
    who = f"`drill lab up` (pid {starter['pid']})" if starter.get("pid") else "`drill lab up`"
    got = f"{len(state.get('components', {}))} of {len(SPECS)} components started"
    backup_note = "base backup started" if state.get("backup_job") else "no base backup"
    if starter_running(state):
        return f"{who} is still starting it ({got}, {backup_note})"
    return f"{who} stopped before it finished (phase {state.get('phase', 'unknown')}; {got}, {backup_note})"


@contextmanager
def running_lab(
    replication: str = "sync",
    network: str | None = None,
    state_dir: Path | str | None = None,
    timeout: float = 120.0,
    progress: Progress | None = None,
) -> Iterator[Lab]:
    """A lab for a test or a drill step: reuses the lab already up and healthy with the same options
    (and leaves it running), else starts one and stops it at exit."""
    try:
        lab = Lab.load(state_dir)
    except HarnessError:
        lab = None
    if lab is not None and lab.ctx.replication == replication and (network is None or lab.network.mode == network):
        lab.wait_healthy(30)
        yield lab
        return
    if lab is not None:
        raise HarnessError(
            f"a lab with other options is running in {lab.paths.root} "
            f"({lab.ctx.replication}, {lab.network.mode}); `drill lab down` it first"
        )
    lab = Lab.up(replication=replication, network=network, state_dir=state_dir, timeout=timeout, progress=progress)
    try:
        yield lab
    finally:
        if not lab.already_up:
            lab.down()
