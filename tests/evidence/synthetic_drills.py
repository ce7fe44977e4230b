"""Synthetic but realistic drill runs: a plan, measurement results shaped like the measurement engine's
result.json, and evidence files (result JSON, samples CSV, timeline PNG, journal, Allure result) on disk."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from harness.evidence import RecordBuilder, load_plan
from harness.redact import clean

REPO = Path(__file__).resolve().parents[2]
PLANS = REPO / "plans"
SECRET_PASSWORD = "s3cr3t-Pa55"


def measurement(
    rto: float, rpo: float, target_rto: float = 120.0, target_rpo: float = 0.0, lost: int = 0, recovered: bool = True
) -> dict:
    rto_ok, rpo_ok = rto <= target_rto, rpo <= target_rpo
    return {
        "run_id": "run-1",
        "t_inject_wall": "2025-01-14T10:00:05.000Z",
        "rto_s": rto,
        "detect_s": 0.05,
        "recovered": recovered,
        "no_outage_observed": False,
        "outages": {"pg-write": [{"start_s": 0.05, "end_s": rto}]},
        "rpo_s": rpo,
        "lost_writes": lost,
        "acked_writes": 412,
        "unexpected_writes": 0,
        "indeterminate_writes": 1,
        "lost_window": {"first_s": -rpo, "last_s": 0.0} if lost else None,
        "interval_s": 0.05,
        "uncertainty_s": 0.09,
        "error_rate": 0.93,
        "latency_ms": {"p50": 1.2, "p99": 8.4},
        "events": [{"t_s": 0.0, "label": "inject"}, {"t_s": rto, "label": "stable"}],
        "dsn": f"postgresql://drill:{SECRET_PASSWORD}@127.0.0.1:5432/drill",
        "verdict": {
            "rto": {"target_s": target_rto, "measured_s": rto, "margin_s": round(target_rto - rto, 3), "ok": rto_ok},
            "rpo": {"target_s": target_rpo, "measured_s": rpo, "margin_s": round(target_rpo - rpo, 3), "ok": rpo_ok},
            "passed": rto_ok and rpo_ok,
        },
    }


def write_run_files(run_dir: Path, result: dict) -> Path:
    """What a measured run leaves behind: result.json, samples.csv, timeline.png, journal.json, an Allure result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir.mkdir(parents=True, exist_ok=True)
    # the measurement engine masks DSNs in its result.json; so does this stand-in
    (run_dir / "result.json").write_text(json.dumps(clean(result), indent=2))
    (run_dir / "samples.csv").write_text(
        "t_s,probe,ok,latency_ms,error\n0.00,pg-write,1,1.1,\n0.05,pg-write,0,50.0,timeout\n"
    )
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1, 2], [1, 0, 1])
    fig.savefig(run_dir / "timeline.png")
    plt.close(fig)
    (run_dir / "journal.json").write_text(json.dumps({"status": "completed", "deviated": False}))
    (run_dir / "allure").mkdir(exist_ok=True)
    (run_dir / "allure" / "abc-result.json").write_text(json.dumps({"name": "leader kill", "status": "passed"}))
    return run_dir


def make_record(
    reports: Path,
    started: datetime,
    plan_file: str | None = "quarterly-scenario-drill.yaml",
    scenarios: list[tuple[str, dict, str]] | None = None,
    evidence: bool = True,
) -> dict:
    """Build and chain one record the way the drill runner does; returns the written JSON."""
    plan = load_plan(PLANS / plan_file) if plan_file else None
    approvals = (
        [{"ticket": "CHG-1042", "approver": plan.approvers[0].name, "at": started - timedelta(days=2)}]
        if plan and plan.approvers
        else []
    )
    rec = RecordBuilder(
        reports, plan=plan, target="local", environment="lab", operator="sam", approvals=approvals, started=started
    )
    scenarios = scenarios or [("postgres-leader-kill", measurement(21.4, 0.0), "passed")]
    for i, (name, result, status) in enumerate(scenarios):
        t0 = started + timedelta(minutes=5 * i + 1)
        rec.event("fault-injected", detail={"scenario": name, "fault": "kill -9 leader"}, at=t0)
        rec.event("detected", detail={"scenario": name}, at=t0 + timedelta(seconds=0.05))
        rec.event(
            "recovery-step",
            detail={"step": "patroni promotes replica", "duration_s": result["rto_s"]},
            at=t0 + timedelta(seconds=result["rto_s"] - 1),
        )
        rec.event("recovered", detail={"scenario": name}, at=t0 + timedelta(seconds=result["rto_s"]))
        rec.scenario(
            name=name,
            feature="features/database.feature",
            tags=["@quarterly", "@database"],
            objective_key="postgresql/primary-instance-failure",
            objective_source="dr-plan.md §5.1.1",
            measurement=result,
            status=status,
        )
        if evidence:
            rec.evidence(write_run_files(reports / "runs" / f"{rec.id}-{i}", result))
    rec.event(
        "manual-confirmation",
        detail={"who": "Dana Okafor", "what": "orders visible in the app"},
        at=started + timedelta(minutes=30),
    )
    path = rec.finish(ended=started + timedelta(minutes=45))
    return json.loads(path.read_text())


def make_restore_test(
    reports, started: datetime, status: str, path: str = "backup", tags=("component", "weekly")
) -> None:
    """A restore-test record the way `drill backup verify` (path backup) or a @weekly Gherkin run writes one."""
    rec = RecordBuilder(reports, target="local", environment="lab", operator="sam", started=started, path=path)
    rec.event("drill-started", {"scenarios": 1}, at=started)
    rec.scenario(
        name="automated restore test: postgres",
        feature="backup verify",
        tags=list(tags),
        measurement={"rto_s": 12.5, "recovered": status == "passed"},
        status=status,
    )
    rec.event("drill-finished", {"scenarios": 1}, at=started + timedelta(seconds=20))
    rec.finish()
