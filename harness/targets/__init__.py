"""Targets: one module per environment behind one abstract `Target` (harness/targets/base.py).

    target = load("k8s-staging")          # targets/k8s-staging.yaml (a path works too), checked once
    clearance = target.preflight(approval, approver)
    target.connect(bring_up=False).probe("app")

The target file's provider (harness.targets.file.TargetFile.provider: lab, aws, kubernetes, from its safety
section) names the class: the module of this package whose Target subclass declares that `provider`, found by
looking at the package's modules (as patroni finds its DCS module from the configuration key). A new
environment is one module here plus its YAML in targets/; nothing else dispatches on the provider.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.targets.base import DYNAMIC_VALUES, FaultPlanView, FileTarget, Target
from harness.targets.file import TargetFile, known_targets, load_target, target_path

__all__ = [
    "DYNAMIC_VALUES",
    "FaultPlanView",
    "FileTarget",
    "Target",
    "TargetFile",
    "known_targets",
    "load",
    "load_target",
    "target_class",
    "target_path",
]

_NOT_ENVIRONMENTS = {"base", "file"}


def _classes() -> dict[str, type[Target]]:
    """provider -> Target subclass, over this package's environment modules."""
    found: dict[str, type[Target]] = {}
    for info in pkgutil.iter_modules(__path__):  # the package's path: a module added to it is found too
        if info.name in _NOT_ENVIRONMENTS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Target) and cls.__module__ == module.__name__ and not inspect.isabstract(cls):
                found.setdefault(getattr(cls, "provider", ""), cls)
    return found


def target_class(provider: str) -> type[Target]:
    """The Target subclass for a provider; HarnessError naming those that exist."""
    classes = _classes()
    if provider not in classes:
        raise HarnessError(
            f"no target class for provider {provider!r}; harness/targets/ has: {', '.join(sorted(classes)) or '-'}"
        )
    return classes[provider]


def load(name_or_path: str | Path | Any) -> Target:
    """The Target a target file describes (`local` -> targets/local.yaml, a path -> itself; a loaded TargetFile
    is taken as is). Nothing is contacted: call `preflight()` then `connect()`. HarnessError (exit 2) for an
    unknown target or a bad file, naming the file and the field."""
    file = name_or_path if isinstance(name_or_path, TargetFile) else load_target(name_or_path)
    try:
        cls = target_class(file.provider)
    except HarnessError as err:
        raise HarnessError(
            f"target {file.name!r} ({file.path}, environment {file.environment}): {err}. Nothing was injected"
        ) from None
    return cls(file)
