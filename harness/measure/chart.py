"""Timeline PNG: one lane per probe (green = good sample, red = failed), one lane per writer (acks as
ticks, lost writes as red crosses), with fault / detect / recover and free-form events marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.measure.result import MeasurementResult
from harness.measure.sampler import Sample


def _pyplot() -> Any:
    """matplotlib on first use: it is half a second of every `drill` start, and only a chart needs it."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on CI or in the lab
    import matplotlib.pyplot as plt

    return plt


def _spans(series: list[Sample], t_inject: float, interval: float, ok: bool) -> list[tuple[float, float]]:
    """Merge consecutive samples of one state into (start, width) bars, each sample covering an interval."""
    bars: list[tuple[float, float]] = []
    for s in series:
        if s.ok != ok:
            continue
        x = s.t - t_inject
        if bars and x - (bars[-1][0] + bars[-1][1]) <= interval * 0.5:
            bars[-1] = (bars[-1][0], x + interval - bars[-1][0])
        else:
            bars.append((x, interval))
    return bars


def draw_timeline(
    path: Path,
    result: MeasurementResult,
    samples: dict[str, list[Sample]],
    t_inject: float,
    writer_acks: dict[str, list[float]],
    writer_lost: dict[str, list[float]],
) -> None:
    plt = _pyplot()
    lanes = list(samples) + list(writer_acks)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.55 * max(1, len(lanes))), dpi=110)
    for i, name in enumerate(samples):
        series = sorted(samples[name], key=lambda s: s.t)
        ax.broken_barh(_spans(series, t_inject, result.interval_s, True), (i - 0.35, 0.7), color="#4caf50")
        ax.broken_barh(_spans(series, t_inject, result.interval_s, False), (i - 0.35, 0.7), color="#e53935")
    for j, name in enumerate(writer_acks, start=len(samples)):
        acks = [t - t_inject for t in writer_acks[name]]
        ax.vlines(acks, j - 0.3, j + 0.3, color="#1e88e5", linewidth=0.6)
        lost = [t - t_inject for t in writer_lost.get(name, [])]
        if lost:
            ax.plot(lost, [j] * len(lost), "x", color="#b71c1c", markersize=5, label="lost write")
    marks = [(0.0, "fault", "#000000")]
    if result.detect_s is not None:
        marks.append((result.detect_s, "detect", "#ff9800"))
    if result.rto_s is not None and not result.no_outage_observed:
        marks.append((result.rto_s, "recover", "#2e7d32"))
    for i, (x, label, color) in enumerate(marks):
        ax.axvline(x, color=color, linestyle="--", linewidth=1)
        # stagger the labels: fault and detect are often a few ms apart
        ax.text(
            x,
            1.01 + 0.07 * i,
            f" {label} {x:.3f} s",
            color=color,
            fontsize=7,
            va="bottom",
            transform=ax.get_xaxis_transform(),
        )
    for ev in result.events:
        if ev.label not in ("inject",) and not ev.label.startswith("inject"):
            ax.axvline(ev.t_s, color="#9e9e9e", linestyle=":", linewidth=0.8)
            ax.text(ev.t_s, -0.6, ev.label[:30], rotation=90, fontsize=6, color="#616161", va="top")
    ax.set_yticks(range(len(lanes)), [n[:40] for n in lanes])
    ax.set_ylim(-0.7 - (0.8 if result.events else 0), len(lanes) - 0.1)
    ax.set_xlabel("seconds relative to fault injection")
    rto = "not recovered" if result.rto_s is None else f"RTO {result.rto_s:.3f} s ± {result.uncertainty_s:.3f}"
    rpo = "" if result.rpo_s is None else f", RPO {result.rpo_s:.3f} s, lost {result.lost_writes}"
    ax.set_title(f"run {result.run_id}: {rto}{rpo}", fontsize=10, pad=30)
    ax.grid(axis="x", alpha=0.3)
    if any(writer_lost.values()):
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
