"""The fault vocabulary of the DR plan: every named fault with its parameters, plan section and blast radius.

Declarations only. Each environment implements them by subclassing: harness/faults/lab.py for the local lab
(and, later, aws/k8s modules for staging targets), re-registering the same names. A declared fault with no
implementation validates its parameters and describes what it would touch, then refuses to inject before
anything is written.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from harness.errors import HarnessError
from harness.faults.base import BlastRadius, Fault, FaultParams, Injection, Journal, NoParams
from harness.faults.registry import register

Zone = Literal["az-a", "az-b", "az-c", "dr"]
AZ = Literal["az-a", "az-b", "az-c"]
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
        return BlastRadius(
            summary=self.summary_for(),
            zones=[zone] if zone else [],
            components=_lab_components(target, zone),
            resources=[self.touches] if self.touches else [],
            undo=self.undo_summary,
        )

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
    summary = "add latency (and jitter) to every round trip on the path to a target through its fault proxy"
    undo_summary = "switch the target's fault proxy back to pass"
    touches = "connections through the target's fault proxy"

    class Params(FaultParams):
        ms: int = Field(ge=1, le=60_000, description="added to every request/response round trip")
        jitter: int = Field(0, ge=0, le=60_000, description="uniform ± on each delay; at most ms")
        target: str = Field(pattern=NAME_PATTERN)
        seconds: float | None = Field(None, gt=0, le=3600, description="undo by itself after this long")

        @model_validator(mode="after")
        def _jitter_within_delay(self) -> NetworkLatency.Params:
            if self.jitter > self.ms:
                raise ValueError(f"parameter 'jitter' ({self.jitter}) must not exceed 'ms' ({self.ms})")
            return self


@register
class NetworkBlackhole(LabFault):
    name = "network-blackhole"
    plan_section = "6.3 Network Failure Simulation; 5.5.2 Load Balancer Failure"
    summary = "accept connections to a target but forward nothing"
    undo_summary = "reset the connections that crossed the blackhole, then switch the target's fault proxy back to pass"
    touches = "connections through the target's fault proxy"

    class Params(FaultParams):
        target: str = Field(pattern=NAME_PATTERN)
        seconds: float | None = Field(None, gt=0, le=3600, description="undo by itself after this long")


@register
class RegionOutage(LabFault):
    name = "region-outage"
    plan_section = "1.3 Region Failure; 3.3 Regional Failover Process; 5.x Region Failure rows"
    summary = "every component of the primary region (az-a, az-b, az-c) goes down"
    undo_summary = "start every primary-region component again (then the region-failback procedure)"
    touches = "all primary-region processes"

    class Params(FaultParams):
        region: Literal["primary"] = "primary"
