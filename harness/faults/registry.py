"""The fault vocabulary: name → Fault class (and the names of the recovery procedures).

Implementations register themselves with `@register`; `get()`/`list()` import the built-in modules first, so
a fresh process (`drill recover`, `drill fault list`) sees the whole vocabulary.
"""

from __future__ import annotations

import builtins
import difflib
import importlib
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.faults.base import Fault

# Modules whose import registers faults; harness.faults.lab re-registers the vocabulary's declarations with real classes.
BUILTIN_MODULES = (
    "harness.faults.local",
    "harness.faults.vocabulary",
    "harness.faults.lab",
    "harness.faults.k8s",
    "harness.faults.aws",
)  # aws: its undo kinds, for `drill recover` (boto3 imported lazily)

_FAULTS: dict[str, type[Fault]] = {}
_loaded = False


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: add a fault to the vocabulary. A later registration of the same name replaces the
    earlier one, so a real lab implementation can take over a stub's name."""
    _FAULTS[cls.name] = cls
    return cls


def load_builtins() -> None:
    """Import the modules that register faults (and the undo actions they bring)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def get(name: str) -> type[Fault]:
    load_builtins()
    if name in _FAULTS:
        return _FAULTS[name]
    raise HarnessError(_unknown("fault", name, builtins.list(_FAULTS)))


def list_faults() -> builtins.list[type[Fault]]:
    load_builtins()
    return [_FAULTS[n] for n in sorted(_FAULTS)]


@dataclass(frozen=True)
class Procedure:
    """A recovery runbook of the plan (implemented by the recovery room, later)."""

    name: str
    plan_section: str
    summary: str


PROCEDURES: dict[str, Procedure] = {
    p.name: p
    for p in (
        Procedure("auto-failover", "5.1.1, 5.1.3", "verify the automatic failover: new primary, writes resume"),
        Procedure("pitr", "4.3.1, 8.3 scenario 2", "point-in-time recovery to just before the bad change"),
        Procedure("region-failover", "3.3", "promote the DR standby cluster and switch traffic to the DR region"),
        Procedure("region-failback", "3.4", "resynchronise the primary region and switch traffic back"),
        Procedure("app-rollback", "5.3.1, 5.2.3", "roll the app back to the previous version"),
        Procedure("cache-rebuild", "5.1.3", "rebuild the cache from the source data"),
    )
}


def get_procedure(name: str) -> Procedure:
    if name in PROCEDURES:
        return PROCEDURES[name]
    raise HarnessError(_unknown("procedure", name, builtins.list(PROCEDURES)))


def _unknown(what: str, name: str, known: builtins.list[str]) -> str:
    hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    msg = f"unknown {what} '{name}'; known: {', '.join(sorted(known))}"
    return msg + (f" (did you mean '{hint[0]}'?)" if hint else "")


# `registry.list()` as the brief names it; defined last so the builtin stays usable above.
list = list_faults  # noqa: A001
