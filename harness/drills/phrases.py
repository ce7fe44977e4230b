"""What step phrases carry, parsed and checked the same way at run time and before the run.

Steps declare a `validate` for their arguments with `@checked_by(fn)`; `drill run` calls it for every step of
every selected scenario before anything is injected (harness/drills/preflight.py), so an unknown fault or a
bad parameter is an error pointing at the feature line, not a failure half-way through a drill.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.targets.base import DYNAMIC_VALUES

# A dynamic value stands for something only the live target knows; preflight checks the rest with a stand-in.
DYNAMIC_STAND_INS = {name: value.stand_in for name, value in DYNAMIC_VALUES.items()}
REPLICATION_MODES = ("sync", "async")
SERVICES = ("postgresql", "redis")


def checked_by(validate: Callable[..., None]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for a step function (put it under @given/@when/@then): its arguments are checked up front."""

    def mark(step_func: Callable[..., Any]) -> Callable[..., Any]:
        step_func.drill_validate = validate
        return step_func

    return mark


def needs(what: Callable[..., list[tuple]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for a step function: the ("fault" | "procedure", name[, params]) it runs, given its arguments,
    so the preflight can skip a scenario its target cannot run (the target file says `unsupported: why`) and
    `drill plan` knows which fault a step injects, with which parameters. A step without it injects nothing."""

    def mark(step_func: Callable[..., Any]) -> Callable[..., Any]:
        step_func.drill_needs = what
        return step_func

    return mark


def parse_params(text: str | None) -> dict[str, str]:
    """`zone=az-a mode=freeze` (commas allowed between pairs) → {"zone": "az-a", "mode": "freeze"}."""
    out: dict[str, str] = {}
    if not text:
        return out
    try:
        words = shlex.split(text.replace(",", " "))
    except ValueError as err:
        raise HarnessError(f"parameters {text!r}: {err}") from None
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise HarnessError(f"parameters {text!r}: expected key=value pairs, got {word!r}")
        if key in out:
            raise HarnessError(f"parameters {text!r}: {key} given twice")
        out[key] = value
    return out


def names(text: str) -> list[str]:
    """`app, postgres and redis` → ["app", "postgres", "redis"]."""
    parts = re.split(r"\s*,\s*|\s+and\s+", text.strip())
    found = [p.strip().strip('"') for p in parts if p.strip()]
    if not found:
        raise HarnessError(f"expected a list of names, got {text!r}")
    return found


params = parse_params  # the name steps use: phrases.params("zone=az-a")


# -- validators (no target needed) -----------------------------------------------------------------------
def validate_fault(fault: str, params: str | None = None) -> None:
    from harness.faults import registry

    cls = registry.get(fault)
    given = parse_params(params)
    raw = {k: DYNAMIC_STAND_INS.get(v, v) for k, v in given.items()}
    unknown = [v for v in given.values() if v.startswith("@") and v not in DYNAMIC_STAND_INS]
    if unknown:
        raise HarnessError(
            f"fault '{fault}': unknown dynamic value {unknown[0]}; known: {', '.join(DYNAMIC_STAND_INS)}"
        )
    try:
        cls.from_raw(raw)
    except HarnessError as err:
        raise HarnessError(str(err) if str(err).startswith("fault '") else f"fault '{fault}': {err}") from None


def validate_procedure(procedure: str, params: str | None = None) -> None:
    from harness.recovery import get

    proc = get(procedure)
    unknown = sorted(set(parse_params(params)) - set(proc.params))
    if unknown:
        raise HarnessError(
            f"procedure '{procedure}': unknown parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(proc.params) or '(none)'}"
        )


def validate_objective(component: str, scenario: str | None = None) -> None:
    from harness import objectives

    objectives.load().lookup(component, scenario)


def validate_replication(mode: str) -> None:
    if mode not in REPLICATION_MODES:
        raise HarnessError(f"replication mode {mode!r}: one of {', '.join(REPLICATION_MODES)}")


def validate_service(service: str) -> None:
    if service not in SERVICES:
        raise HarnessError(f"service {service!r}: one of {', '.join(SERVICES)}")


def validate_guard(probe: str, percent: float, grace: float) -> None:
    if not 0 < percent <= 100:
        raise HarnessError(
            f"abort guard on {probe}: the error rate must be above 0% and at most 100%, got {percent:g}%"
        )
    if grace < 0:
        raise HarnessError(f"abort guard on {probe}: the grace must be 0 seconds or more, got {grace:g}")


def validate_timing(endpoints: str, budget: float, degraded_ms: float | None = None) -> None:
    """A probe's latency budget (s) and degraded threshold (ms) as a phrase states them."""
    from harness.measure.probes import check_timing

    for name in names(endpoints):
        check_timing(name, budget, None if degraded_ms is None else degraded_ms / 1000)


def validate_positive(**numbers: float) -> None:
    for name, value in numbers.items():
        if not value > 0:
            raise HarnessError(f"{name} must be > 0, got {value:g}")
