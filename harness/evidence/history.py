"""`drill history`: measured RTO/RPO per scenario across drill records, as rows and as a PNG trend chart."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.evidence.record import parse_utc, record_path
from harness.measure import judgement


@dataclass
class HistoryRow:
    started: datetime
    record: str
    plan_type: str  # the plan's §6.1 type, or "ad-hoc"
    scenario: str
    objective: str | None
    rto_s: float | None
    rto_target_s: float | None
    rpo_s: float | None
    rpo_target_s: float | None
    uncertainty_s: float | None
    lost_writes: int | None
    passed: bool | None  # the measurement verdict; None when no numeric target was given
    status: str
    path: str = "gherkin"  # which path measured: gherkin, chaos-toolkit, measure
    verdict: str | None = None  # the judgement's word (met, rto-breached, ...; harness.measure.judgement)

    @property
    def quarter(self) -> str:
        return quarter_of(self.started)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started"], d["quarter"] = self.started.isoformat(), self.quarter
        return d


def quarter_of(moment: datetime) -> str:
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def history_rows(records: list[dict[str, Any]], scenario: str | None = None) -> list[HistoryRow]:
    """One row per (record, scenario), oldest first; `scenario` filters by exact name."""
    rows = []
    for rec in records:
        for s in rec.get("scenarios", []):
            if scenario is not None and s["name"] != scenario:
                continue
            m, t, v = s.get("measured") or {}, s.get("target") or {}, s.get("verdict") or {}
            rows.append(
                HistoryRow(
                    started=parse_utc(rec["started"]),
                    record=rec["id"],
                    plan_type=(rec.get("plan") or {}).get("type", "ad-hoc"),
                    scenario=s["name"],
                    objective=(s.get("objective") or {}).get("key"),
                    rto_s=m.get("rto_s"),
                    rto_target_s=t.get("rto_s"),
                    rpo_s=m.get("rpo_s"),
                    rpo_target_s=t.get("rpo_s"),
                    uncertainty_s=m.get("uncertainty_s"),
                    lost_writes=m.get("lost_writes"),
                    passed=v.get("passed"),
                    status=s.get("status", "?"),
                    path=record_path(rec),
                    verdict=v.get("name") or judgement.name(m.get("recovered", True), v or None),
                )
            )
    return sorted(rows, key=lambda r: (r.started, r.scenario))


def history_chart_png(rows: list[HistoryRow], title: str = "Measured RTO/RPO per drill") -> bytes:
    """Two panels (RTO, RPO): x = drill date with quarter ticks, y = seconds; the target drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, constrained_layout=True)
    scenarios = sorted({r.scenario for r in rows})
    colours = plt.get_cmap("tab10")
    for ax, key, label in ((axes[0], "rto", "RTO"), (axes[1], "rpo", "RPO")):
        for i, name in enumerate(scenarios):
            pts = [r for r in rows if r.scenario == name]
            colour = colours(i % 10)
            xs = [r.started for r in pts if getattr(r, f"{key}_s") is not None]
            ys = [getattr(r, f"{key}_s") for r in pts if getattr(r, f"{key}_s") is not None]
            if xs:
                errs = (
                    [r.uncertainty_s or 0 for r in pts if getattr(r, f"{key}_s") is not None] if key == "rto" else None
                )
                ax.errorbar(xs, ys, yerr=errs, marker="o", color=colour, capsize=3, label=f"{name} measured")
            tx = [r.started for r in pts if getattr(r, f"{key}_target_s") is not None]
            ty = [getattr(r, f"{key}_target_s") for r in pts if getattr(r, f"{key}_target_s") is not None]
            if tx:
                if len(tx) == 1:  # one drill: still draw the target as a visible line
                    ax.axhline(ty[0], color=colour, linestyle="--", linewidth=1.2, label=f"{name} target")
                else:
                    ax.step(tx, ty, where="post", color=colour, linestyle="--", linewidth=1.2, label=f"{name} target")
            failed = [
                (r.started, getattr(r, f"{key}_s"))
                for r in pts
                if r.passed is False and getattr(r, f"{key}_s") is not None
            ]
            if failed:
                ax.scatter(*zip(*failed), marker="x", s=80, color="black", zorder=5)
        ax.set_ylabel(f"{label} (seconds)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if scenarios:
            ax.legend(fontsize=7, loc="upper left")
    axes[0].set_title(title + ("  (x = breached)" if any(r.passed is False for r in rows) else ""))
    axes[1].xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda x, _: quarter_of(mdates.num2date(x))))
    axes[1].set_xlabel("drill date (ticks at quarter starts)")
    if rows:
        lo, hi = min(r.started for r in rows), max(r.started for r in rows)
        pad = max((hi - lo) * 0.05, timedelta(days=20))
        axes[1].set_xlim(lo - pad, hi + pad)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_history_chart(rows: list[HistoryRow], path: str | Path, title: str = "Measured RTO/RPO per drill") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(history_chart_png(rows, title))
    return path
