"""`drill audit`: the after-action report of one drill as a single self-contained HTML file.

Sections follow the after-action report of NIST SP 800-84 (objectives, scope, participants, timeline,
results against targets, issues, corrective actions, sign-off) plus what makes it checkable: the evidence
files with their hashes and the result of `drill verify` when the report was generated. Everything is inline
(CSS, charts as data: URIs): no JavaScript, no external request, so it opens the same from a mail attachment
in ten years. Values are escaped with html.escape; nothing from a record is ever interpreted as markup.
"""

from __future__ import annotations

import base64
import html
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from harness.evidence import paths
from harness.evidence.findings import Finding, findings_for_report, list_findings
from harness.evidence.history import history_chart_png, history_rows
from harness.evidence.integrity import VerifyReport, verify
from harness.evidence.record import find_record, load_records, parse_utc, utc_iso
from harness.measure import after_fault

# The RTO/RPO table's background: used by nothing else on the page, so a screenshot test can find the table.
RESULTS_TABLE_BG = "#f3f0ff"
ALLURE_CANDIDATES = ("allure-report/index.html", "allure/index.html", "allure-report.html")
MAX_EMBEDDED_IMAGE = 3 * 1024 * 1024
SECTIONS = (
    "summary",
    "objectives",
    "scope",
    "participants",
    "timeline",
    "results",
    "issues",
    "actions",
    "evidence",
    "integrity",
    "allure",
    "signoff",
)

CSS = f"""
body {{ font: 14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d232b; margin: 0;
       background: #ffffff; }}
main {{ max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
h2 {{ font-size: 18px; border-bottom: 2px solid #d7dce2; padding-bottom: 4px; margin-top: 28px; }}
.sub {{ color: #59636e; margin: 0 0 12px; }}
table {{ border-collapse: collapse; width: 100%; margin: 8px 0; }}
th, td {{ border: 1px solid #d7dce2; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eef1f4; }}
table.results, table.results th, table.results td {{ background: {RESULTS_TABLE_BG}; }}
table.results th {{ font-weight: 700; }}
.pass {{ color: #0b6b2b; font-weight: 700; }}
.fail {{ color: #b3261e; font-weight: 700; }}
.muted {{ color: #59636e; }}
code, .hash {{ font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }}
.badge {{ display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 700; color: #fff; }}
.badge.ok {{ background: #1f7a3a; }} .badge.bad {{ background: #b3261e; }}
.signoff td {{ height: 34px; }}
img {{ max-width: 100%; border: 1px solid #d7dce2; }}
@media print {{ main {{ padding: 0; }} h2 {{ break-after: avoid; }} table {{ break-inside: auto; }} }}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _s(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".") + " s"


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return '<span class="muted">no numeric target</span>'
    return '<span class="pass">met</span>' if ok else '<span class="fail">BREACHED</span>'


def _table(headers: list[str], rows: list[list[str]], cls: str = "", empty: str = "none") -> str:
    """Cells are already-escaped HTML."""
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _detail(detail: dict[str, Any]) -> str:
    """A timeline event's detail in words: `fault: db-primary-crash; params: seconds 4`, not Python reprs;
    empty values (an unset `confirmed_by`) are left out."""
    parts = [f"{esc(_key(k))}: {esc(words)}" for k, v in (detail or {}).items() if (words := _words(k, v))]
    return "; ".join(parts)


def _key(key: str) -> str:
    return key.removesuffix("_s").replace("_", " ")


def _words(key: str, value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int) and key.endswith("_s"):
        return f"{value:g} s"
    if isinstance(value, dict):
        return ", ".join(f"{_key(str(k))} {w}" for k, v in value.items() if (w := _words(str(k), v)))
    if isinstance(value, list | tuple):
        return ", ".join(w for v in value if (w := _words(key, v)))
    return str(value)


def _restored(record: dict[str, Any], scenario: str) -> bool:
    """The scenario ran a procedure that restores to a recovery point (its timeline's recovery steps say)."""
    return any(
        (e.get("detail") or {}).get("scenario") == scenario
        and (e.get("detail") or {}).get("procedure") in after_fault.RESTORE_PROCEDURES
        for e in record.get("timeline", [])
    )


def allure_link(reports: Path, out: Path) -> str | None:
    """Relative path from the report to the Allure report, if one exists under the reports dir."""
    for rel in ALLURE_CANDIDATES:
        candidate = reports / rel
        if candidate.is_file():
            return Path(os.path.relpath(candidate.resolve(), out.resolve().parent)).as_posix()
    return None


def render_audit_html(
    record: dict[str, Any],
    records: list[dict[str, Any]],
    findings: list[Finding],
    check: VerifyReport,
    reports: Path,
    out: Path,
    generated: datetime | None = None,
) -> str:
    generated = generated or datetime.now(UTC)
    plan = record.get("plan") or {}
    started = parse_utc(record["started"])
    scenarios = record.get("scenarios", [])
    outcome = record.get("outcome") or {}
    parts: list[str] = []
    add = parts.append

    title = f"After-action report: {plan.get('name') or 'ad-hoc drill'}"
    add(f"<h1>{esc(title)}</h1>")
    add(
        f'<p class="sub">Record <code>{esc(record["id"])}</code> · {esc(record["started"])} → '
        f"{esc(record['ended'])} · generated {esc(utc_iso(generated))}</p>"
    )

    # --- summary
    verdict_badge = (
        '<span class="badge ok">PASSED</span>' if outcome.get("passed") else '<span class="badge bad">FAILED</span>'
    )
    integrity_badge = (
        '<span class="badge ok">chain intact</span>' if check.ok else '<span class="badge bad">chain NOT intact</span>'
    )
    add('<section id="summary"><h2>Summary</h2>')
    add(
        _table(
            ["Drill type (plan §6.1)", "Plan", "Outcome", "Evidence integrity", "Operator", "Duration"],
            [
                [
                    esc(plan.get("type", "ad-hoc (no plan)")),
                    esc(plan.get("name", "—"))
                    + (
                        f'<br><span class="hash">{esc(plan.get("file"))} sha256 {esc(plan.get("sha256"))}</span>'
                        if plan.get("sha256")
                        else ""
                    ),
                    verdict_badge,
                    integrity_badge,
                    esc(record.get("operator")),
                    _s(record.get("duration_s"), 1),
                ]
            ],
        )
    )
    if plan.get("description"):
        add(f"<p>{esc(plan['description'])}</p>")
    add("</section>")

    # --- objectives
    add('<section id="objectives"><h2>Objectives</h2>')
    add(
        _table(
            ["Scenario", "Objective (catalog key)", "Source", "RTO target", "RPO target"],
            [
                [
                    esc(s["name"]),
                    f"<code>{esc((s.get('objective') or {}).get('key'))}</code>",
                    esc((s.get("objective") or {}).get("source")),
                    _s(s["target"].get("rto_s")),
                    _s(s["target"].get("rpo_s")),
                ]
                for s in scenarios
            ],
            empty="no scenario ran",
        )
    )
    crit = plan.get("success_criteria") or {"all_objectives_met": True}
    add(
        "<p><b>Success criteria:</b> "
        + esc(
            ", ".join(
                [("all objectives met" if crit.get("all_objectives_met") else "objectives informational")]
                + ([f"RTO ≤ {crit['max_rto_s']:g} s"] if crit.get("max_rto_s") is not None else [])
                + ([f"RPO ≤ {crit['max_rpo_s']:g} s"] if crit.get("max_rpo_s") is not None else [])
                + ([crit["notes"]] if crit.get("notes") else [])
            )
        )
        + "</p>"
    )
    add(
        _table(
            ["Criterion", "Result", "Detail"],
            [[esc(c["criterion"]), _verdict(c["ok"]), esc(c["detail"])] for c in outcome.get("checks", [])],
        )
    )
    add("</section>")

    # --- scope
    scope = plan.get("scope") or {}
    window = plan.get("window") or {}
    add('<section id="scope"><h2>Scope</h2>')
    add(
        _table(
            ["Scenarios in plan", "Tag expression", "Scenarios run", "Target", "Environment", "Window"],
            [
                [
                    esc(", ".join(scope.get("scenarios", [])) or "—"),
                    f"<code>{esc(scope.get('tags') or '—')}</code>",
                    esc(", ".join(s["name"] for s in scenarios)),
                    esc(record.get("target")),
                    esc(record.get("environment")),
                    esc(f"{window.get('start')} → {window.get('end')}" if window else "—"),
                ]
            ],
        )
    )
    out_of_scope = [s["name"] for s in scenarios if s.get("in_plan_scope") is False]
    if out_of_scope:
        add(f'<p class="fail">Ran outside the plan\'s scope: {esc(", ".join(out_of_scope))}</p>')
    add("</section>")

    # --- participants & approvals
    add('<section id="participants"><h2>Participants and approvals</h2>')
    people = [[esc(p["name"]), esc(p["role"])] for p in plan.get("participants", [])]
    people.append([esc(record.get("operator")), "Operator (ran the harness)"])
    add(_table(["Name", "Role (plan §7.2)"], people))
    add(
        _table(
            ["Ticket", "Approver", "Approved at (UTC)"],
            [[esc(a["ticket"]), esc(a["approver"]), esc(a["at"])] for a in record.get("approvals", [])],
            empty="no approval recorded",
        )
    )
    add(f'<p class="muted">Host {esc(record.get("host"))}</p></section>')

    # --- timeline
    add('<section id="timeline"><h2>Timeline</h2>')
    add(
        _table(
            ["Time (UTC)", "T+", "Event", "Detail"],
            [
                [
                    esc(e["at"]),
                    _s((parse_utc(e["at"]) - started).total_seconds(), 2),
                    esc(e["kind"]),
                    _detail(e["detail"]),
                ]
                for e in record.get("timeline", [])
            ],
            empty="no events recorded",
        )
    )
    add("</section>")

    # --- results: target vs actual
    add('<section id="results"><h2>Results: target vs measured RTO/RPO</h2>')
    rows = []
    for s in scenarios:
        m, t, v = s.get("measured") or {}, s.get("target") or {}, s.get("verdict") or {}
        rto_v, rpo_v = v.get("rto") or {}, v.get("rpo") or {}
        rows.append(
            [
                esc(s["name"]),
                _s(t.get("rto_s")),
                _s(m.get("rto_s")) + ("" if m.get("recovered", True) else ' <span class="fail">not recovered</span>'),
                "± " + _s(m.get("uncertainty_s")),
                _s(rto_v.get("margin_s")),
                _verdict(rto_v.get("ok")),
                _s(t.get("rpo_s")),
                _s(m.get("rpo_s")),
                esc(m.get("lost_writes", "—"))
                + (
                    f' <span class="muted">({esc(given_up)})</span>'
                    if (
                        given_up := after_fault.text(
                            m.get("lost_after_fault_writes"),
                            m.get("lost_after_fault_window"),
                            _restored(record, s["name"]),
                        )
                    )
                    else ""
                ),
                _s(rpo_v.get("margin_s")),
                _verdict(rpo_v.get("ok")),
                esc(s.get("status")),
            ]
        )
    add(
        _table(
            [
                "Scenario",
                "RTO target",
                "RTO measured",
                "Uncertainty",
                "RTO margin",
                "RTO verdict",
                "RPO target",
                "RPO measured",
                "Lost writes",
                "RPO margin",
                "RPO verdict",
                "Status",
            ],
            rows,
            cls="results",
            empty="no scenario ran",
        )
    )
    add(
        '<p class="muted">Margin = target − measured (negative: breached). Uncertainty = probe interval + '
        "probe timeout.</p>"
    )
    names = {s["name"] for s in scenarios}
    upto = records[: next((i for i, r in enumerate(records) if r["id"] == record["id"]), len(records)) + 1]
    trend = [r for r in history_rows(upto) if r.scenario in names]
    if trend:
        add(f'<h3>Trend across drills</h3><img alt="RTO/RPO trend" src="{_data_uri(history_chart_png(trend))}">')
    for item in record.get("evidence", []):
        path = reports / item["path"]
        if item["path"].endswith(".png") and path.is_file() and path.stat().st_size <= MAX_EMBEDDED_IMAGE:
            add(f'<h3>{esc(item["path"])}</h3><img alt="{esc(item["path"])}" src="{_data_uri(path.read_bytes())}">')
    add("</section>")

    # --- issues & corrective actions
    today = generated.date()
    add('<section id="issues"><h2>Issues found</h2>')
    add(
        _table(
            ["Finding", "Issue", "Raised on drill", "Opened", "Status"],
            [
                [
                    esc(f.id),
                    esc(f.title),
                    f"<code>{esc(f.record)}</code>" + (" (earlier drill)" if f.record != record["id"] else ""),
                    esc(f.opened_at[:10]),
                    _finding_status(f, today),
                ]
                for f in findings
            ],
            empty="no issues recorded",
        )
    )
    add("</section>")
    add('<section id="actions"><h2>Corrective actions</h2>')
    add(
        _table(
            ["Finding", "Action", "Owner", "Due", "Status / reference"],
            [
                [esc(f.id), esc(f.action), esc(f.owner), esc(f.due.isoformat()), _finding_status(f, today)]
                for f in findings
            ],
            empty="no corrective actions recorded",
        )
    )
    add("</section>")

    # --- evidence
    add('<section id="evidence"><h2>Evidence files</h2>')
    add(
        _table(
            ["File (relative to the reports dir)", "Bytes", "SHA-256"],
            [
                [f"<code>{esc(e['path'])}</code>", esc(e["size"]), f'<span class="hash">{esc(e["sha256"])}</span>']
                for e in record.get("evidence", [])
            ],
            empty="no evidence files",
        )
    )
    add(
        f'<p>Record hash <span class="hash">{esc(record.get("hash"))}</span><br>previous '
        f'<span class="hash">{esc(record.get("prev_hash"))}</span><br>signature: '
        f"{'HMAC-SHA256 present' if record.get('signature') else 'unsigned'}</p></section>"
    )

    # --- integrity
    add('<section id="integrity"><h2>Integrity check (drill verify at generation time)</h2>')
    add(f"<p>{integrity_badge} {esc(check.summary())}</p>")
    if not check.ok:
        add("<ul>" + "".join(f"<li>{esc(p)}</li>" for p in check.problems) + "</ul>")
    add(
        f'<p class="muted">Records chain head: <span class="hash">{esc(check.head)}</span>. Re-run '
        f"<code>drill verify</code> to check again.</p></section>"
    )

    # --- allure
    link = allure_link(reports, out)
    add('<section id="allure"><h2>Test report</h2>')
    add(
        f'<p>Allure report: <a href="{esc(link)}">{esc(link)}</a></p>'
        if link
        else '<p class="muted">No Allure report was found beside these records.</p>'
    )
    harness = record.get("harness") or {}
    add(
        f'<p class="muted">Harness {esc(harness.get("version"))}, revision <code>{esc(harness.get("revision"))}'
        f"</code>{' (uncommitted changes)' if harness.get('dirty') else ''}</p></section>"
    )

    # --- sign-off
    add('<section id="signoff"><h2>Sign-off</h2>')
    signers = [(p["name"], p["role"]) for p in plan.get("participants", []) if p["role"] == "DR Coordinator"]
    signers += [(a["name"], a.get("title") or "Approver") for a in plan.get("approvers", [])]
    if not signers:
        signers = [("", "DR Coordinator"), ("", "Approver")]
    add(_table(["Name", "Role", "Signature", "Date"], [[esc(n), esc(r), "", ""] for n, r in signers], cls="signoff"))
    add("</section>")

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{esc(title)}</title><meta name="viewport" content="width=device-width">'
        f"<style>{CSS}</style></head><body><main>\n" + "\n".join(parts) + "\n</main></body></html>\n"
    )


def _finding_status(f: Finding, today: date) -> str:
    if not f.is_open:
        return f'<span class="pass">closed</span> {esc(f.closed_at[:10])} — {esc(f.reference)}'
    return '<span class="fail">OPEN, overdue</span>' if f.overdue(today) else "open"


def write_audit(
    reports: str | Path | None = None, record_id: str | None = None, out: str | Path | None = None, pdf: bool = False
) -> tuple[Path, Path | None]:
    """Write the after-action report of `record_id` (default: the latest) and optionally its PDF."""
    base = paths.reports_dir(reports)
    record = find_record(base, record_id)
    out = Path(out) if out else base / "audit" / f"{record['id']}.html"
    records = load_records(base)
    shown = findings_for_report(record, records, list_findings(base))
    page = render_audit_html(record, records, shown, verify(base), base, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    pdf_path = None
    if pdf:
        from harness.evidence.browser import print_pdf

        pdf_path = print_pdf(out, out.with_suffix(".pdf"))
    return out, pdf_path
