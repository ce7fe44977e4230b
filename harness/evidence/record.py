"""Drill records: one JSON per run, built as the run happens and chained into reports/records/.

Every path that measures writes one: a Gherkin drill (`drill run`), the Chaos Toolkit measurement control
(`chaos run`) and `drill measure`; `path` says which (PATHS). The whole interface is `RecordBuilder`:

    rec = RecordBuilder(reports_dir, plan=plan, target="local", environment="lab", approvals=[...],
                        path="measure")
    rec.event("fault-injected", detail={"fault": "kill-leader"})
    rec.scenario(name=..., objective_key=..., objective_source=..., measurement=result, status="passed")
    rec.evidence(out_dir)            # files or directories; hashed at finish()
    path = rec.finish()              # reports/records/<id>.json, chained, never rewritten

Live, like chaoslib's journal: from the first event on, every event, scenario and evidence item is appended
(flushed and fsync'd, each line hash-chained onto the one before) to `reports/records/<id>.live.jsonl`, which
the run holds locked. `finish()` writes the chained record and removes the live file. A run that is killed
leaves its live file behind, unlocked: `drill verify` reports it as an incomplete record (and one still
running, still locked, as in progress) instead of ignoring it. The chain format itself is unchanged, so
records written before this verify as they always did.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import harness
from harness.errors import HarnessError
from harness.evidence import chain as chain_mod
from harness.evidence import paths
from harness.evidence.plan import DrillPlan
from harness.measure import judgement
from harness.redact import clean

SCHEMA = "drill-record/1"
STATUSES = ("passed", "failed", "broken")
# Which path measured: a Gherkin drill, the Chaos Toolkit measurement control, `drill measure`, a restore test. Records
# written before the field existed are Gherkin drills (`record_path`).
PATHS = ("gherkin", "chaos-toolkit", "measure", "backup")  # backup: `drill backup verify` (restore tests)
LIVE_SUFFIX = ".live.jsonl"
# The timeline vocabulary the runner uses; other kinds are accepted (slug form) for steps we can't foresee.
EVENT_KINDS = (
    "drill-started",
    "approval-checked",
    "baseline-ok",
    "fault-injected",
    "detected",
    "recovery-step",
    "recovered",
    "rollback",
    "manual-confirmation",
    "scenario-finished",
    "drill-finished",
    "aborted",
)
# Fields copied from the measurement engine's result into the record (the rest lives in the evidence files).
MEASURED_FIELDS = (
    "rto_s",
    "detect_s",
    "recovered",
    "no_outage_observed",
    "rpo_s",
    "uncertainty_s",
    "interval_s",
    "lost_writes",
    "acked_writes",
    "unexpected_writes",
    "indeterminate_writes",
    "lost_window",
    "lost_after_fault_writes",
    "lost_after_fault_window",
    "error_rate",
    "t_inject_wall",
    "run_id",
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
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(UTC)


def utc_iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def new_record_id(started: datetime) -> str:
    """Sorts by start time (to the millisecond); the random tail keeps two runs in one ms apart."""
    s = started.astimezone(UTC)
    return f"{s:%Y%m%dT%H%M%S}{s.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def git_revision(repo: Path | None = None) -> dict[str, Any]:
    """HEAD of the harness's own checkout and whether tracked files differ from it; "unknown" outside git."""
    repo = repo or Path(harness.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = (
            subprocess.run(
                ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            != ""
        )
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
        bad = [
            s["name"] for s in scenarios if s["status"] != "passed" or (s.get("verdict") or {}).get("passed") is False
        ]
        checks.append(
            {
                "criterion": "all objectives met",
                "ok": not bad,
                "detail": f"not met: {', '.join(bad)}" if bad else f"{len(scenarios)} scenario(s) met",
            }
        )
    for field, label in (("max_rto_s", "RTO"), ("max_rpo_s", "RPO")):
        limit = getattr(criteria, field, None) if criteria else None
        if limit is None:
            continue
        key = field.removeprefix("max_")
        over = [
            f"{s['name']} ({_fmt(s['measured'].get(key))})"
            for s in scenarios
            if s["measured"].get(key) is None or s["measured"][key] > limit
        ]
        checks.append(
            {
                "criterion": f"{label} ≤ {limit:g} s (plan override)",
                "ok": not over,
                "detail": f"over: {', '.join(over)}" if over else "all within",
            }
        )
    return {"passed": all(c["ok"] for c in checks), "checks": checks}


def _fmt(value: Any) -> str:
    return "not measured" if value is None else f"{value:g} s"


class RecordBuilder:
    """Collects one drill run and writes it, chained, at `finish()`. Not thread-safe; one per run."""

    def __init__(
        self,
        reports_dir: str | Path | None = None,
        plan: DrillPlan | None = None,
        target: str = "local",
        environment: str = "lab",
        operator: str | None = None,
        approvals: list[Approval | dict[str, Any]] | None = None,
        started: datetime | None = None,
        path: str = "gherkin",
        experiment: dict[str, Any] | None = None,
        live: bool = True,
    ):
        if path not in PATHS:
            raise HarnessError(f"record path '{path}' is not one of {', '.join(PATHS)}")
        self.path, self.experiment = path, clean(experiment) if experiment else None
        self.reports_dir = paths.reports_dir(reports_dir)
        self.plan = plan
        self.target, self.environment = target, environment
        self.operator = operator or default_operator()
        self.started = started or datetime.now(UTC)
        if self.started.tzinfo is None:
            self.started = self.started.replace(tzinfo=UTC)
        self.approvals = [self._approval(a) for a in approvals or []]
        self.id = new_record_id(self.started)
        self._timeline: list[dict[str, Any]] = []
        self._scenarios: list[dict[str, Any]] = []
        self._evidence: list[Path] = []
        self._finished: Path | None = None
        self._live_enabled = live
        self._live_file: Any = None
        self._live_hash = chain_mod.GENESIS
        self._live_seq = 0
        self._live_pending: list[tuple[str, dict[str, Any]]] = []

    # -- the live file -----------------------------------------------------------------------------------
    @property
    def live_path(self) -> Path:
        return paths.records_dir(self.reports_dir) / f"{self.id}{LIVE_SUFFIX}"

    def _live(self, kind: str, body: dict[str, Any]) -> None:
        """Append one line to the live file (opened, locked and headed on first use), durably."""
        if not self._live_enabled or self._finished is not None:
            return
        if self._live_file is None and kind != "event":
            self._live_pending.append((kind, body))  # the file exists from the first event on
            return
        if self._live_file is None:
            self.live_path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.live_path, "x", encoding="utf-8")
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while the run lives: verify tells running apart
            self._live_file = fh
            self._live_line(
                "header",
                {
                    "schema": SCHEMA,
                    "id": self.id,
                    "path": self.path,
                    "experiment": self.experiment,
                    "plan": self.plan.name if self.plan else None,
                    "target": self.target,
                    "environment": self.environment,
                    "operator": self.operator,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started": utc_iso(self.started),
                },
            )
            for pending in self._live_pending:
                self._live_line(*pending)
            self._live_pending.clear()
        self._live_line(kind, body)

    def _live_line(self, kind: str, body: dict[str, Any]) -> None:
        self._live_seq += 1
        line = {"seq": self._live_seq, "kind": kind, "body": body, "prev": self._live_hash}
        self._live_hash = line["hash"] = hashlib.sha256(chain_mod.canonical_json(line)).hexdigest()
        self._live_file.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
        self._live_file.flush()
        os.fsync(self._live_file.fileno())

    def _close_live(self) -> None:
        if self._live_file is not None:
            self._live_file.close()  # releases the lock
            self._live_file = None
            with contextlib.suppress(FileNotFoundError):
                self.live_path.unlink()

    def abandon(self) -> None:
        """Drop the live file of a run that turned out not to be a drill (bad usage found after the first
        event, e.g. no scenario matched): nothing is chained, as if it had never started. A run that was
        killed does not get here, so its live file stays and `drill verify` reports it incomplete."""
        self._live_enabled = False
        self._close_live()

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
        entry = {"at": utc_iso(at), "kind": kind, "detail": clean(detail or {})}
        self._timeline.append(entry)
        self._live("event", entry)

    def scenario(
        self,
        name: str,
        feature: str | None = None,
        tags: list[str] | None = None,
        objective_key: str | None = None,
        objective_source: str | None = None,
        measurement: dict[str, Any] | Any | None = None,
        status: Literal["passed", "failed", "broken"] = "passed",
        verdict_name: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One scenario's outcome; `measurement` is the measurement engine's result (dict or pydantic model).
        `verdict_name`: the judgement's word (harness.measure.judgement), by default taken from the result.
        `extra`: path-specific fields kept beside the scenario (e.g. the probes a `drill measure` used)."""
        if status not in STATUSES:
            raise HarnessError(f"scenario {name}: status '{status}' is not one of {', '.join(STATUSES)}")
        m = clean(measurement) if measurement is not None else {}
        word = verdict_name or judgement.name_of(m)
        if word not in judgement.VERDICTS:
            raise HarnessError(f"scenario {name}: verdict '{word}' is not one of {', '.join(judgement.VERDICTS)}")
        verdict = {**(m.get("verdict") or {}), "name": word}
        targets = {
            "rto_s": ((verdict or {}).get("rto") or {}).get("target_s"),
            "rpo_s": ((verdict or {}).get("rpo") or {}).get("target_s"),
        }
        entry = {
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
            **({k: clean(v) for k, v in extra.items()} if extra else {}),
        }
        self._scenarios.append(entry)
        self._live("scenario", entry)

    def evidence(self, path: str | Path) -> None:
        """A file or a directory (every file in it) to hash into the record at finish()."""
        path = Path(path)
        if not path.exists():
            raise HarnessError(f"evidence {path} does not exist")
        self._evidence.append(path)
        self._live("evidence", {"path": path.name})

    def _evidence_entries(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Hash every evidence file; files outside the reports dir are first copied into
        reports/evidence/<record id>/ so every path in the record is relative to the reports dir.

        Also returns the folders given as evidence (relative to the reports dir): the record covers each one
        whole, so `drill verify` names a file that appears in one later (a forged Allure result)."""
        base = self.reports_dir.resolve()
        files: dict[str, Path] = {}
        folders: set[str] = set()
        for item in self._evidence:
            item = item.resolve()
            found = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
            if item.is_dir():
                home = item if item.is_relative_to(base) else base / "evidence" / self.id / item.name
                rel_home = home.relative_to(base).as_posix()
                if rel_home != "." and rel_home.split("/")[0] != "records":
                    folders.add(rel_home)
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
        entries = [
            {"path": rel, "sha256": chain_mod.file_sha256(f), "size": f.stat().st_size}
            for rel, f in sorted(files.items())
        ]
        return entries, sorted(folders)

    def to_dict(self, ended: datetime | None = None) -> dict[str, Any]:
        ended = ended or datetime.now(UTC)
        evidence, folders = self._evidence_entries()
        plan = None
        if self.plan is not None:
            # The plan's people, scope and criteria are copied in: the plan file may change after the drill.
            plan = {
                "name": self.plan.name,
                "type": self.plan.type.value,
                "file": self.plan.path.name if self.plan.path else None,
                "sha256": self.plan.sha256,
                **self.plan.model_dump(
                    mode="json",
                    include={"description", "scope", "window", "participants", "approvers", "success_criteria"},
                ),
            }
        return {
            "schema": SCHEMA,
            "id": self.id,
            "path": self.path,
            **({"experiment": self.experiment} if self.experiment else {}),
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
            "harness": {
                "version": harness.__version__,
                **git_revision(),
                "harness_version": harness_version(),
                "lock_sha256": lock_sha256(),
            },
            "evidence": evidence,
            # Records written before this field list no folders; verify then checks only the files listed.
            "evidence_folders": folders,
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
        self._close_live()  # the chained record now holds everything the live file did
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
        raise HarnessError(
            f"record '{record_id}': {'no match' if not hits else 'ambiguous prefix'} in {paths.records_dir(reports)}"
        )
    return hits[0]


def record_path(record: dict[str, Any]) -> str:
    """Which path measured: gherkin, chaos-toolkit or measure (records older than the field are Gherkin)."""
    return str(record.get("path") or "gherkin")


def experiment_sha256(source: str | Path | None, experiment: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a chaos-toolkit record says about its experiment: the file's name and SHA-256, or (a URL, or an
    experiment run from Python) the SHA-256 of the experiment's canonical JSON, marked as such."""
    path = Path(source) if source else None
    if path is not None and path.is_file():
        return {"file": path.name, "sha256": chain_mod.file_sha256(path), "sha256_of": "file"}
    body = {k: v for k, v in (experiment or {}).items() if k != "dry"}
    return {
        "file": str(source) if source else None,
        "sha256_of": "canonical-json",
        "sha256": hashlib.sha256(chain_mod.canonical_json(clean(body))).hexdigest(),
    }


def chained_line(text: str, n: int, prev: str) -> dict[str, Any] | None:
    """Line n of a live file, parsed, when it chains onto `prev` (its seq, prev and own hash agree); else None."""
    try:
        line = json.loads(text)
        body = {k: v for k, v in line.items() if k != "hash"}
    except (ValueError, AttributeError):
        return None
    ok = (
        line.get("seq") == n
        and line.get("prev") == prev
        and hashlib.sha256(chain_mod.canonical_json(body)).hexdigest() == line.get("hash")
    )
    return line if ok else None


class LiveRecord:
    """A record still being written (`running`: its run holds the lock) or left unfinished by a killed run."""

    def __init__(self, path: Path):
        self.file = path
        self.id = path.name.removesuffix(LIVE_SUFFIX)
        self.header: dict[str, Any] = {}
        self.lines = 0
        self.last: dict[str, Any] | None = None  # the last timeline event
        self.damage: str | None = None  # first problem with the lines themselves
        self.running = _locked(path)
        prev = chain_mod.GENESIS
        try:
            raw = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            self.damage = f"unreadable: {err}"
            return
        for n, text in enumerate(raw, start=1):
            if not text.strip() and n == len(raw):
                break
            line = chained_line(text, n, prev)
            if line is None:
                # a run killed mid-write can leave a torn last line; anything else was edited
                self.damage = (
                    f"its last line ({n}) is torn"
                    if n == len(raw) and not text.endswith("}")
                    else f"line {n} was changed"
                )
                break
            prev, self.lines = line["hash"], n
            if line.get("kind") == "header":
                self.header = line.get("body") or {}
            elif line.get("kind") == "event":
                self.last = line.get("body")

    @property
    def started(self) -> str | None:
        return self.header.get("started")

    def describe(self) -> str:
        last = f"last event '{self.last['kind']}' at {self.last['at']}" if self.last else "no event after its header"
        return (
            f"{self.header.get('path') or 'drill'} run started {self.started or '?'} by "
            f"{self.header.get('operator') or '?'}; {last}; {self.lines} line(s) in {self.file.name}"
        )


def _locked(path: Path) -> bool:
    """True while another process holds the live file's lock (its run is still going)."""
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def live_records(reports: str | Path | None = None) -> list[LiveRecord]:
    """Records not (yet) chained: runs in progress and runs that were killed before finish()."""
    folder = paths.records_dir(reports)
    return [LiveRecord(p) for p in sorted(folder.glob(f"*{LIVE_SUFFIX}"))] if folder.is_dir() else []
