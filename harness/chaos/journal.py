"""A Chaos Toolkit journal for activities run one at a time (a Gherkin drill's faults and their rollbacks).

Each activity runs through chaoslib's own activity runner (`chaoslib.activity.execute_activity`), so the
runs are exactly what `chaos run` records: start, end, duration, status, output, exception. The journal has
the shape of a `chaos run` journal (experiment, run, rollbacks, status) and is written as
`chaos-journal.json` beside the drill's evidence.

    journal = ActivityJournal("The PostgreSQL primary crashes", configuration={})
    run = journal.action(target.fault_activity("db-primary-crash"))   # run["status"], run["output"]
    journal.rollback(target.rollback_activity("db-primary-crash", extra={"id": run["output"]["id"]}))
    journal.write(path)
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.redact import clean


class ActivityJournal:
    def __init__(self, title: str, configuration: dict[str, Any] | None = None, tags: list[str] | None = None):
        import chaoslib

        self.configuration = dict(configuration or {})
        self.experiment: dict[str, Any] = {
            "title": title,
            "description": "Gherkin drill run by the harness",
            "tags": list(tags or []),
            "method": [],
            "rollbacks": [],
        }
        self.runs: list[dict[str, Any]] = []
        self.rollbacks: list[dict[str, Any]] = []
        self.start = datetime.now(UTC)
        self.chaoslib_version = chaoslib.__version__

    def _execute(self, activity: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
        from chaoslib.activity import ensure_activity_is_valid, execute_activity
        from chaoslib.exceptions import ChaosException

        try:
            ensure_activity_is_valid(activity)
        except ChaosException as err:  # a wrong activity is a failed run in the journal, not a crash
            run = {
                "activity": activity,
                "status": "failed",
                "output": None,
                "exception": [f"invalid: {err}"],
                "start": datetime.now(UTC).isoformat(),
                "end": datetime.now(UTC).isoformat(),
                "duration": 0.0,
            }
            runs.append(run)
            return run
        return execute_activity(
            experiment=self.experiment,
            activity=activity,
            configuration=self.configuration,
            secrets={},
            dry=None,
            runs=runs,
        )

    def action(self, activity: dict[str, Any]) -> dict[str, Any]:
        self.experiment["method"].append(activity)
        return self._execute(activity, self.runs)

    def rollback(self, activity: dict[str, Any]) -> dict[str, Any]:
        self.experiment["rollbacks"].append(activity)
        return self._execute(activity, self.rollbacks)

    @staticmethod
    def error_of(run: dict[str, Any]) -> str:
        """The failed activity's error, without the exception class chaoslib puts in front."""
        lines = [line.strip() for line in (run.get("exception") or []) if line.strip()]
        text = lines[-1] if lines else "failed"
        for prefix in ("chaoslib.exceptions.ActivityFailed: ", "ActivityFailed: "):
            text = text.removeprefix(prefix)
        return text.split(": ", 1)[1] if text.split(": ", 1)[0].endswith(("Error", "Failed", "Unhealthy")) else text

    def to_dict(self) -> dict[str, Any]:
        end = datetime.now(UTC)
        failed = any(r.get("status") != "succeeded" for r in self.runs + self.rollbacks)
        return clean(
            {
                "chaoslib-version": self.chaoslib_version,
                "platform": platform.platform(),
                "node": platform.node(),
                "experiment": self.experiment,
                "start": self.start.isoformat(),
                "end": end.isoformat(),
                "duration": (end - self.start).total_seconds(),
                "status": "failed" if failed else "completed",
                "deviated": False,
                "steady_states": {"before": None, "after": None, "during": []},
                "run": self.runs,
                "rollbacks": self.rollbacks,
            }
        )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path
