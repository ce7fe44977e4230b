"""Evidence auditors can trust: drill plans, hash-chained drill records, findings, history, cadence, and
the after-action report. The drill runner uses `load_plan` and `RecordBuilder`; the CLI uses the rest."""

from harness.evidence.audit import render_audit_html, write_audit
from harness.evidence.cadence import DueRow, due
from harness.evidence.findings import Finding, add_finding, close_finding, findings_for_report, list_findings
from harness.evidence.history import HistoryRow, history_chart_png, history_rows, write_history_chart
from harness.evidence.integrity import VerifyReport, verify
from harness.evidence.plan import ROLES, DrillPlan, DrillType, load_plan
from harness.evidence.record import Approval, RecordBuilder, find_record, load_records

__all__ = [
    "ROLES",
    "Approval",
    "DrillPlan",
    "DrillType",
    "DueRow",
    "Finding",
    "HistoryRow",
    "RecordBuilder",
    "VerifyReport",
    "add_finding",
    "close_finding",
    "due",
    "find_record",
    "findings_for_report",
    "history_chart_png",
    "history_rows",
    "list_findings",
    "load_plan",
    "load_records",
    "render_audit_html",
    "verify",
    "write_audit",
    "write_history_chart",
]
