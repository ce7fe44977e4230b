"""Target files (`targets/*.yaml`): the fault vocabulary and the recovery procedures mapped to concrete
Chaos Toolkit activities for one environment, plus the probes and writers that measure it.

    target = load_target("local")                  # targets/local.yaml; a path works too
    target.provider                                # "lab" | "aws" | "kubernetes": from its safety section
    target.guard.safety.limits                     # the typed safety section (harness.safety.TargetSafety)
    target.fault_activity("db-primary-freeze", {"seconds": "5"})   # a Chaos Toolkit action (dict)
    target.rollback_activity("db-primary-freeze", {"id": "..."})   # its rollback, or None

The environment-specific behaviour (preflight, probes, blast radius, ...) lives in the `Target` classes of
this package (harness.targets.load picks one by `provider`); this module is only the file.

Everything is checked when the file is loaded, not when a drill is half-way through: the schema (pydantic),
every fault and procedure name against the vocabulary (unknown = error; every fault must be mapped, marked
`unsupported` with a reason, or covered by `every_fault`: the mapping derived for each fault the file does not
list), and every activity's module and function are imported and its arguments bound
to the function's signature. Each error names the file, the fault (or procedure) and the activity.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from harness.errors import ConfigError, HarnessError
from harness.faults import registry
from harness.yamlfile import load_model

TARGETS_DIR_ENV = "DRILL_TARGETS_DIR"
PARAM_REF = re.compile(r"\$\{param:([A-Za-z_][A-Za-z0-9_]*)\}")
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Activity(BaseModel):
    """A Python activity: `module:func` (string form) or a mapping with arguments. Argument values may use
    `${param:NAME}` (the fault's parameter) and `${NAME}` (Chaos Toolkit configuration, substituted by
    chaoslib when the activity runs)."""

    model_config = ConfigDict(extra="forbid")
    module: str = Field(pattern=r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
    func: str = Field(pattern=r"^[A-Za-z_]\w*$")
    arguments: dict[str, Any] | None = None
    type: Literal["action", "probe"] = "action"
    timeout: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _string_form(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            if ":" not in raw:
                raise ValueError(f"{raw!r}: write an activity as 'module:function'")
            module, func = raw.rsplit(":", 1)
            return {"module": module, "func": func}
        return raw

    @property
    def ref(self) -> str:
        return f"{self.module}:{self.func}"

    def resolve(self) -> Any:
        """Import the function; HarnessError saying what is missing."""
        try:
            mod = importlib.import_module(self.module)
        except ImportError as err:
            raise HarnessError(f"activity {self.ref}: module {self.module!r} cannot be imported ({err})") from None
        func = getattr(mod, self.func, None)
        if func is None or not callable(func):
            raise HarnessError(f"activity {self.ref}: module {self.module!r} has no function {self.func!r}")
        return func

    def check(self, params: list[str] | None = None) -> None:
        """Import it and bind its arguments (or, with no `arguments`, the fault's parameters) to its signature."""
        func = self.resolve()
        names = list(self.arguments) if self.arguments is not None else list(params or [])
        sig = inspect.signature(func)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        unknown = [n for n in names if n not in sig.parameters and not takes_any]
        if unknown:
            raise HarnessError(
                f"activity {self.ref}: argument(s) {', '.join(unknown)} not in its signature {func.__name__}{sig}"
            )

    def accepts(self, argument: str) -> bool:
        """Whether the function takes this argument (e.g. `id` of the injection to undo, `intent_log`)."""
        params = inspect.signature(self.resolve()).parameters
        return argument in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def to_chaos(
        self, name: str, params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The Chaos Toolkit activity, with `${param:X}` replaced by the fault's parameter X."""
        params = dict(params or {})
        if self.arguments is None:
            args = dict(params)
        else:
            args = {k: _fill(v, params) for k, v in self.arguments.items()}
        args.update(extra or {})
        activity: dict[str, Any] = {
            "type": self.type,
            "name": name,
            "provider": {"type": "python", "module": self.module, "func": self.func, "arguments": args},
        }
        if self.timeout is not None:
            activity["provider"]["timeout"] = self.timeout
        return activity


def _fill(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = PARAM_REF.fullmatch(value)
        if whole:  # keep the parameter's own type when the value is just the reference
            return params.get(whole.group(1))
        return PARAM_REF.sub(lambda m: str(params.get(m.group(1), "")), value)
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    return value


class Mapping(BaseModel):
    """One fault or procedure: its action (and the rollback that undoes it), or why this environment has none."""

    model_config = ConfigDict(extra="forbid")
    action: Activity | None = None
    rollback: Activity | None = None
    unsupported: str | None = Field(None, min_length=3, description="why this environment cannot run it")

    @model_validator(mode="after")
    def _one(self) -> Mapping:
        if (self.action is None) == (self.unsupported is None):
            raise ValueError("give either 'action' (and optionally 'rollback') or 'unsupported: <reason>'")
        if self.rollback is not None and self.action is None:
            raise ValueError("'rollback' needs an 'action'")
        return self


class ProbeRef(BaseModel):
    """A named probe: `endpoint` (resolved by the local target on the running lab) or a probe `spec`
    (docs/measure.md syntax; `${env:NAME}` / `${env:NAME:-default}` expanded when it is used).
    `budget` / `degraded` (seconds) set the probe's latency budget and degraded threshold where its spec
    names none."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str | None = None
    spec: str | None = None
    budget: float | None = Field(None, gt=0, allow_inf_nan=False)
    degraded: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one(self) -> ProbeRef:
        if (self.endpoint is None) == (self.spec is None):
            raise ValueError("give either 'endpoint' or 'spec'")
        if self.budget is not None and self.degraded is not None and self.degraded > self.budget:
            raise ValueError(f"degraded threshold {self.degraded:g} s is above the budget {self.budget:g} s")
        return self

    def timed(self, spec: Any) -> Any:
        """The probe spec with this entry's budget/degraded threshold where the spec names none."""
        return spec.with_timing(budget=self.budget, degraded=self.degraded) if (self.budget or self.degraded) else spec


class WriterRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: str | None = None
    spec: str | None = None
    rate: float = Field(20.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _one(self) -> WriterRef:
        if (self.store is None) == (self.spec is None):
            raise ValueError("give either 'store' or 'spec'")
        return self


class MeasureDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    probes: list[str] = Field(default_factory=list)
    writers: list[str] = Field(default_factory=list)
    interval: float = Field(0.1, ge=0.01)
    stable: float = Field(2.0, gt=0)


class TargetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    environment: Literal["lab", "staging", "production"] = Field(
        description="lab | staging | production (production drills need --approval TICKET --approver NAME)"
    )
    description: str = ""
    configuration: dict[str, Any] = Field(
        default_factory=dict, description="Chaos Toolkit configuration the activities get"
    )
    safety: dict[str, Any] = Field(
        default_factory=dict,
        description="allowlists, limits and guards: as written; the typed, checked "
        "form is `guard` (harness.safety.TargetSafety)",
    )
    every_fault: Mapping | None = Field(
        None,
        description="the mapping of every fault of the vocabulary that `faults` does not list: its action gets "
        "`fault` (the name) and each of the fault's parameters (`${param:NAME}`), so the file restates no fault",
    )
    faults: dict[str, Mapping] = Field(default_factory=dict, validate_default=True)
    procedures: dict[str, Mapping] = Field(default_factory=dict)
    probes: dict[str, ProbeRef] = Field(default_factory=dict)
    writers: dict[str, WriterRef] = Field(default_factory=dict)
    measure: MeasureDefaults = Field(default_factory=MeasureDefaults)
    path: str = Field("", exclude=True)
    _guard: Any = PrivateAttr(None)

    @property
    def guard(self) -> Any:
        """`environment` + `safety`, typed and checked (harness.safety.TargetSafety); validated once, at load."""
        if self._guard is None:
            from harness import safety

            self._guard = safety.validate_section(self.environment, self.safety, self.path or self.name)
        return self._guard

    @property
    def provider(self) -> str:
        """lab | aws | kubernetes: follows from the allowlist the safety section gives."""
        return self.guard.provider

    @property
    def lock_key(self) -> str | None:
        """What one drill at a time holds: None for a lab target (every lab target drills the one lab of the
        state folder), else the target's own name."""
        return None if self.provider == "lab" else str(self.name)

    @field_validator("faults")
    @classmethod
    def _known_faults(cls, faults: dict[str, Mapping], info: ValidationInfo) -> dict[str, Mapping]:
        known = set(registry.names())
        for name in faults:
            if name not in known:
                raise ValueError(registry.unknown("fault", name, sorted(known)))
        missing = sorted(known - set(faults))
        every = info.data.get("every_fault")
        if missing and every is None:
            raise ValueError(
                f"fault(s) not mapped: {', '.join(missing)} (map each, mark it 'unsupported: <reason>', "
                "or give every_fault)"
            )
        on_lab = info.data.get("environment") == "lab"
        return {**faults, **{name: _for_fault(every, name, on_lab) for name in missing}}

    @field_validator("procedures")
    @classmethod
    def _known_procedures(cls, procs: dict[str, Mapping]) -> dict[str, Mapping]:
        for name in procs:
            if name not in registry.PROCEDURES:
                raise ValueError(registry.unknown("procedure", name, sorted(registry.PROCEDURES)))
        return procs

    @model_validator(mode="after")
    def _measure_names(self) -> TargetFile:
        for name in self.measure.probes:
            if name not in self.probes:
                raise ValueError(f"measure.probes: {name!r} is not one of probes: {', '.join(self.probes) or '-'}")
        for name in self.measure.writers:
            if name not in self.writers:
                raise ValueError(f"measure.writers: {name!r} is not one of writers: {', '.join(self.writers) or '-'}")
        return self

    # -- lookups -----------------------------------------------------------------------------------------
    def mapping(self, fault: str) -> Mapping:
        if fault not in self.faults:
            raise HarnessError(f"{self.path}: " + registry.unknown("fault", fault, sorted(self.faults)))
        m = self.faults[fault]
        if m.action is None:
            raise HarnessError(
                f"{self.path}: fault {fault!r} is not supported on target {self.name!r}: {m.unsupported}"
            )
        return m

    def fault_activity(
        self, fault: str, params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        args = " ".join(f"{k}={v}" for k, v in (params or {}).items())
        return self.mapping(fault).action.to_chaos(f"inject {fault} {args}".strip(), params, extra)

    def rollback_activity(
        self, fault: str, params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        m = self.mapping(fault)
        if m.rollback is None:
            return None
        return m.rollback.to_chaos(f"rollback {fault}", params, extra)

    def procedure_activity(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        m = self.procedures.get(name)
        if m is None or m.action is None:
            why = m.unsupported if m is not None else "not mapped in this target file"
            raise HarnessError(f"{self.path}: procedure {name!r} on target {self.name!r}: {why}")
        return m.action.to_chaos(f"procedure {name}", params)

    def probe_spec(self, name: str) -> str | None:
        """The probe spec string of a named probe with ${env:...} expanded (None for a lab `endpoint`)."""
        ref = self.probes[name]
        return expand_env(ref.spec, f"{self.path}: probes.{name}") if ref.spec else None


def expand_env(text: str, where: str) -> str:
    def sub(m: re.Match) -> str:
        value = os.environ.get(m.group(1), m.group(2))
        if value is None:
            raise HarnessError(f"{where}: environment variable {m.group(1)} is not set")
        return value

    return ENV_REF.sub(sub, text)


# -- finding and loading -----------------------------------------------------------------------------------
def targets_dir() -> Path:
    """targets/ of the project checkout (DRILL_TARGETS_DIR overrides)."""
    if os.environ.get(TARGETS_DIR_ENV):
        return Path(os.environ[TARGETS_DIR_ENV])
    return Path(__file__).resolve().parents[2] / "targets"


def known_targets(directory: Path | None = None) -> list[str]:
    d = directory or targets_dir()
    return sorted(p.name.removesuffix(".yaml") for p in d.glob("*.yaml"))


def target_path(name_or_path: str | Path) -> Path:
    """A name maps to targets/NAME.yaml, a path (anything with a / or ending in .yaml) to itself.
    HarnessError (exit 2) naming the known targets when neither exists."""
    raw = str(name_or_path)
    if "/" in raw or raw.endswith((".yaml", ".yml")):
        path = Path(raw)
        if not path.is_file():
            raise HarnessError(f"target file {raw} not found")
        return path
    path = targets_dir() / f"{raw}.yaml"
    if not path.is_file():
        raise HarnessError(
            f"unknown target {raw!r}; known: {', '.join(known_targets()) or '-'} (or give a path to a target file)"
        )
    return path


_LOADED: dict[tuple[str, str, int, int, tuple[str, ...]], TargetFile] = {}


def load_target(name_or_path: str | Path) -> TargetFile:
    """Load and fully check a target file (schema, names, the `environment` and `safety` section
    (harness.safety.validate_section), every activity importable with matching arguments). ConfigError naming
    the file and the field, or the fault or procedure and the activity. A file is read and checked once per
    process (again only when it changed on disk)."""
    path = target_path(name_or_path)
    shown = _shown(path)
    stat = path.stat()
    # A file is checked against the vocabulary too: a fault registered since (a plugin, a test) means a new check.
    key = (str(path.resolve()), shown, stat.st_mtime_ns, stat.st_size, tuple(registry.names()))
    if key in _LOADED:
        return _LOADED[key]
    target, _ = load_model(path, TargetFile, what="target file", expect="name, environment and faults")
    target.path = shown
    # Who may be touched and how much: a bad allowlist is refused now, not at the first fault.
    from harness import safety

    target._guard = safety.validate_section(target.environment, target.safety, shown)
    for kind, entries in (("fault", target.faults), ("procedure", target.procedures)):
        for name, m in entries.items():
            params = _param_names(name) if kind == "fault" else None
            for role, activity in (("action", m.action), ("rollback", m.rollback)):
                if activity is None:
                    continue
                try:
                    activity.check(params if role == "action" else None)
                except HarnessError as err:
                    raise ConfigError(shown, f"{kind} {name!r} ({role})", str(err)) from None
    _LOADED[key] = target
    return target


def _param_names(fault: str) -> list[str]:
    return list(registry.get(fault).Params.model_fields)


def _for_fault(every: Mapping, fault: str, on_lab: bool = False) -> Mapping:
    """`every_fault` made concrete for one fault of the vocabulary: the action gets the fault's name and each of
    its parameters by reference (a parameter not given arrives as None and is left out by the provider). On a
    lab target, a fault that declares why the lab cannot run it (Fault.lab_unsupported) is `unsupported`."""
    why = registry.get(fault).lab_unsupported if on_lab else ""
    if why:
        return Mapping(unsupported=why)
    if every.action is None:
        return every
    arguments = {
        **(every.action.arguments or {}),
        "fault": fault,
        **{p: f"${{param:{p}}}" for p in _param_names(fault)},
    }
    return every.model_copy(update={"action": every.action.model_copy(update={"arguments": arguments})})


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()
