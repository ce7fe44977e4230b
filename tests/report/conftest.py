"""Fixtures for the report tests: real Allure results from a tiny pytest-bdd drill, run once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sample_drill import run_sample_drill

from harness.evidence.allure_meta import write_metadata
from harness.evidence.allure_report import Report, build_report


@pytest.fixture(autouse=True)
def _no_ci_or_reports_env(monkeypatch):
    # the tests decide whether they run "in CI"; the real reports/ folder stays untouched
    for var in (
        "CI",
        "GITHUB_ACTIONS",
        "GITHUB_RUN_ID",
        "GITLAB_CI",
        "CI_PIPELINE_ID",
        "DRILL_REPORTS_DIR",
        "DRILL_ALLURE",
        "BUILD_NUMBER",
        "BUILD_URL",
        "CI_JOB_URL",
        "CI_PIPELINE_URL",
        "CI_PROJECT_URL",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def sample_results_once(tmp_path_factory) -> Path:
    return run_sample_drill(tmp_path_factory.mktemp("sample-drill"))


@pytest.fixture
def sample_results(sample_results_once, tmp_path) -> Path:
    """A private copy of the sample drill's allure-results, free to add metadata to."""
    return Path(shutil.copytree(sample_results_once, tmp_path / "allure-results"))


@pytest.fixture
def built(sample_results, tmp_path) -> tuple[Report, Path]:
    """The sample drill's report (with metadata as the drills write it) and its history file."""
    write_metadata(sample_results, target="local", environment={"postgresql": "15.8", "patroni": "4.1.5"})
    history = tmp_path / "allure-history.jsonl"
    return build_report([sample_results], tmp_path / "allure-report", history_path=history), history
