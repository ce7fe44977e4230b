"""Fixtures for the evidence tests: an empty reports dir, a chain of three drills, the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from synthetic_drills import make_record
from typer.testing import CliRunner

from harness.commands import evidence as evidence_commands


@pytest.fixture
def reports(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("DRILL_SIGNING_KEY", raising=False)
    monkeypatch.delenv("DRILL_REPORTS_DIR", raising=False)
    return tmp_path / "reports"


@pytest.fixture
def chain3(reports) -> list[dict]:
    """Three drills a quarter apart."""
    base = datetime(2025, 1, 14, 10, 0, tzinfo=UTC)
    return [make_record(reports, base + timedelta(days=91 * i)) for i in range(3)]


@pytest.fixture
def cli():
    """The evidence commands on a root app, as the lead registers them in harness/cli.py."""
    app = typer.Typer()
    evidence_commands.register(app)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run
