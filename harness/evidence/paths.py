"""Where evidence lives: `reports/` (or $DRILL_REPORTS_DIR, or an explicit directory)."""

from __future__ import annotations

import os
from pathlib import Path

REPORTS_ENV = "DRILL_REPORTS_DIR"


def reports_dir(explicit: str | Path | None = None) -> Path:
    """An explicit directory wins, then $DRILL_REPORTS_DIR, then ./reports."""
    return Path(explicit or os.environ.get(REPORTS_ENV) or "reports")


def records_dir(reports: str | Path | None = None) -> Path:
    return reports_dir(reports) / "records"


def findings_dir(reports: str | Path | None = None) -> Path:
    return reports_dir(reports) / "findings"
