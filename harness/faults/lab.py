"""The lab's faults: every fault of the DR plan's vocabulary that acts on the local lab, one class each.

A class is the whole fault: its declaration (name, `Params`, plan section, summary, undo summary) and its lab
implementation (preflight, blast radius, inject) together; `@register` adds it to the vocabulary that
`drill fault list`, the target files, the Chaos Toolkit provider and `drill plan` read (harness.faults.registry).
Every inject writes its undo record BEFORE the side effect it undoes (Journal.record_undo fsyncs), and every
undo kind added here is idempotent:

    lab_start      start a lab component unless it already runs (the old Patroni node rejoins as replica)
    app_deploy     redeploy an app replica to a version unless it already runs that (healthy) version
    haproxy_enable enable servers put in maintenance by the fault
    netns_heal     heal a partition of the lab network (from the network's own state file)
    proxy_mode     switch a fault proxy back (to pass, or reset its connections)

Timed faults (db-primary-freeze, db-replication-lag; network-latency / network-blackhole given `seconds`) also
start a small detached timer process (harness.faults.base.start_undo_timer) that undoes the fault after N
seconds, unless it was undone earlier.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.errors import HarnessError, LabNetworkMissing, LabNotRunning
from harness.faults.base import (
    BlastRadius,
    Fault,
    FaultParams,
    Injection,
    Journal,
    NoParams,
    ProcessRef,
    register,
    start_undo_timer,
)
from harness.faults.undo import (
    cmdline,
    group_members,
    process_identity,
    read_stat,
    same_process,
    undo_action,
)
from harness.lab import Lab, apps, proxies
from harness.lab.fault_proxy import ProxyControl
from harness.lab.network import LabNetwork
from harness.lab.process import is_running
from harness.lab.state import read_state

Zone = Literal["az-a", "az-b", "az-c", "dr"]
AZ = Literal["az-a", "az-b", "az-c"]
Service = Literal["app", "db", "cache", "dcs"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"

PRIMARY_ZONES = ("az-a", "az-b", "az-c")
# Components killed/frozen by a zone outage: everything the zone runs (HAProxy lives at the edge).
ZONE_KINDS = ("etcd", "patroni", "redis", "sentinel", "app")


class LabFault(Fault):
    """A fault whose target is the running lab (`drill fault inject` passes Lab.load())."""

    needs_lab = True


# -- helpers on a lab target -------------------------------------------------------------------------------
def _lab(target: Any) -> Any:
    if target is None or not hasattr(target, "components"):
        raise HarnessError("this fault needs the running lab (start it with `drill lab up`)")
    # Components restart with new PIDs (an undo in another process): always act on the state file's view.
    target.state = read_state(target.paths) or target.state
    return target


def _state_dir(lab: Any) -> str:
    return str(lab.paths.root)


def _leader(lab: Any) -> str:
    leader = lab.postgres_leader()
    if leader is None:
        raise HarnessError("no PostgreSQL leader right now (an election is running?); try again when healthy")
    return leader


def _postgres_tree(lab: Any, member: str) -> list[int]:
    """The member's postmaster and all its children (backends, walsenders, ...)."""
    pm = lab.postmaster_pid(member)
    if not pm or read_stat(pm) is None:
        return []
    return [pm, *_children(pm)]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,args="], capture_output=True, text=True)
    return [int(line.split(None, 1)[0]) for line in out.stdout.splitlines() if line.strip()]


def _walsenders(lab: Any, member: str) -> list[int]:
    """WAL sender processes of a member's postmaster (ps title `postgres: <cluster>: walsender ...`)."""
    pm = lab.postmaster_pid(member)
    if not pm:
        return []
    out = subprocess.run(["ps", "--ppid", str(pm), "-o", "pid=,args="], capture_output=True, text=True)
    return [int(l.split(None, 1)[0]) for l in out.stdout.splitlines() if "walsender" in l]


def _group_pids(rec: dict) -> list[int]:
    """Live members of a component's process group (its own session; checked by start time first)."""
    if not same_process({"pid": rec["pid"], "start_time": rec["start_time"]}):
        return []
    return group_members(int(rec["pgid"]))


def _freeze(journal: Journal, pids: list[int]) -> list[int]:
    """Record SIGCONT for the pids, then SIGSTOP them. Returns the pids stopped."""
    identities = [i for p in dict.fromkeys(pids) if (i := process_identity(p))]
    if not identities:
        return []
    journal.record_undo("sigcont", members=identities)
    stopped = []
    for ident in identities:
        try:
            os.kill(ident["pid"], signal.SIGSTOP)
            stopped.append(ident["pid"])
        except ProcessLookupError:
            pass
    return stopped


def _kill(pids: list[int]) -> list[int]:
    killed = []
    for pid in dict.fromkeys(pids):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


def _component_pids(lab: Any, name: str) -> list[int]:
    rec = lab.components[name]
    pids = _group_pids(rec)
    if rec.get("kind") == "patroni":  # PostgreSQL runs in its own session: it is part of the node too
        pids += _postgres_tree(lab, name)
    return pids


def _crash_components(lab: Any, journal: Journal, names: list[str]) -> dict[str, list[int]]:
    """kill -9 components (Patroni nodes with their postmaster); each start recorded before its kill."""
    killed = {}
    for name in names:
        journal.record_undo("lab_start", name=name, state_dir=_state_dir(lab))
        killed[name] = _kill(_component_pids(lab, name))
    return killed


def _procs(lab: Any, names: list[str]) -> list[ProcessRef]:
    refs = []
    for name in names:
        for pid in _component_pids(lab, name):
            refs.append(ProcessRef(pid=pid, start_time=(read_stat(pid) or {}).get("start_time"), command=cmdline(pid)))
    return refs


def _zone_components(lab: Any, zones: list[str] | tuple[str, ...]) -> list[str]:
    return [n for n, r in lab.components.items() if r.get("zone") in zones and r.get("kind") in ZONE_KINDS]


def _need_netns(lab: Any, fallback: str) -> None:
    if lab.network.mode != "netns":
        raise HarnessError(
            f"network partitions need the lab in netns mode (this lab runs in "
            f"{lab.network.mode} mode); fallback: {fallback}"
        )


# -- undo kinds --------------------------------------------------------------------------------------------
@undo_action("lab_start")
def _lab_start(record: dict[str, Any]) -> str:
    """{"kind": "lab_start", "name": component, "state_dir": path}: start it unless it already runs."""
    try:
        lab = Lab.load(record.get("state_dir"))
    except LabNotRunning:
        return "lab is down; nothing to start"
    rec = lab.components.get(record["name"])
    if rec is not None and is_running(rec):
        return f"{record['name']} already running"
    lab.start_component(record["name"])
    return f"lab component {record['name']} started"


@undo_action("app_deploy")
def _app_deploy(record: dict[str, Any]) -> str:
    """{"kind": "app_deploy", "name": replica, "version": v, "state_dir": path}: roll back to `version`."""
    try:
        lab = Lab.load(record.get("state_dir"))
    except LabNotRunning:
        return "lab is down; nothing to redeploy"
    now = apps.version_of(lab.ctx, record["name"])
    if now and now.get("version") == record["version"] and not now.get("broken"):
        return f"{record['name']} already runs {record['version']}"
    lab.deploy_app(record["name"], record["version"])
    return f"{record['name']} redeployed at {record['version']}"


@undo_action("haproxy_enable")
def _haproxy_enable(record: dict[str, Any]) -> str:
    """{"kind": "haproxy_enable", "servers": ["pg_primary/pg-a", ...], "state_dir": path}."""
    try:
        lab = Lab.load(record.get("state_dir"))
    except LabNotRunning:
        return "lab is down; nothing to enable"
    for server in record["servers"]:
        lab.haproxy_command(f"enable server {server}")
    return "enabled " + ", ".join(record["servers"])


@undo_action("netns_heal")
def _netns_heal(record: dict[str, Any]) -> str:
    """Heal a partition: {"kind": "netns_heal", "state_dir": path, "prefix": "drill", "a": zone, "b": zone}, or
    "zone": z (isolate), or neither (heal all). Rebuilt from the network's own state file, so it needs no
    running harness; a network that is gone (lab down) has nothing left to heal."""
    if record.get("state_dir"):
        try:
            net = LabNetwork.load(Path(record["state_dir"]), record.get("prefix", "drill"))
        except LabNetworkMissing:
            return "lab network gone; nothing to heal"
    else:
        net = Lab.load().network
    if record.get("a") and record.get("b"):
        net.heal(record["a"], record["b"])
        return f"healed {record['a']} <-> {record['b']}"
    if record.get("zone"):
        net.heal_zone(record["zone"])
        return f"healed zone {record['zone']}"
    net.heal_all()
    return "healed all partitions"


@undo_action("proxy_mode")
def _proxy_mode(record: dict[str, Any]) -> str:
    """Switch a fault proxy back: {"kind": "proxy_mode", "control": path, "mode": "pass"}. A proxy whose
    control socket is gone is no longer in the path, so there is nothing to switch back."""
    control = Path(record["control"])
    if not control.exists():
        return f"proxy {control} gone; nothing to switch back"
    mode = record.get("mode", "pass")
    ProxyControl(control).set(mode=mode)
    return f"proxy {control} set to {mode}"


# -- the faults --------------------------------------------------------------------------------------------
@register
class DbPrimaryCrash(LabFault):
    __doc__ = "kill -9 the Patroni leader's patroni process group AND its postmaster (with its children)."
    name = "db-primary-crash"
    plan_section = "5.1.1 Primary Instance Failure; 6.3 Database Failure Simulation"
    summary = "kill -9 the PostgreSQL leader (Patroni and postmaster)"
    undo_summary = "start the killed Patroni node again (it rejoins as a replica)"
    Params = NoParams

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        leader = _leader(lab)
        return BlastRadius(
            summary=f"kill -9 the PostgreSQL leader {leader} (Patroni + postmaster)",
            components=[leader],
            zones=[lab.components[leader]["zone"]],
            processes=_procs(lab, [leader]),
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        leader = _leader(lab)
        killed = _crash_components(lab, journal, [leader])
        return Injection(detail={"leader": leader, "killed": killed[leader], "t_fault": time.time()})


@register
class DbPrimaryFreeze(LabFault):
    name = "db-primary-freeze"
    plan_section = "5.1.1 Primary Instance Failure (zombie primary); 6.3 Database Failure Simulation"
    summary = "SIGSTOP the PostgreSQL leader's process group for a while"
    undo_summary = "SIGCONT the same processes"

    class Params(FaultParams):
        seconds: float = Field(gt=0, le=3600)

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        leader = _leader(lab)
        return BlastRadius(
            summary=f"SIGSTOP the PostgreSQL leader {leader} (Patroni + postmaster + backends) "
            f"for {self.params.seconds:g} s",
            components=[leader],
            zones=[lab.components[leader]["zone"]],
            processes=_procs(lab, [leader]),
            undo=f"SIGCONT after {self.params.seconds:g} s, or on undo",
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        leader = _leader(lab)
        stopped = _freeze(journal, _component_pids(lab, leader))
        timer = start_undo_timer(journal, self.params.seconds)
        return Injection(detail={"leader": leader, "stopped": stopped, "timer_pid": timer, "t_fault": time.time()})


@register
class DbReplicationLag(LabFault):
    name = "db-replication-lag"
    plan_section = "3.2 Data Replication; 5.1.1 RPO (asynchronous replication)"
    summary = "freeze the leader's WAL senders so replicas fall behind"
    undo_summary = "SIGCONT the WAL sender processes"

    class Params(FaultParams):
        seconds: float = Field(gt=0, le=3600)

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        leader = _leader(lab)
        pids = _walsenders(lab, leader)
        return BlastRadius(
            summary=f"SIGSTOP the {len(pids)} WAL sender(s) of leader {leader} for "
            f"{self.params.seconds:g} s (replicas stop receiving WAL)",
            components=[leader],
            processes=[ProcessRef(pid=p, command=cmdline(p)) for p in pids],
            undo=f"SIGCONT after {self.params.seconds:g} s, or on undo",
        )

    def preflight(self, target: Any) -> None:
        lab = _lab(target)
        if not _walsenders(lab, _leader(lab)):
            raise HarnessError("the leader has no WAL sender processes (no replica connected)")

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        # Not while the full backup of a fresh lab runs: its WAL switch during the lag is a byte lag beyond
        # Patroni's failover limit, and a primary crash in this window would then never fail over.
        waited = lab.wait_full_backup_done()
        leader = _leader(lab)
        stopped = _freeze(journal, _walsenders(lab, leader))
        timer = start_undo_timer(journal, self.params.seconds)
        detail = {"leader": leader, "walsenders": stopped, "timer_pid": timer, "t_fault": time.time()}
        if waited >= 0.5:
            detail["waited_for_full_backup_s"] = round(waited, 1)
        return Injection(detail=detail)


def _outage_blast(fault: Any, lab: Any, zones: list[str], names: list[str], mode: str) -> BlastRadius:
    net = "; zone isolated (nftables)" if lab.network.mode == "netns" else "; no network cut (loopback mode)"
    verb = "kill -9" if mode == "kill" else "SIGSTOP"
    return BlastRadius(
        summary=f"{verb} {len(names)} component(s) in {', '.join(zones)}{net}",
        zones=zones,
        components=names,
        processes=_procs(lab, names),
        undo=fault.undo_summary,
    )


def _zone_down(lab: Any, journal: Journal, zones: list[str], mode: str) -> dict[str, Any]:
    names = _zone_components(lab, zones)
    detail: dict[str, Any] = {"zones": zones, "mode": mode, "components": names, "t_fault": time.time()}
    if mode == "kill":
        detail["killed"] = _crash_components(lab, journal, names)
    else:
        detail["stopped"] = _freeze(journal, [p for n in names for p in _component_pids(lab, n)])
    if lab.network.mode == "netns":  # heal is recorded last, so undo heals first, then starts/resumes
        for zone in zones:
            journal.record_undo("netns_heal", state_dir=_state_dir(lab), prefix=lab.network.prefix, zone=zone)
            lab.network.isolate(zone)
        detail["isolated"] = zones
    return detail


@register
class AzOutage(LabFault):
    name = "az-outage"
    plan_section = "1.3 Single AZ Failure; 5.1.1/5.1.3/5.5.1 AZ Failure; 6.3 AZ Failure Simulation"
    summary = "every lab component in one availability zone goes down"
    undo_summary = "start (mode=kill) or SIGCONT (mode=freeze) every component of the zone; heal its network"

    class Params(FaultParams):
        zone: AZ
        mode: Literal["kill", "freeze"] = "kill"

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        return _outage_blast(self, lab, [self.params.zone], _zone_components(lab, [self.params.zone]), self.params.mode)

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        return Injection(detail=_zone_down(lab, journal, [self.params.zone], self.params.mode))


@register
class RegionOutage(LabFault):
    name = "region-outage"
    plan_section = "1.3 Region Failure; 3.3 Regional Failover Process; 5.x Region Failure rows"
    summary = "every component of the primary region (az-a, az-b, az-c) goes down"
    undo_summary = "start every primary-region component again (then the region-failback procedure)"

    class Params(FaultParams):
        region: Literal["primary"] = "primary"

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        zones = list(PRIMARY_ZONES)
        return _outage_blast(self, lab, zones, _zone_components(lab, zones), "kill")

    def inject(self, target: Any, journal: Journal) -> Injection:
        return Injection(detail=_zone_down(_lab(target), journal, list(PRIMARY_ZONES), "kill"))


@register
class NetworkPartition(LabFault):
    name = "network-partition"
    plan_section = "6.3 Network Failure Simulation; 5.5.1 Route Table / NACL Issues"
    summary = "drop packets between two zones, or between a service and its dependency"
    undo_summary = "heal the partition (nft rules removed)"

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

    def preflight(self, target: Any) -> None:
        lab = _lab(target)
        _need_netns(lab, "db-primary-freeze / az-outage mode=freeze (a frozen process looks partitioned)")
        if self.params.service:
            raise HarnessError(
                "the service/dependency form is not available on the lab (services reach each "
                "other through HAProxy at the edge); use dependency-failure dependency=db|cache, "
                "or a and b (zones)"
            )

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        a, b = self.params.a, self.params.b
        return BlastRadius(
            summary=f"drop every packet between zones {a} and {b} (nftables)",
            zones=[a, b],
            components=_zone_components(lab, [a, b]),
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        a, b = self.params.a, self.params.b
        journal.record_undo("netns_heal", state_dir=_state_dir(lab), prefix=lab.network.prefix, a=a, b=b)
        lab.network.partition(a, b)
        return Injection(detail={"a": a, "b": b, "leader_before": lab.postgres_leader(), "t_fault": time.time()})


@register
class CachePrimaryCrash(LabFault):
    name = "cache-primary-crash"
    plan_section = "5.1.3 Primary Node Failure"
    summary = "kill -9 the Redis primary"
    undo_summary = "start the killed Redis again (Sentinel makes it a replica)"
    Params = NoParams

    def _primary(self, lab: Any) -> str:
        primary = lab.redis_primary()
        if primary is None:
            raise HarnessError("the Sentinels do not agree on a Redis primary right now; try again when healthy")
        return primary

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        primary = self._primary(lab)
        return BlastRadius(
            summary=f"kill -9 the Redis primary {primary}",
            components=[primary],
            zones=[lab.components[primary]["zone"]],
            processes=_procs(lab, [primary]),
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        primary = self._primary(lab)
        killed = _crash_components(lab, journal, [primary])
        return Injection(detail={"primary": primary, "killed": killed[primary], "t_fault": time.time()})


@register
class CacheFlush(LabFault):
    name = "cache-flush"
    plan_section = "5.1.3 Cache Flush"
    summary = "FLUSHALL on the Redis primary"
    undo_summary = "none needed: the cache rebuilds from the database (cache-rebuild procedure)"
    Params = NoParams

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        return BlastRadius(
            summary=f"FLUSHALL on the Redis primary {lab.redis_primary()}",
            resources=["every key in Redis"],
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        client = lab.redis_client(timeout=2.0)
        keys = client.dbsize()
        journal.record_undo("noop", reason="cache flushed; rebuild with `drill procedure run cache-rebuild`")
        client.flushall()
        return Injection(detail={"keys_flushed": keys, "t_fault": time.time()})


@register
class AppCrash(LabFault):
    name = "app-crash"
    plan_section = "1.3 Application Failure; 5.3.1 Service Failure; 5.2.3 Pod Failure; 6.3"
    summary = "kill -9 app replicas"
    undo_summary = "start the killed app replicas again"

    class Params(FaultParams):
        replica: str = Field("one", pattern=NAME_PATTERN, description="one | all | a replica's name")

    def _replicas(self, lab: Any) -> list[str]:
        azs = [n for n, r in lab.components.items() if r.get("kind") == "app" and r.get("zone") in PRIMARY_ZONES]
        which = self.params.replica
        if which == "all":
            return azs
        if which == "one":
            return azs[:1]
        if which not in lab.components or lab.components[which].get("kind") != "app":
            raise HarnessError(
                f"parameter 'replica': unknown app replica {which!r}; one of: one, all, "
                + ", ".join(n for n, r in lab.components.items() if r.get("kind") == "app")
            )
        return [which]

    def preflight(self, target: Any) -> None:
        self._replicas(_lab(target))

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        names = self._replicas(lab)
        return BlastRadius(
            summary=f"kill -9 app replica(s) {', '.join(names)}",
            components=names,
            processes=_procs(lab, names),
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        names = self._replicas(lab)
        return Injection(detail={"killed": _crash_components(lab, journal, names), "t_fault": time.time()})


@register
class AppBadDeploy(LabFault):
    name = "app-bad-deploy"
    plan_section = "5.3.1 Deployment Failure; 5.2.3 Deployment Failure"
    summary = "roll a broken build of the app out to the replicas"
    undo_summary = "redeploy the previous version (the drill measures the app-rollback procedure)"

    class Params(FaultParams):
        version: str = Field(pattern=NAME_PATTERN)

    def _replicas(self, lab: Any) -> list[str]:
        return [n for n, r in lab.components.items() if r.get("kind") == "app" and r.get("zone") in PRIMARY_ZONES]

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        names = self._replicas(lab)
        return BlastRadius(
            summary=f"deploy broken build {self.params.version} to {', '.join(names)}",
            components=names,
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        previous = {}
        for name in self._replicas(lab):
            now = apps.version_of(lab.ctx, name) or {}
            version = now.get("version") or _argv_version(lab, name)
            previous[name] = version
            journal.record_undo("app_deploy", name=name, version=version, state_dir=_state_dir(lab))
            lab.deploy_app(name, self.params.version, broken=True)
        return Injection(detail={"previous": previous, "version": self.params.version, "t_fault": time.time()})


def _argv_version(lab: Any, name: str) -> str:
    argv = lab.state["components"][name]["launch"]["argv"]
    return argv[argv.index("--version") + 1] if "--version" in argv else "1.0.0"


@register
class DependencyFailure(LabFault):
    name = "dependency-failure"
    plan_section = "5.3.1 Dependency Failure"

    class Params(FaultParams):
        dependency: Literal["db", "cache"]

    summary = (
        "make the app's dependency unavailable (db: HAProxy primary endpoint in maintenance; "
        "cache: Redis and Sentinels frozen)"
    )
    undo_summary = "db: enable the HAProxy servers again; cache: SIGCONT Redis and Sentinels"

    def _targets(self, lab: Any) -> list[str]:
        if self.params.dependency == "db":
            return [
                f"pg_primary/{n}"
                for n, r in lab.components.items()
                if r.get("kind") == "patroni" and r.get("zone") in PRIMARY_ZONES
            ]
        return [
            n
            for n, r in lab.components.items()
            if r.get("kind") in ("redis", "sentinel") and r.get("zone") in PRIMARY_ZONES
        ]

    def describe(self, target: Any) -> BlastRadius:
        lab = _lab(target)
        if self.params.dependency == "db":
            return BlastRadius(
                summary="put every server of HAProxy's PostgreSQL primary endpoint in maintenance",
                resources=self._targets(lab),
                undo=self.undo_summary,
            )
        names = self._targets(lab)
        return BlastRadius(
            summary="SIGSTOP the primary region's Redis and Sentinels (a hung cache)",
            components=names,
            processes=_procs(lab, names),
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        lab = _lab(target)
        targets = self._targets(lab)
        if self.params.dependency == "db":
            journal.record_undo("haproxy_enable", servers=targets, state_dir=_state_dir(lab))
            for server in targets:
                lab.haproxy_command(f"disable server {server}")
            return Injection(detail={"disabled": targets, "t_fault": time.time()})
        stopped = _freeze(journal, [p for n in targets for p in _component_pids(lab, n)])
        return Injection(detail={"frozen": targets, "stopped": stopped, "t_fault": time.time()})


class _ProxyFault:
    """network-latency / network-blackhole: switch the mode of the fault proxy on one of the lab's paths
    (harness/lab/proxies.py). The undo (proxy back to `pass`) is recorded before the mode changes."""

    def _proxy(self, lab: Any) -> tuple[Any, Any, dict[str, Any]]:
        path = proxies.path_for(self.params.target)  # unknown target: one error naming the known ones
        ctl = proxies.control(lab.ctx, path.target)
        try:
            state = ctl.get()
        except HarnessError as err:
            raise HarnessError(
                f"fault proxy {path.component} (target {path.target}) is not answering: {err}; "
                "check `drill lab status` (a lab started before the proxies existed needs "
                "`drill lab down` + `up`)"
            ) from None
        return path, ctl, state

    def preflight(self, target: Any) -> None:
        path, _, state = self._proxy(_lab(target))
        if state.get("mode") != "pass":
            raise HarnessError(
                f"fault proxy {path.component} is already in mode {proxies.describe_mode(state)} (another "
                "fault holds it); undo that one first (`drill fault undo ID` or `drill recover`)"
            )

    def _blast(self, target: Any, what: str) -> BlastRadius:
        lab = _lab(target)
        path, _, state = self._proxy(lab)
        rec = lab.components.get(path.component) or {}
        procs = (
            [ProcessRef(pid=rec["pid"], start_time=rec.get("start_time"), command=cmdline(rec["pid"]))]
            if rec.get("pid")
            else []
        )
        held = f" for {self.params.seconds:g} s" if self.params.seconds else ""
        return BlastRadius(
            summary=f"{what}{held} on the path {path.path}: fault proxy {path.component} "
            f"({state.get('listen')} -> {state.get('upstream')})",
            components=[path.component],
            processes=procs,
            resources=[f"every connection through {path.component} ({state.get('connections_open', 0)} open now)"],
            undo=self.undo_summary + (f" (by itself after {self.params.seconds:g} s)" if held else ""),
        )

    def _switch(self, lab: Any, journal: Journal, settings: dict[str, Any], reset_on_undo: bool) -> Injection:
        path, ctl, _ = self._proxy(lab)
        control = str(proxies.control_path(lab.ctx, path.component))
        journal.record_undo("proxy_mode", control=control, mode="pass")
        if reset_on_undo:  # recorded last, so replayed first: reset, then pass
            journal.record_undo("proxy_mode", control=control, mode="reset")
        state = ctl.set(**settings)
        seconds = self.params.seconds
        timer = start_undo_timer(journal, seconds, until=time.time() + seconds) if seconds else None
        return Injection(
            detail={
                "target": path.target,
                "proxy": path.component,
                "path": path.path,
                "mode": proxies.describe_mode(state),
                "timer_pid": timer,
                "t_fault": time.time(),
            }
        )


@register
class NetworkLatency(_ProxyFault, LabFault):
    __doc__ = "Delay every reply through the target's fault proxy: each request/response round trip grows by ms."
    name = "network-latency"
    plan_section = "6.3 Network Failure Simulation"
    summary = "add latency (and jitter) to every round trip on the path to a target through its fault proxy"
    undo_summary = "switch the target's fault proxy back to pass"

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

    def describe(self, target: Any) -> BlastRadius:
        jitter = f" ± {self.params.jitter} ms" if self.params.jitter else ""
        return self._blast(target, f"add {self.params.ms} ms{jitter} to every round trip")

    def inject(self, target: Any, journal: Journal) -> Injection:
        # Delay the replies only (downstream): a round trip grows by ms, as with netem on one interface.
        return self._switch(
            _lab(target),
            journal,
            {
                "mode": "latency",
                "latency_ms": self.params.ms,
                "jitter_ms": self.params.jitter,
                "direction": "downstream",
            },
            reset_on_undo=False,
        )


@register
class NetworkBlackhole(_ProxyFault, LabFault):
    __doc__ = "Accept and hold connections through the target's fault proxy, forward nothing."
    name = "network-blackhole"
    plan_section = "6.3 Network Failure Simulation; 5.5.2 Load Balancer Failure"
    summary = "accept connections to a target but forward nothing"
    undo_summary = "reset the connections that crossed the blackhole, then switch the target's fault proxy back to pass"

    class Params(FaultParams):
        target: str = Field(pattern=NAME_PATTERN)
        seconds: float | None = Field(None, gt=0, le=3600, description="undo by itself after this long")

    def describe(self, target: Any) -> BlastRadius:
        return self._blast(target, "blackhole (connections accepted, nothing forwarded)")

    def inject(self, target: Any, journal: Journal) -> Injection:
        # The undo resets the connections that crossed the blackhole before passing again: on a real network
        # their keepalives / retransmissions would have failed and the client would reconnect; through the
        # proxy, which ACKs everything, a client whose request was swallowed would wait for a reply forever.
        return self._switch(_lab(target), journal, {"mode": "blackhole"}, reset_on_undo=True)


class _Destructive:
    """db-corruption / db-accidental-delete: one statement on the primary at a recorded wall time."""

    def _run_sql(self, lab: Any, journal: Journal, statement: Any, params: tuple = ()) -> dict[str, Any]:
        import psycopg

        journal.record_undo(
            "noop", reason="destructive statement: recover with `drill procedure run pitr fault=" + journal.id + "`"
        )
        with psycopg.connect(lab.pg_dsn("primary"), autocommit=True) as conn:
            with conn.cursor() as cur:
                t_fault = time.time()  # wall time just before the statement: the PITR target
                cur.execute(statement, params or None)  # None: a literal % in the SQL is not a placeholder
                rows = cur.rowcount
            lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        return {"t_fault": t_fault, "rows": rows, "lsn_after": lsn}


def _table_ident(table: str) -> Any:
    from psycopg import sql

    return sql.Identifier(*table.split("."))


def _check_table(lab: Any, table: str) -> int:
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(lab.pg_dsn("primary"), autocommit=True) as conn:
            return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_table_ident(table))).fetchone()[0]
    except psycopg.errors.UndefinedTable:
        raise HarnessError(f"parameter 'table': no table {table!r} in the freight database") from None
    except psycopg.OperationalError as err:
        raise HarnessError(f"cannot reach the primary to check table {table!r}: {str(err).strip()[:200]}") from None


@register
class DbAccidentalDelete(_Destructive, LabFault):
    name = "db-accidental-delete"
    plan_section = "1.3 Data Loss; 5.1.1 Accidental Deletion"
    summary = "DELETE rows matching a condition from one table on the primary"

    class Params(FaultParams):
        table: str = Field(pattern=IDENT_PATTERN)
        where: str = Field(min_length=1, description="SQL condition; use 'true' to delete every row")

    undo_summary = "none: the recovery is point-in-time recovery to t_fault (the pitr procedure)"

    def preflight(self, target: Any) -> None:
        _check_table(_lab(target), self.params.table)

    def describe(self, target: Any) -> BlastRadius:
        return BlastRadius(
            summary=f"DELETE FROM {self.params.table} WHERE {self.params.where}",
            resources=[f"table {self.params.table}"],
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        from psycopg import sql

        stmt = sql.SQL("DELETE FROM {} WHERE ").format(_table_ident(self.params.table)) + sql.SQL(self.params.where)
        return Injection(detail={"table": self.params.table, **self._run_sql(_lab(target), journal, stmt)})


@register
class DbCorruption(_Destructive, LabFault):
    name = "db-corruption"
    plan_section = "1.3 Database Corruption; 5.1.1 Data Corruption"
    summary = "run a corrupting statement against one table on the primary"

    class Params(FaultParams):
        table: str = Field(pattern=IDENT_PATTERN)
        statement: str = Field(min_length=1)

    undo_summary = "none: the recovery is point-in-time recovery to t_fault (the pitr procedure)"

    def preflight(self, target: Any) -> None:
        _check_table(_lab(target), self.params.table)
        if self.params.table.split(".")[-1].lower() not in self.params.statement.lower():
            raise HarnessError(f"parameter 'statement': it does not mention table {self.params.table!r}")

    def describe(self, target: Any) -> BlastRadius:
        return BlastRadius(
            summary=f"run on the primary: {self.params.statement}",
            resources=[f"table {self.params.table}"],
            undo=self.undo_summary,
        )

    def inject(self, target: Any, journal: Journal) -> Injection:
        from psycopg import sql

        return Injection(
            detail={"table": self.params.table, **self._run_sql(_lab(target), journal, sql.SQL(self.params.statement))}
        )
