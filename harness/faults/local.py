"""Local fault implementations that need no lab, and the lab vocabulary as registered stubs.

`process-freeze` and `process-kill` are the building blocks (a frozen process is a zombie primary; a killed one
a crashed node). The lab faults have real parameters and blast radius here; their inject needs the lab and is
implemented on top of this framework by the next task (which re-registers the same names).
"""

from __future__ import annotations

import os
import shlex
import signal
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.errors import HarnessError
from harness.faults.base import BlastRadius, Fault, FaultParams, Injection, Journal, NoParams, ProcessRef
from harness.faults.registry import register
from harness.faults.undo import cmdline, group_members, process_identity, read_stat

# A freeze converges in a few rounds (a stopped process cannot fork); this only bounds a pathological case.
MAX_FREEZE_ROUNDS = 20


def _victim(pid: int) -> dict[str, Any]:
    """The stat of a process the harness may signal, or a HarnessError saying why not."""
    stat = read_stat(pid)
    if stat is None or stat["state"] in ("Z", "X"):
        raise HarnessError(f"parameter 'pid': no running process {pid}")
    if pid == 1 or stat["ppid"] == 2 or pid == 2:
        raise HarnessError(f"parameter 'pid': refusing to signal {pid} (init or a kernel thread)")
    own = {os.getpid()}
    parent = os.getppid()
    while parent > 1 and parent not in own:  # never the harness itself or anything it runs under
        own.add(parent)
        parent_stat = read_stat(parent)
        parent = parent_stat["ppid"] if parent_stat else 0
    if pid in own:
        raise HarnessError(f"parameter 'pid': refusing to signal {pid}: it is this harness or its parent")
    return stat


@register
class ProcessFreeze(Fault):
    name = "process-freeze"
    plan_section = "6.2 Component Recovery Testing (building block: frozen / zombie process)"
    summary = "SIGSTOP a process (by default its whole process group)"
    undo_summary = "SIGCONT the same processes (identity checked by start time)"

    class Params(FaultParams):
        pid: int = Field(gt=0, description="a process of the group to freeze")
        group: bool = Field(True, description="freeze the whole process group of pid, not just pid")

    def _pgid(self) -> int | None:
        stat = _victim(self.params.pid)
        return stat["pgid"] if self.params.group else None

    def preflight(self, target: Any) -> None:
        pgid = self._pgid()
        if pgid is not None and pgid == os.getpgrp():
            raise HarnessError(f"parameter 'pid': refusing to freeze process group {pgid}: the harness is in it "
                               "(start the victim with its own session, or pass group=false)")

    def _members(self) -> list[int]:
        pgid = self._pgid()
        return group_members(pgid) if pgid is not None else [self.params.pid]

    def describe(self, target: Any) -> BlastRadius:
        pgid = self._pgid()
        what = f"process group {pgid}" if pgid is not None else f"process {self.params.pid}"
        procs = [ProcessRef(pid=p, start_time=(read_stat(p) or {}).get("start_time"), command=cmdline(p))
                 for p in self._members()]
        return BlastRadius(summary=f"freeze (SIGSTOP) {what}: {len(procs)} process(es)", processes=procs,
                           undo=self.undo_summary)

    def inject(self, target: Any, journal: Journal) -> Injection:
        stopped: set[int] = set()
        for _ in range(MAX_FREEZE_ROUNDS):
            # Re-scan each round: a member may have forked before it was stopped. Record, THEN stop.
            identities = [i for p in self._members() if p not in stopped and (i := process_identity(p))]
            if not identities:
                break
            journal.record_undo("sigcont", members=identities)
            for identity in identities:
                try:
                    os.kill(identity["pid"], signal.SIGSTOP)
                except ProcessLookupError:
                    pass
                stopped.add(identity["pid"])
        return Injection(detail={"stopped": sorted(stopped), "pgid": self._pgid_or_none()})

    def _pgid_or_none(self) -> int | None:
        stat = read_stat(self.params.pid)
        return stat["pgid"] if stat and self.params.group else None


@register
class ProcessKill(Fault):
    name = "process-kill"
    plan_section = "6.2 Component Recovery Testing (building block: crashed process)"
    summary = "kill -9 a process, optionally restarting it as the undo"
    undo_summary = "run the restart command (if given), once, unless the process is somehow still running"

    class Params(FaultParams):
        pid: int = Field(gt=0)
        restart: str | None = Field(None, description="command line that starts the process again")

        @model_validator(mode="after")
        def _restart_parses(self) -> ProcessKill.Params:
            if self.restart is not None and not shlex.split(self.restart):
                raise ValueError("parameter 'restart': empty command")
            return self

    def preflight(self, target: Any) -> None:
        _victim(self.params.pid)

    def describe(self, target: Any) -> BlastRadius:
        stat = _victim(self.params.pid)
        undo = f"restart with: {self.params.restart}" if self.params.restart else "none (no restart command)"
        return BlastRadius(summary=f"kill -9 process {self.params.pid} ({stat['comm']})",
                           processes=[ProcessRef(pid=self.params.pid, start_time=stat["start_time"],
                                                 command=cmdline(self.params.pid))], undo=undo)

    def inject(self, target: Any, journal: Journal) -> Injection:
        victim = process_identity(self.params.pid)
        if victim is None:
            raise HarnessError(f"parameter 'pid': process {self.params.pid} exited before the kill")
        if self.params.restart:
            journal.record_undo("restart_command", argv=shlex.split(self.params.restart), victim=victim,
                                cwd=os.getcwd(), log=str(journal.state_dir / "restarts" / f"{journal.id}.log"))
        else:
            journal.record_undo("noop", reason=f"process {self.params.pid} was killed; no restart command given")
        os.kill(self.params.pid, signal.SIGKILL)
        return Injection(detail={"killed": self.params.pid})


# -- the lab vocabulary (stubs until the lab implementations land) ------------------------------------------
AZ = Literal["az-a", "az-b", "az-c"]
Zone = Literal["az-a", "az-b", "az-c", "dr"]
Service = Literal["app", "db", "cache", "dcs"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"


class LabFault(Fault):
    """A fault of the vocabulary whose target is the lab. Stub: validation and blast radius are real, inject
    refuses before anything is written."""

    needs_lab = True
    unavailable = "needs the local lab implementation (next task)"
    touches: str = ""  # what the blast radius names when no lab is there to ask

    def describe(self, target: Any) -> BlastRadius:
        zone = getattr(self.params, "zone", None)
        return BlastRadius(summary=self.summary_for(), zones=[zone] if zone else [],
                           components=_lab_components(target, zone), resources=[self.touches] if self.touches else [],
                           undo=self.undo_summary)

    def summary_for(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params_dict().items() if v is not None)
        return f"{self.summary}" + (f" ({args})" if args else "")

    def inject(self, target: Any, journal: Journal) -> Injection:
        raise HarnessError(f"fault '{self.name}' needs the local lab implementation (next task)")


def _lab_components(target: Any, zone: str | None) -> list[str]:
    """Component names from a lab target (`target.components`: name → record with a zone), if there is one."""
    components = getattr(target, "components", None) or {}
    names = []
    for name, rec in dict(components).items():
        rec_zone = rec.get("zone") if isinstance(rec, dict) else getattr(rec, "zone", None)
        if zone is None or rec_zone == zone:
            names.append(name)
    return sorted(names)


@register
class AzOutage(LabFault):
    name = "az-outage"
    plan_section = "1.3 Single AZ Failure; 5.1.1/5.1.3/5.5.1 AZ Failure; 6.3 AZ Failure Simulation"
    summary = "every lab component in one availability zone goes down"
    undo_summary = "start (mode=kill) or SIGCONT (mode=freeze) every component of the zone; heal its network"
    touches = "all processes of the zone: etcd, Patroni/PostgreSQL, Redis, Sentinel, app replica"

    class Params(FaultParams):
        zone: AZ
        mode: Literal["kill", "freeze"] = "kill"


@register
class DbPrimaryCrash(LabFault):
    name = "db-primary-crash"
    plan_section = "5.1.1 Primary Instance Failure; 6.3 Database Failure Simulation"
    summary = "kill -9 the PostgreSQL leader (Patroni and postmaster)"
    undo_summary = "start the killed Patroni node again (it rejoins as a replica)"
    touches = "the current Patroni leader"
    Params = NoParams


@register
class DbPrimaryFreeze(LabFault):
    name = "db-primary-freeze"
    plan_section = "5.1.1 Primary Instance Failure (zombie primary); 6.3 Database Failure Simulation"
    summary = "SIGSTOP the PostgreSQL leader's process group for a while"
    undo_summary = "SIGCONT the same processes"
    touches = "the current Patroni leader's process group"

    class Params(FaultParams):
        seconds: float = Field(gt=0, le=3600)


@register
class DbReplicationLag(LabFault):
    name = "db-replication-lag"
    plan_section = "3.2 Data Replication; 5.1.1 RPO (asynchronous replication)"
    summary = "freeze the leader's WAL senders so replicas fall behind"
    undo_summary = "SIGCONT the WAL sender processes"
    touches = "walsender processes of the current leader"

    class Params(FaultParams):
        seconds: float = Field(gt=0, le=3600)


@register
class DbCorruption(LabFault):
    name = "db-corruption"
    plan_section = "1.3 Database Corruption; 5.1.1 Data Corruption"
    summary = "run a corrupting statement against one table on the primary"
    undo_summary = "restore the table from the copy taken just before (the drill measures the pitr procedure)"
    touches = "one table in the freight database"

    class Params(FaultParams):
        table: str = Field(pattern=IDENT_PATTERN)
        statement: str = Field(min_length=1)


@register
class DbAccidentalDelete(LabFault):
    name = "db-accidental-delete"
    plan_section = "1.3 Data Loss; 5.1.1 Accidental Deletion"
    summary = "DELETE rows matching a condition from one table on the primary"
    undo_summary = "re-insert the deleted rows from the copy taken just before (the drill measures pitr)"
    touches = "rows of one table in the freight database"

    class Params(FaultParams):
        table: str = Field(pattern=IDENT_PATTERN)
        where: str = Field(min_length=1, description="SQL condition; use 'true' to delete every row")


@register
class CachePrimaryCrash(LabFault):
    name = "cache-primary-crash"
    plan_section = "5.1.3 Primary Node Failure"
    summary = "kill -9 the Redis primary"
    undo_summary = "start the killed Redis again (Sentinel makes it a replica)"
    touches = "the current Redis primary"
    Params = NoParams


@register
class CacheFlush(LabFault):
    name = "cache-flush"
    plan_section = "5.1.3 Cache Flush"
    summary = "FLUSHALL on the Redis primary"
    undo_summary = "none needed: the cache rebuilds from the database (cache-rebuild procedure)"
    touches = "every key in Redis"
    Params = NoParams


@register
class AppCrash(LabFault):
    name = "app-crash"
    plan_section = "1.3 Application Failure; 5.3.1 Service Failure; 5.2.3 Pod Failure; 6.3"
    summary = "kill -9 app replicas"
    undo_summary = "start the killed app replicas again"
    touches = "app replica processes"

    class Params(FaultParams):
        replica: str = Field("one", pattern=NAME_PATTERN, description="one | all | a replica's name")


@register
class AppBadDeploy(LabFault):
    name = "app-bad-deploy"
    plan_section = "5.3.1 Deployment Failure; 5.2.3 Deployment Failure"
    summary = "roll a broken build of the app out to the replicas"
    undo_summary = "redeploy the previous version (the drill measures the app-rollback procedure)"
    touches = "every app replica"

    class Params(FaultParams):
        version: str = Field(pattern=NAME_PATTERN)


@register
class DependencyFailure(LabFault):
    name = "dependency-failure"
    plan_section = "5.3.1 Dependency Failure"
    summary = "make the app's dependency unreachable (fault proxy blackhole)"
    undo_summary = "switch the dependency's fault proxy back to pass"
    touches = "the app's path to the dependency"

    class Params(FaultParams):
        dependency: Literal["db", "cache"]


@register
class NetworkPartition(LabFault):
    name = "network-partition"
    plan_section = "6.3 Network Failure Simulation; 5.5.1 Route Table / NACL Issues"
    summary = "drop packets between two zones, or between a service and its dependency"
    undo_summary = "heal the partition (nft rules removed)"
    touches = "network paths between the two sides"

    class Params(FaultParams):
        a: Zone | None = None
        b: Zone | None = None
        service: Service | None = None
        dependency: Service | None = None

        @model_validator(mode="after")
        def _one_form(self) -> NetworkPartition.Params:
            zones, services = (self.a, self.b), (self.service, self.dependency)
            if any(zones) and any(services):
                raise ValueError("give either a and b (zones) or service and dependency, not both")
            if any(zones):
                if not all(zones):
                    raise ValueError("parameters 'a' and 'b' go together (two zones)")
                if self.a == self.b:
                    raise ValueError(f"parameters 'a' and 'b' must be different zones (both {self.a!r})")
            elif all(services):
                if self.service == self.dependency:
                    raise ValueError("parameters 'service' and 'dependency' must differ")
            else:
                raise ValueError("give a and b (zones) or service and dependency")
            return self


@register
class NetworkLatency(LabFault):
    name = "network-latency"
    plan_section = "6.3 Network Failure Simulation"
    summary = "add latency (and jitter) on the path to a target through its fault proxy"
    undo_summary = "switch the target's fault proxy back to pass"
    touches = "connections through the target's fault proxy"

    class Params(FaultParams):
        ms: int = Field(ge=0, le=60_000)
        jitter: int = Field(0, ge=0, le=60_000)
        target: str = Field(pattern=NAME_PATTERN)


@register
class NetworkBlackhole(LabFault):
    name = "network-blackhole"
    plan_section = "6.3 Network Failure Simulation; 5.5.2 Load Balancer Failure"
    summary = "accept connections to a target but forward nothing"
    undo_summary = "switch the target's fault proxy back to pass"
    touches = "connections through the target's fault proxy"

    class Params(FaultParams):
        target: str = Field(pattern=NAME_PATTERN)


@register
class RegionOutage(LabFault):
    name = "region-outage"
    plan_section = "1.3 Region Failure; 3.3 Regional Failover Process; 5.x Region Failure rows"
    summary = "every component of the primary region (az-a, az-b, az-c) goes down"
    undo_summary = "start every primary-region component again (then the region-failback procedure)"
    touches = "all primary-region processes"

    class Params(FaultParams):
        region: Literal["primary"] = "primary"
