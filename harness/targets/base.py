"""The abstract drill target: what every environment gives a drill, `drill plan` and the Chaos Toolkit control.

    target = harness.targets.load("k8s-staging")      # the class its file's provider names; nothing contacted
    clearance = target.preflight(approval, approver)   # once per run, before the first fault
    target = target.connect(bring_up=False)            # live: probes, primaries, zones, health
    target.resolve_params({"zone": "@primary-zone"})   # one table of dynamic values (DYNAMIC_VALUES), one resolver
    target.plan("fault", "az-outage", {"zone": "az-a"})  # the blast radius `drill plan` prints (read-only)
    target.fault_activity("az-outage", {"zone": "az-a"})  # the Chaos Toolkit activity of the file

One module per environment (local.py, aws.py, kubernetes.py) subclasses `Target` (a file-driven environment
through `FileTarget`); harness.targets.load picks the class whose `provider` the file's safety section gives.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.measure import ProbeSpec, WriterSpec, parse_probe_spec, parse_writer_spec
from harness.measure.probes import make_probe

HEALTH_POLL_S = 0.5
HEALTH_PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class DynamicValue:
    """A fault parameter value only the live target can resolve: what it means, the stand-in the preflight
    checks a phrase with, and how any target resolves it (through the target's `zone_of_primary` and
    `other_zones`)."""

    meaning: str
    stand_in: str
    resolve: Callable[[Target], str]


# The one table of dynamic values (features, `drill fault inject`, chaos activities): add a row here.
DYNAMIC_VALUES: dict[str, DynamicValue] = {
    "@primary-zone": DynamicValue(
        "the availability zone of the current PostgreSQL primary", "az-a", lambda t: t.zone_of_primary("postgresql")
    ),
    "@cache-primary-zone": DynamicValue(
        "the availability zone of the current Redis primary", "az-a", lambda t: t.zone_of_primary("redis")
    ),
    "@replica-zone": DynamicValue(
        "an availability zone of the primary region without the PostgreSQL primary",
        "az-b",
        lambda t: t.other_zones(t.zone_of_primary("postgresql"))[0],
    ),
}


@dataclass
class FaultPlanView:
    """What one fault or procedure would do on this target, found without changing anything: what `drill plan`
    prints under the step."""

    activity: str = ""  # module:func the target file maps it to
    arguments: dict[str, Any] = field(default_factory=dict)
    touches: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    undo: str = ""
    blast: str = ""  # "within limits" or why it would be refused
    problem: str = ""  # unsupported, or the read-only lookup failed


class Target(ABC):
    """One environment a drill runs against. Built from its target file by harness.targets.load (no
    connection); `connect()` makes it live. Subclasses set `provider` (the value the file's safety section
    gives) and implement the live system's state."""

    provider: ClassVar[str]
    lab: Any = None  # the local lab, for the lab target only
    started = False  # True when connect() had to start the environment (the caller stops it again)
    native_procedures = False  # True: recovery procedures run as the harness's own runbooks (harness/recovery)

    def __init__(self, target_file: Any):
        self.target_file = target_file
        self.name = target_file.name
        self.environment = target_file.environment
        self._configuration: dict[str, Any] | None = None

    # -- before the first fault --------------------------------------------------------------------------
    def preflight(self, approval: str | None = None, approver: str | None = None, *, whole: bool = True) -> Any:
        """The safety check before the first fault (approval, who we are against the allowlist), once per
        run; returns the harness.safety.Clearance, which becomes the process's current one. SafetyRefused
        (exit 2) naming the mismatch; nothing is touched. `whole=False`: only what needs no connection
        beyond the identity check (the Chaos Toolkit control: each activity checks its own context)."""
        from harness import safety

        return safety.preflight(self.target_file.guard, approval, approver)

    def connect(self, bring_up: bool = False, say: Callable[[str], None] = lambda _msg: None) -> Target:
        """The live target (checked: probes and writers resolvable). Returns self."""
        return self

    @property
    def guard(self) -> Any:
        """The file's typed safety section (harness.safety.TargetSafety)."""
        return self.target_file.guard

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

    # -- probes and writers, by name ---------------------------------------------------------------------
    @abstractmethod
    def endpoints(self) -> dict[str, str]:
        """Endpoint name -> what it is (for `Given probes on ...` and its error messages)."""

    @abstractmethod
    def probe(self, endpoint: str) -> ProbeSpec: ...

    @abstractmethod
    def writer(self, store: str, rate: float) -> WriterSpec: ...

    # -- dynamic values ----------------------------------------------------------------------------------
    def resolve_params(self, params: dict[str, str]) -> dict[str, str]:
        """Replace the dynamic values (@primary-zone ...; DYNAMIC_VALUES) by what they are right now."""
        out = {}
        for key, value in params.items():
            if isinstance(value, str) and value.startswith("@"):
                dynamic = DYNAMIC_VALUES.get(value)
                if dynamic is None:
                    raise HarnessError(
                        f"parameter {key}={value}: unknown dynamic value; known: {', '.join(DYNAMIC_VALUES)}"
                    )
                value = dynamic.resolve(self)
            out[key] = value
        return out

    @abstractmethod
    def zone_of_primary(self, service: str) -> str:
        """The zone (as fault parameters name it) of the current primary of "postgresql" or "redis"."""

    @abstractmethod
    def other_zones(self, zone: str) -> list[str]: ...

    # -- activities --------------------------------------------------------------------------------------
    def check_fault(self, fault: str, params: dict[str, str]) -> None:
        """Bad parameters for this target: HarnessError before anything runs (default: the activity checks its
        own concrete resources and the safety limits before its first changing call)."""

    def fault_activity(
        self, fault: str, params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.target_file.fault_activity(fault, params, extra)

    def rollback_activity(
        self, fault: str, params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        return self.target_file.rollback_activity(fault, params, extra)

    def procedure_activity(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.target_file.procedure_activity(name, params)

    # -- the blast radius `drill plan` prints ------------------------------------------------------------
    def plan(
        self, kind: str, name: str, params: dict[str, str], configuration: dict[str, Any] | None = None
    ) -> FaultPlanView:
        """What a fault (kind "fault") or procedure would touch on this target, read-only. The activity and
        its arguments (the file's configuration substituted), its undo, then `_plan_activity` for the
        concrete resources."""
        from chaoslib import substitute

        view = FaultPlanView()
        file = self.target_file
        mapping = file.faults.get(name) if kind == "fault" else file.procedures.get(name)
        if mapping is None:
            view.problem = f"not mapped in target {file.name}"
            return view
        if mapping.action is None:
            view.problem = f"unsupported on target {file.name}: {mapping.unsupported}"
            return view
        activity = (
            self.fault_activity(name, dict(params)) if kind == "fault" else self.procedure_activity(name, dict(params))
        )
        provider = activity["provider"]
        view.activity = f"{provider['module']}:{provider['func']}"
        config = {**self.configuration, **(configuration or {})}
        view.arguments = substitute(provider.get("arguments") or {}, config, {})
        if mapping.rollback is not None:
            view.undo = f"rollback {mapping.rollback.ref}"
        if activity.get("type") == "probe":
            view.touches = ["read-only probe: changes nothing"]
            return view
        self._plan_activity(view, kind, name, params, config)
        return view

    def _plan_activity(
        self, view: FaultPlanView, kind: str, name: str, params: dict[str, str], configuration: dict[str, Any]
    ) -> None:
        """Fill `touches`/`calls`/`undo`/`blast` for a changing activity. Default: the arguments it would get."""
        view.touches = [f"acts on: {k}={v}" for k, v in view.arguments.items() if v not in (None, "", {}, [])]

    def allowlist_lines(self, configuration: dict[str, Any] | None = None) -> list[str]:
        """The allowlist `drill plan` shows above the steps."""
        return []

    # -- state of the system -----------------------------------------------------------------------------
    # -- backups (harness/backup, docs/backup.md) ----------------------------------------------------------
    def backup_status(self, now: float | None, stores: list[str], reports: Path) -> list[dict[str, Any]]:
        """`drill backup status`: one row per backup store (newest, age vs limit, retention, findings)."""
        raise HarnessError(self._no_backups("drill backup status"))

    def backup_verify(
        self, store: str, *, writes: int, pitr: bool, reports: Path, on_step: Callable[[str], None]
    ) -> Any:
        """`drill backup verify`: the automated restore test (harness.backup.VerifyResult)."""
        raise HarnessError(self._no_backups("drill backup verify"))

    def _no_backups(self, command: str) -> str:
        return (
            f"target {self.name!r} (provider {self.provider}): `{command}` reads the local lab's backups and an AWS "
            "target's; not built for this provider (docs/backup.md)"
        )

    @abstractmethod
    def wait_healthy(self, timeout: float = 120.0) -> dict[str, Any]: ...

    @abstractmethod
    def primary(self, service: str) -> str | None: ...

    def versions(self) -> dict[str, str]:
        return {"provider": self.provider, "environment": self.environment}

    def stop(self) -> None:
        """Stop what connect(bring_up=True) started (nothing, unless `started`)."""


class FileTarget(Target):
    """A staging/production target file as a drill target: what every file-driven environment shares
    (endpoints and stores from the file's `probes:`/`writers:`, health, the steps such a target lacks).
    Subclasses give the live system's state (primary, zone_of_primary, other_zones, versions) and may add
    health checks. No local lab: faults and procedures run only through the file's Chaos Toolkit activities."""

    def connect(self, bring_up: bool = False, say: Callable[[str], None] = lambda _msg: None) -> FileTarget:
        """Nothing is started or contacted: the file's probes and writers are checked (check())."""
        return self.check()

    def check(self) -> FileTarget:
        """Every probe and writer spec parses with its environment values set: a missing APP_URL is one error
        before any scenario starts, not a broken scenario each."""
        for name in self.target_file.probes:
            self.probe(name)
        for name, ref in self.target_file.writers.items():
            self.writer(name, ref.rate)
        return self

    def _lacks(self, step: str, why: str) -> HarnessError:
        return HarnessError(
            f"step '{step}' cannot run on target {self.name!r} ({self.provider}, "
            f"{self.environment}): {why}; nothing was injected by this step"
        )

    # -- probes and writers ------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, str]:
        """Endpoint name → what it is: the target file's `probes:` section."""
        return {name: (ref.spec or f"endpoint {ref.endpoint}") for name, ref in self.target_file.probes.items()}

    def probe(self, endpoint: str) -> ProbeSpec:
        ref = self.target_file.probes.get(endpoint)
        if ref is None:
            raise HarnessError(
                f"unknown endpoint {endpoint!r}; target {self.name!r} ({self.target_file.path}, "
                f"section probes) has: {', '.join(self.target_file.probes) or 'none'}"
            )
        if ref.spec is None:
            raise HarnessError(
                f"{self.target_file.path}: probes.{endpoint}: a cloud target needs a probe 'spec' "
                "(e.g. app@http=${env:APP_URL}/health), not a lab 'endpoint'"
            )
        spec = parse_probe_spec(self.target_file.probe_spec(endpoint), f"{self.target_file.path}: probes.{endpoint}")
        # The probe keeps the file's name for it, so `Given probes on app` shows up as "app" in the evidence.
        return ref.timed(
            ProbeSpec(
                kind=spec.kind,
                target=spec.target,
                name=endpoint,
                options=spec.options,
                budget=spec.budget,
                degraded=spec.degraded,
            )
        )

    def writer(self, store: str, rate: float) -> WriterSpec:
        from harness.targets.file import expand_env

        ref = self.target_file.writers.get(store)
        if ref is None:
            raise HarnessError(
                f"unknown store {store!r} for a writer; target {self.name!r} ({self.target_file.path}, "
                f"section writers) has: {', '.join(self.target_file.writers) or 'none'}"
            )
        if ref.spec is None:
            raise HarnessError(
                f"{self.target_file.path}: writers.{store}: a cloud target needs a writer 'spec' "
                "(e.g. postgres=${env:PG_DSN}), not a lab 'store'"
            )
        where = f"{self.target_file.path}: writers.{store}"
        return parse_writer_spec(expand_env(ref.spec, where), rate, where)

    def book_loads(self, count: int) -> int:
        raise self._lacks(
            f"Given {count} loads are booked through the app",
            "booking loads writes through the lab's app API; staging data is not written by drills",
        )

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

                raise HarnessError(
                    f"target {self.name!r} not healthy after {timeout:g} s: "
                    + "; ".join(f"{n}: {mask(e)}" for n, e in failures.items())
                )
            time.sleep(HEALTH_POLL_S)

    def _health_failures(self) -> dict[str, str]:
        """What else must hold for the target to be healthy, beyond its probes (name → why not); none here."""
        return {}

    def replication(self) -> str:
        raise self._lacks(
            "Given the database replication mode is ...", "the managed database's replication is not switched by drills"
        )

    def set_replication(self, mode: str) -> str:
        raise self._lacks(
            f"Given the database replication mode is {mode}",
            "the managed database's replication is not switched by drills",
        )

    def component_healthy(self, name: str) -> bool:
        raise self._lacks(
            f'Then the component "{name}" is healthy again',
            "components are lab processes; on a cloud target use 'Then the target is healthy "
            "again' (every endpoint probe)",
        )


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
