"""`drill metrics`: the newest measured result per scenario and objective, as OpenMetrics text for the team's
monitoring (a Pushgateway, a textfile collector, a file Prometheus scrapes).

The rows are `history.history_rows` (the one flattening of drill records into rows) plus what a series
needs beyond them: the record's `target` and the measuring `path`. Gauges, one series per
(scenario, objective, target, path):

    drill_rto_seconds        measured RTO                          (absent when not measured)
    drill_rpo_seconds        measured RPO                          (absent when not measured)
    drill_lost_writes        acknowledged writes lost              (absent without a write ledger)
    drill_verdict            1 objective met; 0 breached, failed or not completed (absent: nothing to judge)
    drill_timestamp_seconds  when the drill run started (Unix seconds)

    from harness.evidence import openmetrics
    rows = openmetrics.latest(openmetrics.export_rows(load_records(reports)))
    text = openmetrics.render(rows)
    openmetrics.push("http://127.0.0.1:9091", text, job="drill")
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from harness.errors import HarnessError
from harness.evidence.history import HistoryRow, history_rows
from harness.redact import mask

# The format the text below is valid in; a Pushgateway or a scrape also reads it as text format 0.0.4
# (the `# EOF` line and `# UNIT` are comments there).
CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PUSH_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LABELS = ("scenario", "objective", "target", "path")

# name -> (unit, help)
FAMILIES: dict[str, tuple[str, str]] = {
    "drill_rto_seconds": (
        "seconds",
        "Measured recovery time (RTO) of the newest drill of this scenario and objective.",
    ),
    "drill_rpo_seconds": (
        "seconds",
        "Measured data-loss window (RPO) of the newest drill of this scenario and objective.",
    ),
    "drill_lost_writes": ("", "Acknowledged writes the newest drill found lost after recovery."),
    "drill_verdict": (
        "",
        "1 when the newest drill met its objective; 0 when it was breached, failed or not completed.",
    ),
    "drill_timestamp_seconds": ("seconds", "Start of the newest drill run of this scenario and objective (Unix time)."),
}


@dataclass(frozen=True)
class ExportRow:
    """One history row of a record, with the record's target and the measuring path that wrote it."""

    history: HistoryRow
    target: str  # the record's target (the environment it ran against: local, staging, ...)
    path: str  # gherkin | chaos | measure | restore | ... (see measuring_path)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.history.scenario, self.history.objective or "", self.target, self.path

    @property
    def labels(self) -> dict[str, str]:
        return dict(zip(LABELS, self.key))

    @property
    def verdict(self) -> int | None:
        """1 met, 0 breached / failed / not completed, None when there was no numeric target to judge."""
        h = self.history
        if h.passed is False or h.status in ("failed", "broken"):
            return 0
        if h.passed is True and h.status == "passed":
            return 1
        return None

    @property
    def timestamp(self) -> float:
        return self.history.started.timestamp()


def measuring_path(record: dict[str, Any], scenario: dict[str, Any]) -> str:
    """Which measuring path wrote this result: the record's (or scenario's) own `path` field when it has one,
    else `gherkin` for a scenario of a .feature file, `chaos` for a Chaos Toolkit experiment file,
    `other` otherwise."""
    for holder in (scenario, record):
        explicit = holder.get("path")
        if isinstance(explicit, str) and explicit:
            return explicit
    feature = str(scenario.get("feature") or "")
    if feature.endswith(".feature"):
        return "gherkin"
    if feature.endswith((".json", ".yaml", ".yml")):
        return "chaos"
    return "other"


def export_rows(records: list[dict[str, Any]]) -> list[ExportRow]:
    """Every (record, scenario) as an ExportRow, oldest first (history_rows' order)."""
    by_id = {rec["id"]: rec for rec in records}
    out = []
    for row in history_rows(records):
        rec = by_id[row.record]
        scenario = next((s for s in rec.get("scenarios", []) if s.get("name") == row.scenario), {})
        out.append(ExportRow(row, str(rec.get("target") or ""), measuring_path(rec, scenario)))
    return out


def latest(rows: Iterable[ExportRow]) -> list[ExportRow]:
    """The newest row per (scenario, objective, target, path), ordered by those labels."""
    newest: dict[tuple[str, ...], ExportRow] = {}
    for r in rows:
        have = newest.get(r.key)
        if have is None or (r.history.started, r.history.record) >= (have.history.started, have.history.record):
            newest[r.key] = r
    return [newest[k] for k in sorted(newest)]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _values(row: ExportRow) -> dict[str, float | int | None]:
    h = row.history
    return {
        "drill_rto_seconds": h.rto_s,
        "drill_rpo_seconds": h.rpo_s,
        "drill_lost_writes": h.lost_writes,
        "drill_verdict": row.verdict,
        "drill_timestamp_seconds": row.timestamp,
    }


def render(rows: Iterable[ExportRow]) -> str:
    """OpenMetrics text (families with # TYPE / # UNIT / # HELP, then `# EOF`). Rows with the same labels are
    reduced to the newest (a series has one value); a value that was not measured is left out."""
    chosen = latest(rows)
    lines: list[str] = []
    for name, (unit, help_text) in FAMILIES.items():
        lines.append(f"# TYPE {name} gauge")
        if unit:
            lines.append(f"# UNIT {name} {unit}")
        lines.append(f"# HELP {name} {help_text}")
        for row in chosen:
            value = _values(row)[name]
            if value is None:
                continue
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in row.labels.items())
            lines.append(f"{name}{{{labels}}} {_number(value)}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def push_url(url: str, job: str = "drill") -> str:
    """The Pushgateway URL of a job's group: <base>/metrics/job/<job> (a base that already ends in
    /metrics/job/... is used as is)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HarnessError(f"--push {mask(url)!r}: expected the Pushgateway's http:// or https:// URL")
    if not job or not job.strip():
        raise HarnessError("the Pushgateway job name must not be empty")
    base = url.rstrip("/")
    if "/metrics/job/" in parts.path:
        return base
    return f"{base}/metrics/job/{quote(job, safe='')}"


def push(url: str, text: str, job: str = "drill", timeout: float = 10.0) -> str:
    """PUT `text` to the Pushgateway at `url` as job `job` (replacing what that job pushed before); returns
    the group URL, secrets masked. HarnessError naming the (masked) URL on any failure."""
    target = push_url(url, job)
    shown = mask(target)
    try:
        resp = httpx.put(
            target,
            content=text.encode(),
            headers={"Content-Type": PUSH_CONTENT_TYPE},
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
        )
    except httpx.HTTPError as err:
        raise HarnessError(f"push to {shown} failed: {type(err).__name__}: {mask(str(err))[:200]}") from None
    if resp.status_code not in (200, 202):
        body = mask(resp.text.strip())[:300]
        raise HarnessError(f"push to {shown} failed: HTTP {resp.status_code}" + (f": {body}" if body else ""))
    return shown
