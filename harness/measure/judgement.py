"""One judgement for every path that measures (Gherkin steps, the Chaos Toolkit control, `drill measure`).

It decides, from plain numbers (no I/O, no imports above the measurement engine, so `harness.measure` stays
the bottom layer):

- which targets apply: an inline target beats the objective's, field by field (`applicable_targets`);
- whether RPO is judged: only when something wrote (no writer: data loss was not measured);
- the recovery deadline: well past the RTO target, so a breach is measured and not cut off (`deadline`);
- each check (target, measured, margin, ok) with ONE float tolerance (`TOLERANCE`, `within`);
- the verdict and its name (`VERDICTS`), the same word the three paths print and store;
- the exit code `drill measure` ends with.

Words (stored as slugs, printed by `label` in capitals: `rto-breached` -> `RTO BREACHED`):

    met                         recovered, every judged target within
    no-targets                  recovered, nothing numeric to judge against
    rto-breached                recovered, RTO over its target
    rpo-breached                recovered, RPO over its target (or data loss unknown against a target)
    rto-breached+rpo-breached   both
    not-recovered               not stable before the deadline (an RTO target, if any, fails)
    not-measured                nothing was injected or the measurement could not run
    aborted                     an abort guard (or the operator) stopped the run: no verdict on the objective
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import EXIT_BREACHED, EXIT_NOT_RECOVERED, EXIT_OK, EXIT_USAGE
from harness.measure.result import Check, Verdict

TOLERANCE = 1e-9  # seconds: float noise in a measured value never turns "equal to the target" into a breach
NO_TARGET_DEADLINE_S = 300.0  # how long to wait for recovery when there is no RTO target
MAX_DEADLINE_S = 3600.0
DEADLINE_FACTOR, DEADLINE_SLACK_S = 2.0, 60.0  # deadline = max(2 x target, target + 60 s), capped

MET = "met"
NO_TARGETS = "no-targets"
RTO_BREACHED = "rto-breached"
RPO_BREACHED = "rpo-breached"
BOTH_BREACHED = "rto-breached+rpo-breached"
NOT_RECOVERED = "not-recovered"
NOT_MEASURED = "not-measured"
ABORTED = "aborted"
VERDICTS = (MET, NO_TARGETS, RTO_BREACHED, RPO_BREACHED, BOTH_BREACHED, NOT_RECOVERED, NOT_MEASURED, ABORTED)
PASSING = (MET, NO_TARGETS)
NO_WRITER = "no writer: data loss not measured"


@dataclass(frozen=True)
class Targets:
    """Recovery objectives in seconds; None = not judged."""

    rto_s: float | None = None
    rpo_s: float | None = None

    @property
    def any(self) -> bool:
        return self.rto_s is not None or self.rpo_s is not None


@dataclass(frozen=True)
class AppliedTargets:
    """The targets a run is judged against, and where each comes from."""

    rto_s: float | None
    rpo_s: float | None
    rto_source: str  # "inline" | "<objective key> (<source>)" | "none"
    rpo_source: str
    source: str  # the whole story in one line: "<objective>; inline rto_s=0.5" | "none"
    rpo_not_judged: str | None = None  # why an RPO target is reported but not judged

    @property
    def targets(self) -> Targets:
        return Targets(rto_s=self.rto_s, rpo_s=self.rpo_s)


def applicable_targets(objective: Any = None, inline: Targets | None = None, has_writer: bool = True) -> AppliedTargets:
    """Inline beats the objective, field by field. `objective` is a harness.objectives.Objective (anything with
    `.key`, `.source`, `.rto.judged_s`, `.rpo.judged_s`). Without a writer an RPO target is not judged: a
    verdict against it would be a claim about a number nobody took."""
    inline = inline or Targets()
    label = f"{objective.key} ({objective.source})" if objective is not None else None
    obj_rto = objective.rto.judged_s if objective is not None else None
    obj_rpo = objective.rpo.judged_s if objective is not None else None
    rto, rto_src = (
        (inline.rto_s, "inline")
        if inline.rto_s is not None
        else (obj_rto, label)
        if objective is not None
        else (None, "none")
    )
    rpo, rpo_src = (
        (inline.rpo_s, "inline")
        if inline.rpo_s is not None
        else (obj_rpo, label)
        if objective is not None
        else (None, "none")
    )
    sources = [label] if label else []
    if inline.any:
        sources.append(
            "inline "
            + ", ".join(f"{k}={v:g}" for k, v in (("rto_s", inline.rto_s), ("rpo_s", inline.rpo_s)) if v is not None)
        )
    not_judged = None
    if not has_writer and rpo is not None:
        rpo, not_judged = None, NO_WRITER
    return AppliedTargets(rto, rpo, rto_src or "none", rpo_src or "none", "; ".join(sources) or "none", not_judged)


def deadline(rto_target_s: float | None, explicit: float | None = None, default: float = NO_TARGET_DEADLINE_S) -> float:
    """How long to wait for stable recovery: an explicit deadline wins; no RTO target: `default`; else
    max(2 x target, target + 60 s), at most an hour."""
    if explicit is not None:
        return float(explicit)
    if rto_target_s is None:
        return float(default)
    return min(MAX_DEADLINE_S, max(DEADLINE_FACTOR * rto_target_s, rto_target_s + DEADLINE_SLACK_S))


def within(measured: float | None, target: float) -> bool:
    """measured <= target, with the one tolerance. None (not recovered / not measurable) is never within."""
    return measured is not None and measured <= target + TOLERANCE


def margin(target: float, measured: float | None) -> float | None:
    """target - measured (negative: breached by that much); None when nothing was measured."""
    return None if measured is None else round(target - measured, 4)


def check(target: float, measured: float | None) -> Check:
    if measured is None:  # not recovered / not measurable: fails, no margin to report
        return Check(target_s=target, measured_s=None, margin_s=None, ok=False)
    return Check(
        target_s=target, measured_s=round(measured, 4), margin_s=margin(target, measured), ok=within(measured, target)
    )


def verdict(targets: Targets | None, rto_s: float | None, rpo_s: float | None) -> Verdict | None:
    """The checks against the targets that apply; None when there is nothing to judge."""
    if targets is None or not targets.any:
        return None
    rto = check(targets.rto_s, rto_s) if targets.rto_s is not None else None
    rpo = check(targets.rpo_s, rpo_s) if targets.rpo_s is not None else None
    return Verdict(rto=rto, rpo=rpo, passed=all(c.ok for c in (rto, rpo) if c is not None))


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def name(
    recovered: bool | None, verdict: Verdict | dict[str, Any] | None, *, measured: bool = True, aborted: bool = False
) -> str:
    """The verdict's word. `verdict` is a Verdict or its JSON form (records written before names existed)."""
    if aborted:
        return ABORTED
    if not measured or recovered is None:
        return NOT_MEASURED
    if not recovered:
        return NOT_RECOVERED
    if verdict is None:
        return NO_TARGETS
    if _get(verdict, "passed"):
        return MET
    rto_bad = (c := _get(verdict, "rto")) is not None and not _get(c, "ok")
    rpo_bad = (c := _get(verdict, "rpo")) is not None and not _get(c, "ok")
    return BOTH_BREACHED if rto_bad and rpo_bad else RTO_BREACHED if rto_bad else RPO_BREACHED


def name_of(result: Any, aborted: bool = False) -> str:
    """The word for a MeasurementResult (or its JSON form); None (nothing measured) is `not-measured`."""
    if result is None or (isinstance(result, dict) and not result):
        return ABORTED if aborted else NOT_MEASURED
    stored = _get(result, "verdict_name")
    if stored and not aborted:
        return stored
    return name(_get(result, "recovered"), _get(result, "verdict"), aborted=aborted)


def passed(word: str) -> bool:
    return word in PASSING


def label(word: str | None) -> str:
    """How a word is printed: `rto-breached+rpo-breached` -> `RTO BREACHED + RPO BREACHED`."""
    if not word:
        return "-"
    return " + ".join(part.replace("-", " ").upper() for part in word.split("+"))


def exit_code(word: str) -> int:
    """`drill measure`'s exit: 0 met / nothing to judge, 1 a target breached, 3 not recovered, 2 not measured."""
    if word in PASSING:
        return EXIT_OK
    if word == NOT_RECOVERED:
        return EXIT_NOT_RECOVERED
    if word in (NOT_MEASURED, ABORTED):
        return EXIT_USAGE
    return EXIT_BREACHED


def breach_text(verdict: Verdict | dict[str, Any] | None) -> str:
    """'RTO 12.3 s > target 10 s; ...' for the checks that failed (empty when none did)."""
    parts = []
    for key in ("rto", "rpo"):
        c = _get(verdict, key)
        if c is not None and not _get(c, "ok"):
            measured = _get(c, "measured_s")
            parts.append(
                f"{key.upper()} {'not measured' if measured is None else f'{measured} s'} > target "
                f"{_get(c, 'target_s')} s"
            )
    return "; ".join(parts)
