"""A cloud target file (environment staging/production, provider aws) as a drill target: the same surface
LocalTarget gives the Gherkin steps, built from the target file instead of the lab.

    target = CloudTarget(load_target("aws-staging"))
    target.probe("app")            # the file's probes.app spec, ${env:...} expanded
    target.primary("postgresql")   # the RDS cluster writer right now (harness.faults.aws)

Endpoints are the file's `probes:` section and stores its `writers:` section; their specs take values from
the environment (`${env:APP_URL}`), so no address or secret is written into the file. `lab` is None: the
scenario runs faults and procedures only through the file's Chaos Toolkit activities.

`FileTarget` is what every provider shares (endpoints, stores, health, the steps a file target lacks);
CloudTarget adds AWS's primaries and zones, harness/drills/k8s_target.py KubeTarget Kubernetes'.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from typing import Any

from harness.errors import HarnessError
from harness.measure import ProbeSpec, WriterSpec, parse_probe_spec, parse_writer_spec
from harness.measure.probes import make_probe

HEALTH_POLL_S = 0.5
HEALTH_PROBE_TIMEOUT_S = 2.0


class FileTarget:
    """A staging/production target file as a drill target: what every provider shares. Subclasses give the
    live system's state (primary, resolve_params, other_zones, versions) and may add health checks."""

    environment: str
    lab = None  # no local lab: steps that need one get a HarnessError naming the step
    started = False  # connect() never starts anything

    def __init__(self, target_file: Any, provider: str):
        self.target_file = target_file
        self.name = target_file.name
        self.environment = target_file.environment
        self.provider = provider
        self._configuration: dict[str, Any] | None = None

    def check(self) -> "FileTarget":
        """Every probe and writer spec parses with its environment values set: a missing APP_URL is one error
        before any scenario starts, not a broken scenario each."""
        for name in self.target_file.probes:
            self.probe(name)
        for name, ref in self.target_file.writers.items():
            self.writer(name, ref.rate)
        return self

    @property
    def configuration(self) -> dict[str, Any]:
        """The file's Chaos Toolkit configuration with `{type: env, ...}` entries loaded (chaoslib), plus
        `drill_target` so an activity run outside a drill can preflight itself."""
        if self._configuration is None:
            from chaoslib.configuration import load_configuration

            loaded = load_configuration(dict(self.target_file.configuration))
            loaded.setdefault("drill_target", self.target_file.path)
            self._configuration = loaded
        return self._configuration

    def _lacks(self, step: str, why: str) -> HarnessError:
        return HarnessError(f"step '{step}' cannot run on target {self.name!r} ({self.provider}, "
                            f"{self.environment}): {why}; nothing was injected by this step")

    # -- probes and writers ------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, str]:
        """Endpoint name → what it is: the target file's `probes:` section."""
        return {name: (ref.spec or f"endpoint {ref.endpoint}") for name, ref in self.target_file.probes.items()}

    def probe(self, endpoint: str) -> ProbeSpec:
        ref = self.target_file.probes.get(endpoint)
        if ref is None:
            raise HarnessError(f"unknown endpoint {endpoint!r}; target {self.name!r} ({self.target_file.path}, "
                               f"section probes) has: {', '.join(self.target_file.probes) or 'none'}")
        if ref.spec is None:
            raise HarnessError(f"{self.target_file.path}: probes.{endpoint}: a cloud target needs a probe 'spec' "
                               "(e.g. app@http=${env:APP_URL}/health), not a lab 'endpoint'")
        spec = parse_probe_spec(self.target_file.probe_spec(endpoint), f"{self.target_file.path}: probes.{endpoint}")
        # The probe keeps the file's name for it, so `Given probes on app` shows up as "app" in the evidence.
        return ref.timed(ProbeSpec(kind=spec.kind, target=spec.target, name=endpoint, options=spec.options,
                                   budget=spec.budget, degraded=spec.degraded))

    def writer(self, store: str, rate: float) -> WriterSpec:
        from harness.chaos.targets import expand_env

        ref = self.target_file.writers.get(store)
        if ref is None:
            raise HarnessError(f"unknown store {store!r} for a writer; target {self.name!r} ({self.target_file.path}, "
                               f"section writers) has: {', '.join(self.target_file.writers) or 'none'}")
        if ref.spec is None:
            raise HarnessError(f"{self.target_file.path}: writers.{store}: a cloud target needs a writer 'spec' "
                               "(e.g. postgres=${env:PG_DSN}), not a lab 'store'")
        where = f"{self.target_file.path}: writers.{store}"
        return parse_writer_spec(expand_env(ref.spec, where), rate, where)

    def book_loads(self, count: int) -> int:
        raise self._lacks(f"Given {count} loads are booked through the app",
                          "booking loads writes through the lab's app API; staging data is not written by drills")

    # -- state of the system -----------------------------------------------------------------------------
    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]:
        """Every endpoint probe of the file succeeds once; HarnessError naming the failing ones at `timeout`."""
        specs = [self.probe(name) for name in self.target_file.probes]
        deadline = time.monotonic() + timeout
        while True:
            failures = asyncio.run(_check_all(specs)) | self._health_failures()
            if not failures:
                return {"healthy": True, "endpoints": [s.name for s in specs]}
            if time.monotonic() >= deadline:
                from harness.redact import mask

                raise HarnessError(f"target {self.name!r} not healthy after {timeout:g} s: "
                                   + "; ".join(f"{n}: {mask(e)}" for n, e in failures.items()))
            time.sleep(HEALTH_POLL_S)

    def _health_failures(self) -> dict[str, str]:
        """What else must hold for the target to be healthy, beyond its probes (name → why not); none here."""
        return {}

    def replication(self) -> str:
        raise self._lacks("Given the database replication mode is ...", "the managed database's replication is "
                          "not switched by drills")

    def set_replication(self, mode: str) -> str:
        raise self._lacks(f"Given the database replication mode is {mode}", "the managed database's replication "
                          "is not switched by drills")

    def component_healthy(self, name: str) -> bool:
        raise self._lacks(f'Then the component "{name}" is healthy again',
                          "components are lab processes; on a cloud target use 'Then the target is healthy "
                          "again' (every endpoint probe)")


class CloudTarget(FileTarget):
    """An AWS target file as a drill target: primaries and zones from the RDS / ElastiCache APIs."""

    def __init__(self, target_file: Any, provider: str = "aws"):
        super().__init__(target_file, provider)

    def primary(self, service: str) -> str | None:
        """The current primary: the RDS cluster writer for postgresql (configuration rds_cluster_id)."""
        from harness.faults import aws

        if service in ("postgresql", "postgres", "database"):
            cluster = aws.conf(self.configuration, "rds_cluster_id")
            if not cluster or str(cluster).startswith("<"):
                raise self._lacks(f"Then the {service} cluster has a primary again",
                                  "no configuration rds_cluster_id in the target file")
            return aws.rds_cluster_writer(str(cluster), self.configuration)
        if service in ("redis", "cache"):
            group = aws.conf(self.configuration, "elasticache_group_id")
            if not group or str(group).startswith("<"):
                raise self._lacks(f"Then the {service} cluster has a primary again",
                                  "no configuration elasticache_group_id in the target file")
            found = aws._replication_group(str(group), self.configuration)
            return next((m.get("CacheClusterId") for ng in found.get("NodeGroups", [])
                         for m in ng.get("NodeGroupMembers", []) if m.get("CurrentRole") == "primary"), None)
        raise HarnessError(f"unknown service {service!r}: postgresql or redis")

    def resolve_params(self, params: dict[str, str]) -> dict[str, str]:
        """Dynamic values (@primary-zone, @cache-primary-zone) through harness.faults.aws.resolve_zone, so a
        fault gets the real AZ of the live writer; az-a/b/c stay as they are (the activity maps them)."""
        from harness.faults import aws

        out = {}
        for key, value in params.items():
            if value in ("@primary-zone", "@cache-primary-zone"):
                value = aws.resolve_zone(value, self.configuration)
            elif value == "@replica-zone":
                primary = aws.resolve_zone("@primary-zone", self.configuration)
                value = self.other_zones(primary)[0]
            elif value.startswith("@"):
                from harness.drills.target import DYNAMIC_VALUES

                raise HarnessError(f"parameter {key}={value}: unknown dynamic value; known: {', '.join(DYNAMIC_VALUES)}")
            out[key] = value
        return out

    def other_zones(self, zone: str) -> list[str]:
        """The configured zones (configuration `zones`, real AZ names) other than `zone`."""
        from harness.faults import aws

        zones = [str(z) for z in (aws.conf(self.configuration, "zones") or {}).values()]
        others = [z for z in zones if z != zone and aws.resolve_zone(z, self.configuration) != zone]
        if not others:
            raise HarnessError(f"{self.target_file.path}: configuration zones names no zone other than {zone}")
        return others

    def versions(self) -> dict[str, str]:
        """What the report's environment shows: provider, region, account (from the clearance)."""
        from harness import safety
        from harness.faults import aws

        out = {"provider": self.provider, "environment": self.environment}
        try:
            out["aws.region"] = aws.region_of(self.configuration)
        except HarnessError:
            out["aws.region"] = "unknown"
        clearance = safety.current()
        if clearance is not None and clearance.identity is not None:
            out["aws.account"] = clearance.identity.account
        for dist in ("boto3", "chaostoolkit-aws", "chaostoolkit-lib"):
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = "not installed"
        return out


async def _check_all(specs: list[ProbeSpec]) -> dict[str, str]:
    """One check of every probe; name → error for those that failed."""
    failures: dict[str, str] = {}
    for spec in specs:
        probe = make_probe(spec, HEALTH_PROBE_TIMEOUT_S)
        try:
            await probe.open()
            await probe.check()
        except Exception as err:  # noqa: BLE001 - any failure means "not healthy yet"
            failures[spec.name] = str(err) or type(err).__name__
        finally:
            try:
                await probe.close()
            except Exception:  # noqa: BLE001
                pass
    return failures
