"""Drill records: one JSON per run, built by the drill runner and chained into reports/records/.

The runner's whole interface is `RecordBuilder`:

    rec = RecordBuilder(reports_dir, plan=plan, target="local", environment="lab", approvals=[...])
    rec.event("fault-injected", detail={"fault": "kill-leader"})
    rec.scenario(name=..., objective_key=..., objective_source=..., measurement=result, status="passed")
    rec.evidence(out_dir)            # files or directories; hashed at finish()
    path = rec.finish()              # reports/records/<id>.json, chained, never rewritten
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import harness
from harness.errors import HarnessError
from harness.evidence import chain as chain_mod
from harness.evidence import paths
from harness.evidence.plan import DrillPlan
from harness.redact import clean

SCHEMA = "drill-record/1"
STATUSES = ("passed", "failed", "broken")
# The timeline vocabulary the runner uses; other kinds are accepted (slug form) for steps we can't foresee.
EVENT_KINDS = (
    "drill-started", "approval-checked", "baseline-ok", "fault-injected", "detected", "recovery-step",
    "recovered", "rollback", "manual-confirmation", "scenario-finished", "drill-finished", "aborted",
)
# Fields copied from the measurement engine's result into the record (the rest lives in the evidence files).
MEASURED_FIELDS = (
    "rto_s", "detect_s", "recovered", "no_outage_observed", "rpo_s", "uncertainty_s", "interval_s",
    "lost_writes", "acked_writes", "unexpected_writes", "indeterminate_writes", "lost_window", "error_rate",
    "t_inject_wall", "run_id",
)


class Approval(BaseModel):
    """A change/approval ticket: who approved the drill and when."""

    model_config = ConfigDict(extra="forbid")

    ticket: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    at: datetime

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return (value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value).astimezone(timezone.utc)


def utc_iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def new_record_id(started: datetime) -> str:
    """Sorts by start time (to the millisecond); the random tail keeps two runs in one ms apart."""
    s = started.astimezone(timezone.utc)
    return f"{s:%Y%m%dT%H%M%S}{s.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def git_revision(repo: Path | None = None) -> dict[str, Any]:
    """HEAD of the harness's own checkout and whether tracked files differ from it; "unknown" outside git."""
    repo = repo or Path(harness.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
        return {"revision": rev, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"revision": "unknown", "dirty": None}


def harness_version() -> str | None:
    """The installed distribution's version; the package's own `__version__` when it is not installed."""
    try:
        return metadata.version("drill-harness")
    except metadata.PackageNotFoundError:
        return getattr(harness, "__version__", None)


def lock_sha256(repo: Path | None = None) -> str | None:
    """SHA-256 of the requirements.lock beside the harness's checkout (what `make setup` installed from);
    None when there is none (e.g. the harness installed as a plain package)."""
    lock = (repo or Path(harness.__file__).resolve().parent.parent) / "requirements.lock"
    return chain_mod.file_sha256(lock) if lock.is_file() else None


def default_operator() -> str:
    return os.environ.get("DRILL_OPERATOR") or getpass.getuser()


def evaluate_outcome(scenarios: list[dict[str, Any]], plan: DrillPlan | None) -> dict[str, Any]:
    """The plan's success criteria applied to the scenarios (no plan: all objectives met)."""
    criteria = plan.success_criteria if plan else None
    checks: list[dict[str, Any]] = []
    if not scenarios:
        checks.append({"criterion": "at least one scenario ran", "ok": False, "detail": "no scenario recorded"})
    if criteria is None or criteria.all_objectives_met:
        bad = [s["name"] for s in scenarios
               if s["status"] != "passed" or (s.get("verdict") or {}).get("passed") is False]
        checks.append({"criterion": "all objectives met", "ok": not bad,
                       "detail": f"not met: {', '.join(bad)}" if bad else f"{len(scenarios)} scenario(s) met"})
    for field, label in (("max_rto_s", "RTO"), ("max_rpo_s", "RPO")):
        limit = getattr(criteria, field, None) if criteria else None
        if limit is None:
            continue
        key = field.removeprefix("max_")
        over = [f"{s['name']} ({_fmt(s['measured'].get(key))})" for s in scenarios
                if s["measured"].get(key) is None or s["measured"][key] > limit]
        checks.append({"criterion": f"{label} ≤ {limit:g} s (plan override)", "ok": not over,
                       "detail": f"over: {', '.join(over)}" if over else "all within"})
    return {"passed": all(c["ok"] for c in checks), "checks": checks}


def _fmt(value: Any) -> str:
    return "not measured" if value is None else f"{value:g} s"


class RecordBuilder:
    """Collects one drill run and writes it, chained, at `finish()`. Not thread-safe; one per run."""

    def __init__(self, reports_dir: str | Path | None = None, plan: DrillPlan | None = None, target: str = "local",
                 environment: str = "lab", operator: str | None = None,
                 approvals: list[Approval | dict[str, Any]] | None = None, started: datetime | None = None):
        self.reports_dir = paths.reports_dir(reports_dir)
        self.plan = plan
        self.target, self.environment = target, environment
        self.operator = operator or default_operator()
        self.started = started or datetime.now(timezone.utc)
        if self.started.tzinfo is None:
            self.started = self.started.replace(tzinfo=timezone.utc)
        self.approvals = [self._approval(a) for a in approvals or []]
        self.id = new_record_id(self.started)
        self._timeline: list[dict[str, Any]] = []
        self._scenarios: list[dict[str, Any]] = []
        self._evidence: list[Path] = []
        self._finished: Path | None = None

    def _approval(self, item: Approval | dict[str, Any]) -> Approval:
        try:
            approval = item if isinstance(item, Approval) else Approval.model_validate(item)
        except ValidationError as err:
            first = err.errors()[0]
            raise HarnessError(f"approval {item!r}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if self.plan is not None and self.plan.approvers and approval.approver not in self.plan.approver_names():
            raise HarnessError(
                f"approval {approval.ticket}: '{approval.approver}' is not an approver of plan {self.plan.name} "
                f"(approvers: {', '.join(sorted(self.plan.approver_names()))})"
            )
        return approval

    def event(self, kind: str, detail: dict[str, Any] | None = None, at: datetime | None = None) -> None:
        """A timeline entry: fault injected, detected, a recovery step (detail: step, duration_s), recovered,
        rollback, manual confirmation (detail: who, what)..."""
        if not kind or not kind.replace("-", "").isalnum():
            raise HarnessError(f"event kind '{kind}' must be a slug like fault-injected")
        self._timeline.append({"at": utc_iso(at), "kind": kind, "detail": clean(detail or {})})

    def scenario(self, name: str, feature: str | None = None, tags: list[str] | None = None,
                 objective_key: str | None = None, objective_source: str | None = None,
                 measurement: dict[str, Any] | Any | None = None,
                 status: Literal["passed", "failed", "broken"] = "passed") -> None:
        """One scenario's outcome; `measurement` is the measurement engine's result (dict or pydantic model)."""
        if status not in STATUSES:
            raise HarnessError(f"scenario {name}: status '{status}' is not one of {', '.join(STATUSES)}")
        m = clean(measurement) if measurement is not None else {}
        verdict = m.get("verdict") or None
        targets = {
            "rto_s": ((verdict or {}).get("rto") or {}).get("target_s"),
            "rpo_s": ((verdict or {}).get("rpo") or {}).get("target_s"),
        }
        self._scenarios.append({
            "name": name,
            "feature": feature,
            "tags": list(tags or []),
            "in_plan_scope": self.plan.scope.includes(name, tags or []) if self.plan else None,
            "objective": {"key": objective_key, "source": objective_source},
            "target": targets,
            "measured": {k: m.get(k) for k in MEASURED_FIELDS if k in m},
            "verdict": verdict,
            "status": status,
            "outages": m.get("outages"),
            "events": m.get("events"),
        })

    def evidence(self, path: str | Path) -> None:
        """A file or a directory (every file in it) to hash into the record at finish()."""
        path = Path(path)
        if not path.exists():
            raise HarnessError(f"evidence {path} does not exist")
        self._evidence.append(path)

    def _evidence_entries(self) -> list[dict[str, Any]]:
        """Hash every evidence file; files outside the reports dir are first copied into
        reports/evidence/<record id>/ so every path in the record is relative to the reports dir."""
        base = self.reports_dir.resolve()
        files: dict[str, Path] = {}
        for item in self._evidence:
            item = item.resolve()
            found = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
            for f in found:
                if not f.is_relative_to(base):
                    rel_in_item = f.relative_to(item.parent)
                    dest = base / "evidence" / self.id / rel_in_item
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, dest)
                    f = dest
                rel = f.relative_to(base).as_posix()
                if not rel.startswith("records/"):
                    files[rel] = f
        return [{"path": rel, "sha256": chain_mod.file_sha256(f), "size": f.stat().st_size}
                for rel, f in sorted(files.items())]

    def to_dict(self, ended: datetime | None = None) -> dict[str, Any]:
        ended = ended or datetime.now(timezone.utc)
        plan = None
        if self.plan is not None:
            # The plan's people, scope and criteria are copied in: the plan file may change after the drill.
            plan = {"name": self.plan.name, "type": self.plan.type.value,
                    "file": self.plan.path.name if self.plan.path else None, "sha256": self.plan.sha256,
                    **self.plan.model_dump(mode="json", include={"description", "scope", "window", "participants",
                                                                 "approvers", "success_criteria"})}
        return {
            "schema": SCHEMA,
            "id": self.id,
            "plan": plan,
            "scenarios": self._scenarios,
            "target": self.target,
            "environment": self.environment,
            "operator": self.operator,
            "host": socket.gethostname(),
            "approvals": [{"ticket": a.ticket, "approver": a.approver, "at": utc_iso(a.at)} for a in self.approvals],
            "started": utc_iso(self.started),
            "ended": utc_iso(ended),
            "duration_s": round((ended - self.started).total_seconds(), 3),
            "timeline": sorted(self._timeline, key=lambda e: e["at"]),
            "outcome": evaluate_outcome(self._scenarios, self.plan),
            # Records written before harness_version/lock_sha256 existed lack them; verify hashes whatever
            # an entry holds, so those still verify, and readers must treat both as optional.
            "harness": {"version": harness.__version__, **git_revision(), "harness_version": harness_version(),
                        "lock_sha256": lock_sha256()},
            "evidence": self._evidence_entries(),
        }

    def finish(self, ended: datetime | None = None) -> Path:
        """Write reports/records/<id>.json chained onto the head (signed if DRILL_SIGNING_KEY is set)."""
        if self._finished is not None:
            raise HarnessError(f"record {self.id} was already written to {self._finished}")
        record = self.to_dict(ended)
        chain = chain_mod.Chain(paths.records_dir(self.reports_dir), label="record")
        with chain.locked():
            chain.append(record, key=chain_mod.signing_key())
        self._finished = chain.dir / f"{self.id}.json"
        return self._finished


def records_chain(reports: str | Path | None = None) -> chain_mod.Chain:
    return chain_mod.Chain(paths.records_dir(reports), label="record")


def load_records(reports: str | Path | None = None) -> list[dict[str, Any]]:
    """Every record in chain order (oldest first)."""
    return records_chain(reports).entries()


def find_record(reports: str | Path | None, record_id: str | None) -> dict[str, Any]:
    """A record by id or unique id prefix; None means the latest."""
    records = load_records(reports)
    if not records:
        raise HarnessError(f"no drill records in {paths.records_dir(reports)}")
    if record_id is None:
        return records[-1]
    hits = [r for r in records if r["id"] == record_id] or [r for r in records if r["id"].startswith(record_id)]
    if len(hits) != 1:
        raise HarnessError(f"record '{record_id}': {'no match' if not hits else 'ambiguous prefix'} in "
                           f"{paths.records_dir(reports)}")
    return hits[0]
