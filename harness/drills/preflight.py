"""Before any drill runs: every step of every selected scenario must match a step definition, and every
argument a step can check (fault names and parameters, procedures, objectives) must be valid. Errors name the
feature file and line and, for an unmatched phrase, the closest phrases of the vocabulary."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_bdd.scenario import find_fixturedefs_for_step, scenario_wrapper_template_registry
from pytest_bdd.steps import step_function_context_registry

from harness.errors import HarnessError


@dataclass
class ScenarioRef:
    feature: str  # path relative to the project
    feature_name: str
    name: str
    line: int
    tags: set[str]
    steps: list[Any]


def scenario_of(item: Any) -> ScenarioRef | None:
    """The rendered Gherkin scenario behind a pytest item (None for a plain test)."""
    template = scenario_wrapper_template_registry.get(getattr(item, "obj", None))
    if template is None:
        return None
    example = getattr(getattr(item, "callspec", None), "params", {}).get("_pytest_bdd_example", {})
    scenario = template.render(example)
    feature = template.feature
    rule_tags = template.rule.tags if template.rule is not None else set()
    return ScenarioRef(
        feature=_rel(feature.filename),
        feature_name=feature.name or Path(feature.filename).stem,
        name=scenario.name,
        line=template.line_number,
        tags=set(template.tags | feature.tags | rule_tags),
        steps=list(scenario.steps),
    )


def _rel(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


def _phrase(ctx: Any) -> str:
    return getattr(ctx.parser, "name", str(ctx.parser))


def known_phrases(step_type: str | None) -> list[str]:
    return sorted(
        {
            f"{ctx.type.capitalize() if ctx.type else ''} {_phrase(ctx)}".strip()
            for ctx in list(step_function_context_registry.values())
            if step_type is None or ctx.type in (None, step_type)
        }
    )


def close_phrases(text: str, step_type: str | None, n: int = 3) -> list[str]:
    phrases = known_phrases(step_type)
    bare = {p.split(" ", 1)[1] if " " in p else p: p for p in phrases}
    return [bare[m] for m in difflib.get_close_matches(text, list(bare), n=n, cutoff=0.45)]


def check_item(item: Any, fixturemanager: Any) -> list[str]:
    """Problems with one scenario, each as 'file:line: what'. Empty = ready to run."""
    ref = scenario_of(item)
    if ref is None:
        return []
    problems = []
    for step in ref.steps:
        where = f"{ref.feature}:{step.line_number}"
        shown = f"{step.keyword.strip()} {step.name}"
        defs = list(find_fixturedefs_for_step(step, fixturemanager, item))
        if not defs:
            close = close_phrases(step.name, step.type)
            hint = ("; did you mean: " + " | ".join(close)) if close else "; see docs/steps.md for every phrase"
            problems.append(f"{where}: no step matches '{shown}' (scenario \"{ref.name}\"){hint}")
            continue
        ctx = step_function_context_registry[defs[-1].func]
        validate = getattr(ctx.step_func, "drill_validate", None)
        if validate is None:
            continue
        try:
            _call_with_step_args(validate, ctx, step)
        except HarnessError as err:
            problems.append(f"{where}: '{shown}': {err}")
    return problems


def unsupported_on(item: Any, fixturemanager: Any, target_file: Any) -> list[str]:
    """Why the target cannot run this scenario: each fault or procedure a step runs that the target file
    marks `unsupported` (its reason) or does not map. Empty = the target can run every step."""
    ref = scenario_of(item)
    if ref is None:
        return []
    reasons = []
    for step, kind, name in _needs_of(ref, fixturemanager, item):
        mapping = (target_file.faults if kind == "fault" else target_file.procedures).get(name)
        if mapping is None or mapping.action is None:
            why = mapping.unsupported if mapping is not None else f"not mapped in {target_file.path}"
            reasons.append(
                f"{ref.feature}:{step.line_number}: {kind} {name} is not supported on target {target_file.name}: {why}"
            )
    return reasons


def _needs_of(ref: Any, fixturemanager: Any, item: Any) -> Iterator[tuple[Any, str, str]]:
    """(step, kind, name) for each fault or procedure a scenario's steps declare (`@needs`). A step with no
    definition or a bad argument declares nothing here: check_item reports it."""
    for step in ref.steps:
        defs = list(find_fixturedefs_for_step(step, fixturemanager, item))
        if not defs:
            continue
        ctx = step_function_context_registry[defs[-1].func]
        needs = getattr(ctx.step_func, "drill_needs", None)
        if needs is None:
            continue
        try:
            wanted = _call_with_step_args(needs, ctx, step)
        except HarnessError:
            continue
        for kind, name, *_params in wanted:
            yield step, kind, name


def _call_with_step_args(fn: Any, ctx: Any, step: Any) -> Any:
    return call_with_step_args(fn, ctx, step.name)


def call_with_step_args(fn: Any, ctx: Any, text: str) -> Any:
    """fn called with the arguments parsed from a step's text that it declares."""
    raw = ctx.parser.parse_arguments(text) or {}
    args = {k: ctx.converters.get(k, lambda v: v)(v) for k, v in raw.items()}
    accepted = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in args.items() if k in accepted})


def manual_steps(item: Any, fixturemanager: Any, target: Any) -> list[str]:
    """The manual steps (an operator must confirm them) of every recovery procedure this scenario runs, each
    as 'file:line: procedure P, step "title" (scenario "S")'. Only a target running the harness's own runbooks
    has any: a target file's procedure activity is one automatic step."""
    ref = scenario_of(item)
    if ref is None or not getattr(target, "native_procedures", False):
        return []
    from harness.recovery import PROCEDURES

    found = []
    for step, kind, name in _needs_of(ref, fixturemanager, item):
        procedure = PROCEDURES.get(name) if kind == "procedure" else None
        for manual in procedure.steps if procedure is not None else ():
            if manual.manual is not None:
                found.append(
                    f'{ref.feature}:{step.line_number}: procedure {name}, step "{manual.title}" (scenario "{ref.name}")'
                )
    return found
