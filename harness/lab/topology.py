"""The lab's layout: zones, components and the one table of ports (docs/lab.md mirrors it).

The primary region has three availability zones (az-a, az-b, az-c); the DR region is the zone `dr`.
Every component has a fixed port, distinct across the whole lab, so the same table works in loopback
mode (everything on 127.0.0.1) and in netns mode (each zone on its own address). HAProxy, the harness
and its probes live at "the edge" (the root network namespace, 127.0.0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRIMARY_ZONES = ["az-a", "az-b", "az-c"]
DR_ZONE = "dr"
ZONES = [*PRIMARY_ZONES, DR_ZONE]
EDGE = "edge"  # root namespace: HAProxy, harness, probes

PG_SCOPE = "freight"  # Patroni cluster of the primary region
PG_DR_SCOPE = "freight-dr"  # Patroni standby cluster of the DR region
PG_DATABASE = "freight"
PG_APP_USER = "drill"
PG_SUPERUSER = "postgres"
PG_REPL_USER = "replicator"
DR_SLOT = "dr_standby"  # permanent slot on the primary cluster for the DR standby leader
REDIS_SERVICE = "freight"  # Sentinel master name


@dataclass(frozen=True)
class ComponentSpec:
    """A process the lab runs. `ports` maps a purpose ("client", "peer", "rest", ...) to a TCP port."""

    name: str
    kind: str  # etcd | patroni | redis | sentinel | haproxy | app | proxy | monitoring | s3 | s3-replicator
    zone: str
    ports: dict[str, int] = field(default_factory=dict)
    runs_as_postgres: bool = False


def _spec(name, kind, zone, runs_as_postgres=False, **ports) -> ComponentSpec:
    return ComponentSpec(name, kind, zone, dict(ports), runs_as_postgres)


# The one table of ports. Order matters: it is the start order within a kind and the table order.
COMPONENTS: list[ComponentSpec] = [
    # etcd: Patroni's DCS. 3 members, one per AZ, so losing one AZ keeps quorum (2 of 3). The DR region
    # has its own single-member etcd: a region failure must not take the DR cluster's DCS with it.
    _spec("etcd-a", "etcd", "az-a", client=17379, peer=17380),
    _spec("etcd-b", "etcd", "az-b", client=17389, peer=17390),
    _spec("etcd-c", "etcd", "az-c", client=17399, peer=17400),
    _spec("etcd-dr", "etcd", "dr", client=17409, peer=17410),
    # PostgreSQL 15 under Patroni: one node per AZ, plus the DR standby cluster's standby leader.
    _spec("pg-a", "patroni", "az-a", True, pg=15432, rest=18008),
    _spec("pg-b", "patroni", "az-b", True, pg=15433, rest=18009),
    _spec("pg-c", "patroni", "az-c", True, pg=15434, rest=18010),
    _spec("pg-dr", "patroni", "dr", True, pg=15442, rest=18018),
    # Redis primary + replica in the primary region, a cross-region replica in DR (never promoted by
    # Sentinel: replica-priority 0), and one Sentinel per AZ.
    _spec("redis-a", "redis", "az-a", redis=16379),
    _spec("redis-b", "redis", "az-b", redis=16380),
    _spec("redis-dr", "redis", "dr", redis=16389),
    _spec("sentinel-a", "sentinel", "az-a", sentinel=26379),
    _spec("sentinel-b", "sentinel", "az-b", sentinel=26380),
    _spec("sentinel-c", "sentinel", "az-c", sentinel=26381),
    # The freight load service: one replica per AZ behind HAProxy; the DR replica stays in maintenance.
    _spec("app-a", "app", "az-a", http=18081),
    _spec("app-b", "app", "az-b", http=18082),
    _spec("app-c", "app", "az-c", http=18083),
    _spec("app-dr", "app", "dr", http=18091),
    # The edge load balancer (stand-in for ALB + RDS endpoints + Route 53).
    _spec("haproxy", "haproxy", EDGE, pg_primary=15400, pg_replicas=15401, app=18080, stats=18404),
    # Fault proxies (harness/lab/proxies.py) in the app's paths, at the edge: normally `pass`; the
    # network-latency / network-blackhole faults switch them. proxy-db: app replicas -> HAProxy pg_primary.
    _spec("proxy-db", "proxy", EDGE, listen=15405),
    # The team's monitoring (harness/lab/monitoring.py), at the edge: Prometheus (1 s scrape/evaluation) and
    # its exporters. A second witness; shown by `lab status` but never part of the lab's health.
    _spec("prometheus", "monitoring", EDGE, http=19090),
    _spec("blackbox-exporter", "monitoring", EDGE, http=19115),
    _spec("postgres-exporter", "monitoring", EDGE, http=19187),
    _spec("redis-exporter", "monitoring", EDGE, http=19121),
    # The lab's S3 endpoint (harness/lab/s3.py), at the edge: moto's server mode (the one S3 these machines can
    # run) with a versioned primary bucket and its DR bucket, and the replicator standing for S3 CRR (no port).
    _spec("s3", "s3", EDGE, http=19500),
    _spec("s3-replicator", "s3-replicator", EDGE),
]

SPECS: dict[str, ComponentSpec] = {c.name: c for c in COMPONENTS}


def of_kind(kind: str, zones: list[str] | None = None) -> list[ComponentSpec]:
    """Components of one kind, optionally limited to some zones, in table order."""
    return [c for c in COMPONENTS if c.kind == kind and (zones is None or c.zone in zones)]


def port_table() -> list[tuple[str, str, str, int]]:
    """(component, zone, purpose, port) rows, for docs and `drill lab status`."""
    return [(c.name, c.zone, purpose, port) for c in COMPONENTS for purpose, port in c.ports.items()]
