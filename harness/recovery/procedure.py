"""What a recovery procedure is: named steps, each timed and logged; manual steps confirmed by a person.

    proc = Procedure("auto-failover", "5.1.1", "verify the automatic failover", steps=[
        Step("wait for a new Patroni leader", wait_for_leader),
        Step("confirm the app team was told", manual="Tell the app team the DB failed over"),
    ])
    run = proc.run(lab, params={}, confirm=Confirmer(auto=True))   # RunReport with each step's duration

An automatic step is a function(ctx) -> str (what it found); it raises HarnessError when the step fails, and
the run stops there. A manual step prompts the operator in an attended run and records who confirmed and
when; with CI=true (or --yes) it is auto-confirmed and marked "auto-confirmed (CI)".
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError


@dataclass
class Context:
    """What a step sees: the lab (or None), the run's parameters, and a scratch dict steps share."""

    lab: Any
    params: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Step:
    title: str
    action: Callable[[Context], str] | None = None
    manual: str | None = None  # instruction for the operator; a manual step has no action


@dataclass
class StepResult:
    title: str
    ok: bool
    duration_s: float
    outcome: str
    started_at: float
    confirmed_by: str | None = None
    confirmed_at: float | None = None

    def line(self) -> str:
        who = f" [confirmed by {self.confirmed_by}]" if self.confirmed_by else ""
        return f"{'ok ' if self.ok else 'FAILED '}{self.duration_s:7.2f}s  {self.title}: {self.outcome}{who}"


@dataclass
class RunReport:
    procedure: str
    ok: bool
    steps: list[StepResult]
    duration_s: float
    # What the steps measured for a Then to judge (the S3 restores' object_rpo_s); shown only when set.
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "procedure": self.procedure,
            "ok": self.ok,
            "duration_s": round(self.duration_s, 3),
            "steps": [vars(s) for s in self.steps],
        }
        if self.facts:
            out["facts"] = self.facts
        return out


class Confirmer:
    """Asks the operator to confirm a manual step. auto=True (CI=true or --yes) confirms without asking."""

    def __init__(self, auto: bool | None = None, ask: Callable[[str], str] = input, why: str = "CI"):
        self.auto = auto if auto is not None else os.environ.get("CI", "").lower() in ("1", "true", "yes")
        self.ask, self.why = ask, why

    def confirm(self, instruction: str) -> str:
        """Return who confirmed; HarnessError if the operator declines."""
        if self.auto:
            return f"auto-confirmed ({self.why})"
        answer = self.ask(f"MANUAL STEP: {instruction}\n  done? type your name to confirm (empty = abort): ").strip()
        if not answer:
            raise HarnessError("manual step not confirmed: procedure aborted by the operator")
        return f"{answer} (as {getpass.getuser()})"


@dataclass(frozen=True)
class Procedure:
    name: str
    plan_section: str
    summary: str
    steps: tuple[Step, ...]
    params: dict[str, str] = field(default_factory=dict)  # name -> help

    def run(
        self,
        lab: Any,
        params: dict[str, str] | None = None,
        confirm: Confirmer | None = None,
        log: Callable[[StepResult], None] | None = None,
    ) -> RunReport:
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "(none)"
            raise HarnessError(f"procedure '{self.name}': unknown parameter(s) {', '.join(unknown)}; known: {known}")
        ctx, confirm = Context(lab=lab, params=params), confirm or Confirmer()
        results: list[StepResult] = []
        begin = time.monotonic()
        for step in self.steps:
            results.append(_run_step(step, ctx, confirm))
            if log is not None:
                log(results[-1])
            if not results[-1].ok:
                break
        ok = len(results) == len(self.steps) and all(r.ok for r in results)
        return RunReport(self.name, ok, results, time.monotonic() - begin, ctx.facts)


def _run_step(step: Step, ctx: Context, confirm: Confirmer) -> StepResult:
    started, t0 = time.time(), time.monotonic()
    who = when = None
    try:
        if step.manual is not None:
            who, when = confirm.confirm(step.manual), time.time()
            outcome = step.manual
        else:
            outcome = step.action(ctx)
        ok = True
    except HarnessError as err:
        ok, outcome = False, str(err)
    return StepResult(step.title, ok, time.monotonic() - t0, outcome, started, who, when)


def poll(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Call check() until it returns something truthy; HarnessError naming `what` on timeout."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - services are mid-failover; retry until the deadline
            last = err
        time.sleep(interval)
    raise HarnessError(
        f"timed out after {timeout:g}s waiting for {what}"
        + (f" (last error: {type(last).__name__}: {str(last)[:120]})" if last else "")
    )
