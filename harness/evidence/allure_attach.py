"""A drill scenario's evidence and labels in its Allure result (allure-pytest-bdd).

Labels use `allure.dynamic.*`: decorators on shared step functions are ignored by allure-pytest-bdd.
Everything attached is already secret-free (masked by the measurement engine and `harness.redact`).
"""

from __future__ import annotations

import html
import json
import os
from typing import Any

import allure

from harness.faults.intent import IntentLog
from harness.measure import after_fault
from harness.recovery import RunReport
from harness.redact import clean

# Objective criticality (plan §1.1 classes) → Allure severity.
SEVERITY = {
    "critical": allure.severity_level.BLOCKER,
    "high": allure.severity_level.CRITICAL,
    "medium": allure.severity_level.NORMAL,
    "low": allure.severity_level.MINOR,
}
PLAN_URL_ENV = "DRILL_PLAN_URL"  # where the report's runbook links point; default: dr-plan.md beside it


def plan_link(section: str) -> str:
    base = os.environ.get(PLAN_URL_ENV, "dr-plan.md")
    return f"{base}#section-{section}"


def section_of(tags: list[str]) -> str | None:
    """The plan section a scenario cites with its `@plan-5.1.1` tag."""
    for tag in tags:
        if tag.startswith("plan-"):
            return tag.split("-", 1)[1]
    return None


class AllureReporter:
    """Receives the DrillScenario's notifications and puts them into the running Allure test case."""

    def begin(self, feature: str, scenario: str, tags: list[str]) -> None:
        section = section_of(tags)
        allure.dynamic.feature(feature)
        allure.dynamic.story(scenario)
        if section:
            allure.dynamic.epic(f"DR plan §{section}")
            allure.dynamic.link(plan_link(section), name=f"DR plan §{section}")

    def objective(self, objective: Any) -> None:
        allure.dynamic.label("objective", objective.key)
        if objective.criticality is not None:
            allure.dynamic.severity(SEVERITY.get(objective.criticality.value, allure.severity_level.NORMAL))
        if objective.owner_role:
            allure.dynamic.label("owner", objective.owner_role)
        allure.dynamic.link(plan_link(objective.section), name=f"runbook: DR plan §{objective.section}")

    def fault(self, entry: dict[str, Any]) -> None:
        allure.attach(
            json.dumps(clean(entry), indent=2),
            name=f"fault {entry['id']}: blast radius",
            attachment_type=allure.attachment_type.JSON,
        )

    def procedure(self, report: RunReport) -> None:
        allure.attach(
            procedure_log(report),
            name=f"recovery procedure {report.procedure}: steps",
            attachment_type=allure.attachment_type.TEXT,
        )

    def finished(self, drill: Any) -> None:
        measure_dir = drill.out_dir / "measure"
        if drill.result is not None:
            allure.attach(rto_rpo_table(drill), name="RTO / RPO", attachment_type=allure.attachment_type.HTML)
            for name, kind in (
                ("timeline.png", allure.attachment_type.PNG),
                ("result.json", allure.attachment_type.JSON),
                ("samples.csv", allure.attachment_type.CSV),
            ):
                if (measure_dir / name).exists():
                    allure.attach.file(str(measure_dir / name), name=name, attachment_type=kind)
        if drill.faults:
            allure.attach(fault_log(drill), name="fault / undo log", attachment_type=allure.attachment_type.JSON)
        allure.attach.file(
            str(drill.out_dir / "drill.json"), name="drill.json", attachment_type=allure.attachment_type.JSON
        )
        journal = drill.out_dir / "chaos-journal.json"  # the Chaos Toolkit journal of the faults and rollbacks
        if journal.exists():
            allure.attach.file(str(journal), name="chaos-journal.json", attachment_type=allure.attachment_type.JSON)


def procedure_log(report: RunReport) -> str:
    lines = [f"procedure {report.procedure}: {'ok' if report.ok else 'FAILED'} in {report.duration_s:.2f} s"]
    lines += [step.line() for step in report.steps]
    return "\n".join(lines) + "\n"


def fault_log(drill: Any) -> str:
    """The intent-log events of this scenario's faults: intended, each undo step recorded, injected, undone."""
    ids = {f["id"] for f in drill.faults}
    events = [e for e in (drill.log or IntentLog()).events() if e.get("id") in ids]
    return json.dumps(clean({"faults": drill.faults, "intent_log": events}), indent=2)


def _row(
    name: str, target: float | None, measured: float | None, uncertainty: float | None, ok: bool | None, source: str
) -> str:
    def s(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f} s"

    margin = "—" if target is None or measured is None else f"{target - measured:+.2f} s"
    verdict = "not judged" if ok is None else ("PASS" if ok else "BREACHED")
    color = "#777" if ok is None else ("#1a7f37" if ok else "#cf222e")
    unc = "—" if uncertainty is None else f"± {uncertainty:.2f} s"
    return (
        f"<tr><td>{name}</td><td>{s(target)}</td><td>{s(measured)}</td><td>{unc}</td><td>{margin}</td>"
        f"<td style='color:{color};font-weight:bold'>{verdict}</td><td>{html.escape(source)}</td></tr>"
    )


def rpo_uncertainty(result: Any) -> float | None:
    """An RPO is known to within the gap between two writes: 1 / the slowest writer's rate."""
    rates = [w.rate_per_s for w in result.writers if w.rate_per_s]
    return 1.0 / min(rates) if rates and result.lost_writes is not None else None


def rto_rpo_table(drill: Any) -> str:
    """Target, measured, uncertainty, margin and verdict for RTO and RPO, as a standalone HTML page."""
    r = drill.result
    rto_t, rto_src = drill.rto_target()
    rpo_t, rpo_src = drill.rpo_target()
    rto_ok = None if rto_t is None else (r.recovered and r.rto_s is not None and r.rto_s <= rto_t)
    rpo = r.rpo_s if r.lost_writes is not None else None
    rpo_ok = None if rpo_t is None or rpo is None else rpo <= rpo_t
    rows = [
        _row("RTO", rto_t, r.rto_s if r.recovered else None, r.uncertainty_s, rto_ok, rto_src),
        _row("RPO", rpo_t, rpo, rpo_uncertainty(r), rpo_ok, rpo_src),
    ]
    restored = any(p.procedure in after_fault.RESTORE_PROCEDURES for p in getattr(drill, "procedures", []))
    given_up = after_fault.text(r.lost_after_fault_writes, r.lost_after_fault_window, restored)
    lost = (
        f"<p>{r.lost_writes} of {r.acked_writes} acknowledged writes lost"
        + (f": {html.escape(given_up)}" if given_up else "")
        + "</p>"
        if r.lost_writes is not None
        else "<p>no writer: data loss not measured</p>"
    )
    return (
        "<html><body style='font-family:sans-serif'><table border='1' cellpadding='6' "
        "style='border-collapse:collapse'><tr><th>objective</th><th>target</th><th>measured</th>"
        "<th>uncertainty</th><th>margin</th><th>verdict</th><th>target from</th></tr>"
        + "".join(rows)
        + "</table>"
        + lost
        + "</body></html>"
    )
