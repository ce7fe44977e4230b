"""The table `drill run` ends with: every scenario, its targets, what was measured, and the verdict."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from harness.measure import after_fault, judgement

VERDICT_STYLE = {"PASS": "green", "MET": "green", "SKIPPED": "dim", "BROKEN": "magenta", "ABORTED": "magenta"}
# The judgement's words for an objective's outcome: a scenario failed on its RTO or RPO shows the record's word.
_OBJECTIVE_WORDS = (judgement.RTO_BREACHED, judgement.RPO_BREACHED, judgement.BOTH_BREACHED, judgement.NOT_RECOVERED)
_OBJECTIVE_BREACHES = (judgement.RTO_BREACHED, judgement.RPO_BREACHED)


def _s(x: float | None, unc: float | None = None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f} ± {unc:.2f} s" if unc else f"{x:.2f} s"


def verdict(s: dict[str, Any]) -> str:
    status = s.get("status")
    if status == "skipped":
        return "SKIPPED"
    if s.get("aborted"):  # a guard stopped it: no verdict on the objective, whatever the numbers say
        return "ABORTED"
    if status == "broken":
        return "BROKEN"
    word = s.get("verdict_name")
    if status == "failed":
        # The first failed Then-step's word (checks.Checked.breach), never the text of its message.
        breach = next((c.get("breach") for c in s.get("checks") or [] if not c.get("ok") and c.get("breach")), None)
        if breach in _OBJECTIVE_BREACHES and word in _OBJECTIVE_WORDS:
            return judgement.label(word)  # the judgement's word, as `drill measure` and the control print it
        return breach.replace("-", " ").upper() if breach else "FAILED"
    return judgement.label(judgement.MET) if word == judgement.MET else "PASS"


def row(s: dict[str, Any]) -> list[str]:
    m = s.get("measurement") or {}
    # The target a Then step judged against ("within 12 seconds") wins over the objective's.
    judged = {c.get("what"): c.get("target") for c in s.get("checks") or [] if c.get("target") is not None}
    t = {**(s.get("targets") or {}), **{f"{k}_s": judged[k] for k in ("rto", "rpo") if k in judged}}
    if m and m.get("recovered"):
        rto = _s(m.get("rto_s"), m.get("uncertainty_s"))
        if m.get("no_outage_observed"):
            rto += " (no outage" + (f"; degraded {m['degraded_s']:.1f} s)" if m.get("degraded_s") else ")")
        for c in s.get("cross_checks") or []:
            if c.get("t_s") is not None:
                rto += f"; {c['event'].split()[0]} at {c['t_s']:.2f} s ({c['source']})"
                break
    elif m:
        rto = f"> {m.get('rto_at_least_s') or 0:.1f} s (not recovered)"
    else:
        rto = "-"
    writers = m.get("writers") or []
    rpo = _s(m.get("rpo_s")) if writers and m.get("lost_writes") is not None else "-"
    lost = f"{m.get('lost_writes')} / {m.get('acked_writes')}" if writers else "-"
    restored = any(p.get("procedure") in after_fault.RESTORE_PROCEDURES for p in s.get("procedures") or [])
    given_up = after_fault.text(m.get("lost_after_fault_writes"), m.get("lost_after_fault_window"), restored)
    if writers and given_up:
        lost += f": {given_up}"
    v = verdict(s)
    style = VERDICT_STYLE.get(v, "red")
    return [s.get("name", "?"), _s(t.get("rto_s")), rto, _s(t.get("rpo_s")), rpo, lost, f"[{style}]{v}[/]"]


def table(scenarios: list[dict[str, Any]], title: str = "Drills: measured vs DR plan targets") -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("scenario", "RTO target", "RTO measured", "RPO target", "RPO measured", "lost / acked", "verdict"):
        t.add_column(col, overflow="fold")
    for s in scenarios:
        t.add_row(*row(s))
    return t


def problems(scenarios: list[dict[str, Any]]) -> list[str]:
    """One line per scenario that did not pass, with its reason (skips included)."""
    return [
        f"{s.get('name')}: {verdict(s)}: {(s.get('message') or '').strip().splitlines()[0][:300]}"
        for s in scenarios
        if s.get("status") != "passed" and s.get("message")
    ]
