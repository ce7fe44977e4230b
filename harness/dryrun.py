"""`drill plan`: a dry run. For the selected Gherkin scenarios, every fault (and recovery procedure) they would
run on a target, with its concrete targets, its undo, the blast-radius verdict and the abort guards — without
touching anything. For AWS the concrete targets come from describe calls only (read-only); for the lab from
the fault vocabulary's own description.

    planned = plan_drill("aws-staging", tags="smoke")
    for step in planned.steps: print(step.lines())

The When-phrases of steps/when.py are mapped to faults here (FAULT_PHRASES); a phrase this table does not
know is listed as "not a fault step" only if it is not a When step, else as unknown (never silently dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safety
from harness.errors import HarnessError

# When-phrase -> (kind, name, params). Mirrors steps/when.py; `{params}` is `key=value ...`.
FAULT_PHRASES: list[tuple[re.Pattern, str, str | None, dict[str, str]]] = [
    (re.compile(r'^the fault "(?P<name>[^"]+)" is injected(?: with (?P<params>.+))?$'), "fault", None, {}),
    (re.compile(r'^the recovery procedure "(?P<name>[^"]+)" runs(?: with (?P<params>.+))?$'), "procedure", None, {}),
    (re.compile(r"^the database primary crashes$"), "fault", "db-primary-crash", {}),
    (re.compile(r"^the database primary freezes for (?P<seconds>[\d.]+) seconds$"), "fault", "db-primary-freeze", {}),
    (re.compile(r"^replication is held back for (?P<seconds>[\d.]+) seconds$"), "fault", "db-replication-lag", {}),
    (re.compile(r"^the availability zone of the database primary fails$"), "fault", "az-outage",
     {"zone": "@primary-zone"}),
    (re.compile(r"^the cache primary crashes$"), "fault", "cache-primary-crash", {}),
    (re.compile(r"^the availability zone of the database primary is cut off from the other zones$"), "fault",
     "network-partition", {"a": "@primary-zone", "b": "@other-zones"}),
]
NOT_FAULTS = (re.compile(r"^the faults are undone$"), re.compile(r"^[\d.]+ seconds pass$"))
# steps/given.py's scenario-level abort guard; its guard joins the target file's on every step of the scenario
GUARD_PHRASE = re.compile(r"^the drill aborts when (?P<probe>\S+) fails more than (?P<percent>[\d.]+)% of probes "
                          r"for (?P<grace>[\d.]+) seconds$")


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
        out = [f"target {self.target}: environment {self.environment}, provider {self.provider}",
               *[f"allowlist: {a}" for a in self.allowlist], f"limits: {self.limits}",
               "dry run: only read-only describe calls were made; nothing was changed", ""]
        for step in self.steps:
            out += step.lines() + [""]
        if not self.steps:
            out.append("no fault or procedure step in the selected scenarios")
        return out


def scenario_steps(files: list[Path], tags: str | None) -> list[tuple[str, str, str, list[str]]]:
    """(feature path, scenario name, When-step text, the scenario's own abort guards) of the selected
    scenarios, in order."""
    from pytest_bdd.feature import get_feature

    from harness.drills.plugin import normalise_tags
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
            guards = [_guard_name(m) for m in (GUARD_PHRASE.match(st.name) for st in scenario.steps
                                               if st.type == "given") if m]
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


def step_to_fault(text: str) -> tuple[str, str, dict[str, str]] | None:
    """(kind, name, params) for a When-step text; None for a step that injects nothing."""
    from harness.drills.phrases import parse_params

    if any(p.match(text) for p in NOT_FAULTS):
        return None
    for pattern, kind, name, fixed in FAULT_PHRASES:
        m = pattern.match(text)
        if not m:
            continue
        groups = m.groupdict()
        params = dict(fixed)
        if "params" in groups:
            params.update(parse_params(groups.get("params")))
        if "seconds" in groups:
            params["seconds"] = groups["seconds"]
        return kind, name or groups["name"], params
    return "unknown", text, {}


def plan_drill(target_name: str, features: list[str] | None = None, tags: str | None = None,
               configuration: dict[str, Any] | None = None) -> DrillPlanView:
    """The dry run (see the module docstring). Read-only: AWS describe calls and local file reads only."""
    from harness.chaos.targets import load_target
    from harness.drills.run import feature_files, project_root

    target = load_target(target_name)
    guard = safety.target_safety(target)
    files = feature_files(project_root(), features or [])
    config = _configuration(target, configuration)
    steps = []
    for feature, scenario, text, own_guards in scenario_steps(files, tags):
        found = step_to_fault(text)
        if found is None:
            continue
        kind, name, params = found
        step = PlannedStep(scenario=scenario, feature=feature, kind=kind, name=name, params=params,
                           guards=[safety.AbortGuard.from_spec(g).name for g in guard.safety.guards] + own_guards)
        if kind == "unknown":
            step.problem = "a When step the dry run cannot map to a fault (see harness/dryrun.py FAULT_PHRASES)"
        else:
            _plan_step(step, target, guard, config)
        steps.append(step)
    allow = []
    if guard.safety.aws:
        allow.append(f"aws accounts {', '.join(guard.safety.aws.account_ids)}; regions "
                     f"{', '.join(guard.safety.aws.regions)}; tags {guard.safety.aws.resource_tags or '-'}")
    if guard.safety.kubernetes:
        allow.append(f"kubernetes contexts {', '.join(guard.safety.kubernetes.contexts)}; namespaces "
                     f"{', '.join(guard.safety.kubernetes.namespaces)}")
    lim = guard.safety.limits
    limits = (f"max_azs={lim.max_azs}, max_instances={lim.max_instances}, max_pods={lim.max_pods}, "
              f"resources={', '.join(lim.resources) or 'any'}")
    if guard.provider == "aws":
        allow.append(_identity_line(guard, config))
    return DrillPlanView(target=target.name, environment=guard.environment, provider=guard.provider,
                         allowlist=allow, limits=limits, steps=steps)


def _identity_line(guard: safety.TargetSafety, config: dict[str, Any]) -> str:
    """Who we are now (STS, read-only) and whether `drill run` would be allowed to act."""
    from harness.faults.aws import region_of

    try:
        who = safety.check_identity(guard.safety, region=region_of(config))
        return f"caller {who.arn} (account {who.account}, region {who.region}): on the allowlist"
    except HarnessError as err:
        return f"caller check: drill run WOULD BE REFUSED: {err}"


def _configuration(target: Any, given: dict[str, Any] | None) -> dict[str, Any]:
    """The target's Chaos Toolkit configuration, loaded (env entries read) as chaoslib would."""
    from chaoslib.configuration import load_configuration

    return {**load_configuration(dict(target.configuration)), **(given or {})}


def _plan_step(step: PlannedStep, target: Any, guard: safety.TargetSafety, config: dict[str, Any]) -> None:
    from chaoslib import substitute

    mapping = target.faults.get(step.name) if step.kind == "fault" else target.procedures.get(step.name)
    if mapping is None:
        step.problem = f"not mapped in target {target.name}"
        return
    if mapping.action is None:
        step.problem = f"unsupported on target {target.name}: {mapping.unsupported}"
        return
    params = dict(step.params)
    activity = (target.fault_activity(step.name, params) if step.kind == "fault"
                else target.procedure_activity(step.name, params))
    provider = activity["provider"]
    step.activity = f"{provider['module']}:{provider['func']}"
    args = substitute(provider.get("arguments") or {}, config, {})
    step.arguments = args
    if mapping.rollback is not None:
        step.undo = f"rollback {mapping.rollback.ref}"
    if activity.get("type") == "probe":
        step.touches = ["read-only probe: changes nothing"]
    elif provider["module"] == "harness.faults.aws":
        _plan_aws(step, provider["func"], args, guard, config)
    elif step.kind == "fault":
        _plan_vocabulary(step)


def _plan_aws(step: PlannedStep, func: str, args: dict[str, Any], guard: safety.TargetSafety,
              config: dict[str, Any]) -> None:
    from harness.faults import aws

    planner = aws.planner("harness.faults.aws", func)
    if planner is None:
        step.problem = f"{func} has no planner in harness.faults.aws: its targets cannot be shown"
        return
    try:
        plan = planner(**args, configuration=config)
    except HarnessError as err:
        step.problem = str(err)
        return
    except Exception as err:  # noqa: BLE001 - botocore errors (no credentials, access denied, not found)
        step.problem = f"describe failed: {type(err).__name__}: {err}"
        return
    step.touches = [("touches: " if r.acted else "context: ") + r.line() for r in plan.resources] + \
                   [f"note: {n}" for n in plan.notes]
    step.calls = plan.calls
    step.undo = plan.undo + (f" ({step.undo})" if step.undo else "")
    required = guard.safety.aws.resource_tags if guard.safety.aws else {}
    try:
        safety.check_blast(plan.fault, plan.resources, guard.safety.limits, required)
        step.blast = "within limits"
    except safety.SafetyRefused as err:
        step.blast = f"WOULD BE REFUSED: {err}"


def _plan_vocabulary(step: PlannedStep) -> None:
    """Lab faults: the vocabulary's own blast radius (no lab needed to say what kind of thing it touches)."""
    from harness.faults import registry

    try:
        cls = registry.get(step.name)
        params = {k: v for k, v in step.params.items() if not str(v).startswith("@")}
        fault = cls(cls.Params.model_construct(**params))
        blast = fault.describe(None)
        step.touches = [f"touches: {line}" for line in blast.lines() if not line.startswith("undo: ")]
        step.undo = blast.undo or cls.undo_summary
    except Exception:  # noqa: BLE001 - a describe that needs the running lab: say what kind of thing it hits
        cls = registry.get(step.name)
        step.touches = [f"touches: {cls.summary}"]
        step.undo = cls.undo_summary + (f" ({step.undo})" if step.undo else "")
    step.blast = "lab: resolved against the running lab when it runs"
