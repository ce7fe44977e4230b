"""The fault vocabulary: name → Fault class, every undo kind, and the names of the recovery procedures.

The one module that imports every fault implementation (local process faults, the lab's faults, and the AWS
and Kubernetes modules for their undo kinds), so `get()`/`list()` see the whole vocabulary in any process and a
fresh `drill recover` can replay any undo record. Nothing in the faults core (base, intent, undo) imports this
module; implementations register with `harness.faults.base.register`.
"""

from __future__ import annotations

import builtins
import difflib
from dataclasses import dataclass

from harness.errors import HarnessError

# Importing them registers faults and undo kinds.
from harness.faults import (  # noqa: F401
    aws,
    aws_data,
    aws_docdb,
    aws_fis,
    aws_msk,
    aws_region,
    aws_s3,
    aws_ssm,
    k8s,
    k8s_chaosmesh,
    k8s_velero,
    lab,
    local,
)
from harness.faults.base import Fault, declared, register, unregister

__all__ = ["PROCEDURES", "Procedure", "get", "get_procedure", "list_faults", "names", "register", "unregister"]


def get(name: str) -> type[Fault]:
    faults = declared()
    if name in faults:
        return faults[name]
    raise HarnessError(unknown("fault", name, builtins.list(faults)))


def list_faults() -> builtins.list[type[Fault]]:
    faults = declared()
    return [faults[n] for n in sorted(faults)]


def names() -> builtins.list[str]:
    """Every fault name of the vocabulary, sorted (what target files map and the chaos provider accepts)."""
    return sorted(declared())


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
        Procedure("s3-version-restore", "4.3.4", "restore an S3 object: copy its last good version over as the newest"),
        Procedure(
            "s3-cross-region-restore", "4.3.4, 3.3", "restore an S3 object by copying it back from the DR bucket"
        ),
        Procedure("velero-restore", "4.3.3", "restore Kubernetes namespaces from a Velero backup"),
    )
}


def get_procedure(name: str) -> Procedure:
    if name in PROCEDURES:
        return PROCEDURES[name]
    raise HarnessError(unknown("procedure", name, builtins.list(PROCEDURES)))


def unknown(what: str, name: str, known: builtins.list[str]) -> str:
    hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    msg = f"unknown {what} '{name}'; known: {', '.join(sorted(known))}"
    return msg + (f" (did you mean '{hint[0]}'?)" if hint else "")


# `registry.list()` as the brief names it; defined last so the builtin stays usable above.
list = list_faults  # noqa: A001
