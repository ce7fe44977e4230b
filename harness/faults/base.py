"""What a fault is: a name, validated parameters, the plan section it exercises, a blast radius shown before it
runs, and an inject that writes its undo as data before every side effect.

    class Freeze(Fault):
        name = "process-freeze"
        plan_section = "6.3 Scenario-Based Testing"
        summary = "SIGSTOP a process group"
        undo_summary = "SIGCONT the same processes"
        class Params(FaultParams):
            pid: int

        def describe(self, target) -> BlastRadius: ...
        def inject(self, target, journal) -> Injection:
            journal.record_undo("sigcont", members=[...])   # durable BEFORE the signal
            os.kill(...)
            return Injection(detail={...})

The runner (harness/faults/runner.py) is the only caller: validate → describe → intend → inject → injected.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import FaultParamError, HarnessError
from harness.faults import undo
from harness.faults.intent import IntentLog


class FaultParams(BaseModel):
    """Base of every fault's parameter model: unknown parameters are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(FaultParams):
    pass


class ProcessRef(BaseModel):
    pid: int
    start_time: int | None = None
    command: str = ""


class BlastRadius(BaseModel):
    """What a fault will touch, shown to the operator before anything happens."""

    summary: str
    components: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    processes: list[ProcessRef] = Field(default_factory=list)
    resources: list[str] = Field(default_factory=list)
    undo: str = ""

    def lines(self) -> list[str]:
        out = [self.summary]
        if self.zones:
            out.append(f"zones: {', '.join(self.zones)}")
        if self.components:
            out.append(f"components: {', '.join(self.components)}")
        for proc in self.processes:
            out.append(f"process {proc.pid}: {proc.command[:120]}")
        for res in self.resources:
            out.append(f"resource: {res}")
        if self.undo:
            out.append(f"undo: {self.undo}")
        return out


class Injection(BaseModel):
    """What inject() did, recorded in the intent log as the `injected` event's detail."""

    id: str = ""
    fault: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


class Journal:
    """The fault's pen on the intent log, bound to one intent id."""

    def __init__(self, log: IntentLog, id: str):
        self.log, self.id = log, id

    @property
    def state_dir(self):
        return self.log.state_dir

    def record_undo(self, kind: str, **args: Any) -> dict[str, Any]:
        """Write one undo step durably. Call it BEFORE the side effect it undoes; it returns once fsync'd."""
        record = {"kind": kind, **args}
        undo.check_record(record)
        self.log.add_undo(self.id, record)
        return record


def start_undo_timer(journal: Journal, seconds: float, until: float | None = None) -> int:
    """A detached process (`python -m harness.faults.runner undo-after ID SECONDS LOG [UNTIL]`) that undoes this
    fault after `seconds`, or exits as soon as the intent is no longer pending, so it never outlives its fault.
    `until` (wall time) pins the deadline instead, so the timer's own start-up is not added to the hold."""
    log = journal.state_dir / "restarts" / f"{journal.id}.timer.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "harness.faults.runner",
        "undo-after",
        journal.id,
        str(seconds),
        str(journal.log.path),
    ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv + ([repr(until)] if until is not None else []),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


class Fault:
    """One fault of the vocabulary. Subclasses set the class attributes and implement describe/inject."""

    name: ClassVar[str]
    plan_section: ClassVar[str]
    summary: ClassVar[str] = ""
    undo_summary: ClassVar[str] = ""
    Params: ClassVar[type[FaultParams]] = NoParams
    needs_lab: ClassVar[bool] = False  # the CLI passes Lab.load() as target when True
    # Why the lab cannot run it (a cloud-only fault): a lab target file's `every_fault` then derives
    # `unsupported: <this>` for it, so `drill plan` / `drill run` say so before anything is tried.
    lab_unsupported: ClassVar[str] = ""

    def __init__(self, params: FaultParams):
        self.params = params

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Fault:
        return cls(cls.parse(raw))

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> FaultParams:
        """Validate raw parameters; a HarnessError names the fault, the parameter and what is wrong."""
        try:
            return cls.Params.model_validate(raw)
        except ValidationError as err:
            raise FaultParamError(f"fault '{cls.name}': " + "; ".join(_explain(cls, e) for e in err.errors())) from None

    @classmethod
    def param_help(cls) -> str:
        """'zone: az-a|az-b|az-c, mode: kill|freeze = kill' style list for `drill fault list`."""
        parts = []
        for pname, info in cls.Params.model_fields.items():
            default = "" if info.is_required() else f" = {info.default}"
            parts.append(f"{pname}: {_type_name(info.annotation)}{default}")
        return ", ".join(parts)

    def preflight(self, target: Any) -> None:
        """Refuse early (HarnessError) when the fault cannot run on this target. Nothing is written yet."""

    def describe(self, target: Any) -> BlastRadius:
        raise NotImplementedError

    def inject(self, target: Any, journal: Journal) -> Injection:
        raise NotImplementedError

    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")


# -- the vocabulary's store: every Fault class by name (harness.faults.registry imports the modules that fill it) --
_DECLARED: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: add a fault to the vocabulary. A name is declared once: a second class with the same
    name is a programming error, refused at import."""
    known = _DECLARED.get(cls.name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise HarnessError(f"fault '{cls.name}' is declared twice: {known.__module__} and {cls.__module__}")
    _DECLARED[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a fault from the vocabulary (a throwaway fault a test registered)."""
    _DECLARED.pop(name, None)


def declared() -> dict[str, type[Fault]]:
    """Every registered fault by name (what is imported so far; harness.faults.registry imports them all)."""
    return dict(_DECLARED)


def _type_name(annotation: Any) -> str:
    """Literal['a', 'b'] → 'a|b'; Optional[X] → 'X'; int → 'int'."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "|".join(str(a) for a in args)
    if args:  # a Union (X | None): show the non-None alternatives
        return "|".join(_type_name(a) for a in args if a is not type(None))
    return getattr(annotation, "__name__", str(annotation))


def _explain(cls: type[Fault], error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ())) or "parameters"
    kind = error.get("type")
    known = list(cls.Params.model_fields)
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(loc, known, n=1)
        msg = f"unknown parameter '{loc}'; known: {', '.join(known) or '(none)'}"
        return msg + (f" (did you mean '{hint[0]}'?)" if hint else "")
    if kind == "missing":
        return f"parameter '{loc}' is required"
    msg = error.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if loc == "parameters" or not error.get("loc"):
        return msg
    return f"parameter '{loc}': {msg} (got {error.get('input')!r})"
