"""The human summary of a result: one rich table (RTO ± uncertainty, detect, outages, RPO, verdict)."""

from __future__ import annotations

from rich.table import Table

from harness.measure import judgement
from harness.measure.result import Check, MeasurementResult


def _s(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f} s"


def _check(name: str, c: Check | None) -> tuple[str, str] | None:
    if c is None:
        return None
    mark = "[green]OK[/]" if c.ok else "[bold red]BREACHED[/]"
    margin = "—" if c.margin_s is None else f"{c.margin_s:+.3f} s"
    return f"verdict {name}", f"{mark}  measured {_s(c.measured_s)} vs target {_s(c.target_s)}, margin {margin}"


def summary_table(r: MeasurementResult) -> Table:
    t = Table(title=f"drill measure — run {r.run_id}", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value")
    if r.recovered:
        rto = f"{r.rto_s:.3f} s ± {r.uncertainty_s:.3f} s" + ("  (no outage observed)" if r.no_outage_observed else "")
    else:
        rto = f"[bold red]NOT RECOVERED[/] (still unstable {r.rto_at_least_s:.1f} s after the fault)"
    t.add_row("RTO", rto)
    t.add_row("detect", "—" if r.detect_s is None else f"{r.detect_s:.3f} s ± {r.uncertainty_s:.3f} s")
    t.add_row("interval / stable", f"{r.interval_s * 1000:.0f} ms / {r.stable_s:g} s")
    t.add_row(
        "degraded",
        f"{r.degraded_s:.3f} s"
        if r.degraded_s
        else "never (or no degraded threshold set)"
        if not any(p.degraded_threshold_s for p in r.probes)
        else "0.000 s",
    )
    for p in r.probes:
        wins = ", ".join(f"{w.start_s:.2f}→{'…' if w.end_s is None else f'{w.end_s:.2f}'}" for w in p.outages[:6])
        more = f" (+{len(p.outages) - 6} more)" if len(p.outages) > 6 else ""
        budget = (
            ""
            if p.budget_s is None
            else f"budget {p.budget_s * 1000:.0f} ms"
            + (f", degraded > {p.degraded_threshold_s * 1000:.0f} ms" if p.degraded_threshold_s else "")
            + "; "
        )
        lat = r.latency.get(p.name)
        during = lat.during if lat is not None else None
        pct = (
            f"; during p50/p95/p99 {during.p50_ms:.0f}/{during.p95_ms:.0f}/{during.p99_ms:.0f} ms"
            if during is not None and during.n and during.p95_ms is not None
            else ""
        )
        t.add_row(
            f"probe {p.name}",
            f"{budget}{p.failures}/{p.samples} failed; outages {wins or 'none'}{more}"
            + (f"; degraded {p.degraded_s:.2f} s" if p.degraded_samples else "")
            + pct
            + (f"; last error: {p.last_error}" if p.last_error else "")
            + (f"; {p.stalls} sample(s) discarded: harness stalled" if p.stalls else "")
            + (f"; {p.skipped_ticks} tick(s) skipped at {p.max_in_flight} checks in flight" if p.skipped_ticks else "")
            + (f"; {p.missed_ticks} tick(s) missed: the harness was late" if p.missed_ticks else "")
            + (f"; last answered by {p.last_member}" if p.last_member else ""),
        )
    t.add_row("error rate (during)", f"{r.error_rate:.1%} of {r.samples_during} samples")
    for w in r.witnesses:
        seen = (
            f"recovered after {w.recover_s:.2f} s ± {w.uncertainty_s:.2f} s"
            if w.outage_observed and w.recovered
            else "no outage observed"
            if w.recovered
            else "[bold red]NOT recovered[/]"
        )
        t.add_row(f"witness {w.name}", f"{seen} ({w.resolution_s:g} s resolution; {w.spec})")
    for warning in r.warnings:
        t.add_row("[yellow]warning[/]", warning)
    for w in r.writers:
        if w.readback_error:
            t.add_row(f"writer {w.name}", f"[red]read-back failed:[/] {w.readback_error}")
            continue
        window = (
            "" if w.lost_window is None else f", lost window {w.lost_window.first_s:.2f}…{w.lost_window.last_s:.2f} s"
        )
        t.add_row(
            f"writer {w.name}",
            f"RPO {_s(w.rpo_s)}; lost {w.lost_writes}/{w.acked} acked{window}; "
            f"unexpected {w.unexpected_writes}; indeterminate {w.indeterminate_writes} "
            f"({w.indeterminate_present} present)",
        )
    if r.writers:
        t.add_row("RPO", _s(r.rpo_s))
    for name, cmd in (("fault", r.fault), ("recovery", r.recovery)):
        if cmd is not None:
            status = "killed at the deadline" if cmd.exit_code is None else f"exit {cmd.exit_code}"
            style = "" if cmd.exit_code == 0 else "[bold red]"
            tail = f"; stderr: {cmd.stderr_tail.splitlines()[-1]}" if cmd.exit_code != 0 and cmd.stderr_tail else ""
            t.add_row(f"{name} command", f"{style}{status}{'[/]' if style else ''} after {cmd.duration_s:.2f} s{tail}")
    if r.verdict is not None:
        for row in (_check("RTO", r.verdict.rto), _check("RPO", r.verdict.rpo)):
            if row:
                t.add_row(*row)
    word = judgement.name_of(r)  # the judgement's word: the record, the control and the Gherkin steps use it too
    if r.verdict is not None or not judgement.passed(word):
        t.add_row(
            "verdict", ("[bold green]PASSED[/]" if judgement.passed(word) else "[bold red]FAILED[/]") + f" — {word}"
        )
    else:
        t.add_row("verdict", f"{word} (nothing to judge against)")
    return t
