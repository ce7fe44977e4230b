"""`drill plan`: a dry run. For the selected Gherkin scenarios, every fault (and recovery procedure) they would
run on a target, with its concrete targets, its undo, the blast-radius verdict and the abort guards — without
touching anything. What a fault touches is the target's own answer (harness.targets: `Target.plan`): AWS from
describe calls only (read-only), Kubernetes from the file (namespace, selectors, the objects the activity
would create or delete), the lab from the fault vocabulary's own description.

    planned = plan_drill("aws-staging", tags="smoke")
    for step in planned.steps: print(step.lines())

Which fault a When step injects is what its step function declares (`@needs`, harness/drills/phrases.py):
the same declaration the preflight uses to skip a scenario a target cannot run. A step that declares nothing
injects nothing; a When step no step definition matches is listed as unknown (never silently dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safety

# steps/given.py's scenario-level abort guard; its guard joins the target file's on every step of the scenario
GUARD_PHRASE = re.compile(
    r"^the drill aborts when (?P<probe>\S+) fails more than (?P<percent>[\d.]+)% of probes "
    r"for (?P<grace>[\d.]+) seconds$"
)


@dataclass
class PlannedStep:
    scenario: str
    feature: str
    kind: str  # fault | procedure
    name: str
    params: dict[str, str]
    activity: str = ""  # module:func the target maps it to
    arguments: dict[str, Any] = field(default_factory=dict)
    touches: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    undo: str = ""
    blast: str = ""  # "within limits" or why it would be refused
    guards: list[str] = field(default_factory=list)
    problem: str = ""  # unsupported, or the describe call failed

    def lines(self) -> list[str]:
        args = " ".join(f"{k}={v}" for k, v in self.params.items())
        out = [f"{self.kind} {self.name} {args}".rstrip() + f"   ({self.feature}: {self.scenario})"]
        if self.activity:
            out.append(f"  activity: {self.activity}")
        if self.problem:
            out.append(f"  NOT RUNNABLE: {self.problem}")
        out += [f"  {t}" for t in self.touches]
        out += [f"  call: {c}" for c in self.calls]
        if self.undo:
            out.append(f"  undo: {self.undo}")
        if self.blast:
            out.append(f"  blast radius: {self.blast}")
        out += [f"  guard: {g}" for g in self.guards] or ["  guard: none declared"]
        return out


@dataclass
class DrillPlanView:
    target: str
    environment: str
    provider: str
    allowlist: list[str]
    limits: str
    steps: list[PlannedStep]

    def lines(self) -> list[str]:
        out = [
            f"target {self.target}: environment {self.environment}, provider {self.provider}",
            *[f"allowlist: {a}" for a in self.allowlist],
            f"limits: {self.limits}",
            "dry run: only read-only describe calls were made; nothing was changed",
            "",
        ]
        for step in self.steps:
            out += step.lines() + [""]
        if not self.steps:
            out.append("no fault or procedure step in the selected scenarios")
        return out


def scenario_steps(files: list[Path], tags: str | None) -> list[tuple[str, str, str, list[str]]]:
    """(feature path, scenario name, When-step text, the scenario's own abort guards) of the selected
    scenarios, in order."""
    from pytest_bdd.feature import get_feature

    from harness.drills.options import normalise_tags
    from harness.evidence.plan import TagExpression

    wanted = TagExpression(normalise_tags(tags)) if tags else None
    out = []
    for path in files:
        feature = get_feature(str(path.parent), path.name)
        for template in feature.scenarios.values():
            rule_tags = template.rule.tags if template.rule is not None else set()
            if wanted is not None and not wanted.matches(set(template.tags | feature.tags | rule_tags)):
                continue
            examples = [{}]
            scenario = template.render(examples[0]) if not template.templated else template
            guards = [
                _guard_name(m)
                for m in (GUARD_PHRASE.match(st.name) for st in scenario.steps if st.type == "given")
                if m
            ]
            for step in scenario.steps:
                if step.type == "when":
                    out.append((_rel(path), template.name, step.name, guards))
    return out


def _guard_name(m: re.Match) -> str:
    spec = safety.GuardSpec(probe=m["probe"], max_error_rate=float(m["percent"]) / 100, grace_s=float(m["grace"]))
    return safety.AbortGuard.from_spec(spec).name + " (this scenario's)"


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _step_definitions() -> list[Any]:
    """The When step definitions of the catalog's vocabulary (steps/), as pytest-bdd registered them."""
    import importlib
    import sys

    from pytest_bdd.steps import step_function_context_registry

    from harness.drills.run import project_root

    root = str(project_root())
    if root not in sys.path:  # steps/ is the project's package, beside harness/
        sys.path.insert(0, root)
    for module in ("steps.given", "steps.when", "steps.then", "steps.backup"):
        importlib.import_module(module)
    return [ctx for ctx in list(step_function_context_registry.values()) if ctx.type in (None, "when")]


def step_to_faults(text: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """[(kind, name, params)] a When-step text runs, from its step function's `@needs` declaration; [] for a
    step that injects nothing; None for a text no step definition matches."""
    from harness.drills.preflight import call_with_step_args

    for ctx in _step_definitions():
        if ctx.parser.is_matching(text):
            needs = getattr(ctx.step_func, "drill_needs", None)
            if needs is None:
                return []
            found = call_with_step_args(needs, ctx, text)
            return [(kind, name, dict(rest[0]) if rest else {}) for kind, name, *rest in found]
    return None


def plan_drill(
    target_name: str,
    features: list[str] | None = None,
    tags: str | None = None,
    configuration: dict[str, Any] | None = None,
) -> DrillPlanView:
    """The dry run (see the module docstring). Read-only: describe calls and local file reads only."""
    from harness import targets
    from harness.drills.run import feature_files, project_root

    target = targets.load(target_name)
    guard = target.guard
    files = feature_files(project_root(), features or [])
    config = {**target.configuration, **(configuration or {})}
    steps = []
    for feature, scenario, text, own_guards in scenario_steps(files, tags):
        found = step_to_faults(text)
        guards = [safety.AbortGuard.from_spec(g).name for g in guard.safety.guards] + own_guards
        if found is None:
            steps.append(
                PlannedStep(
                    scenario=scenario,
                    feature=feature,
                    kind="unknown",
                    name=text,
                    params={},
                    guards=guards,
                    problem="no step definition of steps/ matches this When step",
                )
            )
            continue
        for kind, name, params in found:
            step = PlannedStep(scenario=scenario, feature=feature, kind=kind, name=name, params=params, guards=guards)
            view = target.plan(kind, name, params, config)
            for attr in ("activity", "arguments", "touches", "calls", "undo", "blast", "problem"):
                setattr(step, attr, getattr(view, attr))
            steps.append(step)
    lim = guard.safety.limits
    limits = (
        f"max_azs={lim.max_azs}, max_instances={lim.max_instances}, max_pods={lim.max_pods}, "
        f"resources={', '.join(lim.resources) or 'any'}"
    )
    return DrillPlanView(
        target=target.name,
        environment=guard.environment,
        provider=target.provider,
        allowlist=target.allowlist_lines(config),
        limits=limits,
        steps=steps,
    )
