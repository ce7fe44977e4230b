"""Hostile or unusual feature files (issue 16, point 8): refused up front with one clear error, in seconds, or
(a feature outside the project) run like any other. None of these needs the lab: each is refused, or shown to
work, before a target is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.drills import run
from harness.drills.features import MAX_FEATURE_BYTES, pytest_rootdir, shown

ROOT = Path(__file__).resolve().parents[2]


def drill_run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "CI": "true", "DRILL_STATE_DIR": str(cwd / "state")}
    drill = str(Path(sys.executable).with_name("drill"))
    return subprocess.run([drill, "run", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_an_empty_feature_file_says_it_is_empty(tmp_path):
    (tmp_path / "my-drills").mkdir()
    (tmp_path / "my-drills" / "x.feature").write_text("")
    done = drill_run(tmp_path, "my-drills/x.feature", "--reports", str(tmp_path / "reports"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "my-drills/x.feature: not a valid feature file: empty" in done.stderr
    assert "'feature'" not in done.stderr
    assert not (tmp_path / "reports" / "records").exists()  # nothing started, nothing chained


def test_a_50_mb_feature_file_is_refused_in_seconds(tmp_path):
    (tmp_path / "my-drills").mkdir()
    big = tmp_path / "my-drills" / "big.feature"
    with open(big, "w") as fh:
        fh.write("Feature: big\n  Scenario: s\n")
        fh.write("    Given the lab is healthy\n" * 1_800_000)
    assert big.stat().st_size > 50_000_000
    started = time.perf_counter()
    done = drill_run(tmp_path, "my-drills/big.feature", "--reports", str(tmp_path / "reports"))
    elapsed = time.perf_counter() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"my-drills/big.feature: {big.stat().st_size} bytes; a feature file may have at most" in done.stderr
    assert str(MAX_FEATURE_BYTES) in done.stderr
    assert elapsed < 15, f"took {elapsed:.1f} s"


def test_too_many_feature_files_are_refused(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(201):
        (folder / f"f{i:03d}.feature").write_text("Feature: f\n")
    done = drill_run(tmp_path, "many", "--reports", str(tmp_path / "reports"))
    assert done.returncode == 2
    assert "many: more than 200 feature files" in done.stderr


def test_a_feature_outside_the_project_is_shown_as_given_and_passes_the_up_front_check(tmp_path, monkeypatch):
    drills = tmp_path / "my-drills"
    drills.mkdir()
    (drills / "x.feature").write_text((ROOT / "features" / "database_failover.feature").read_text())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    files = run.feature_files(ROOT, ["../my-drills/x.feature"])
    assert [shown(f) for f in files] == ["../my-drills/x.feature"]
    run.check_gherkin(files)
    rootdir = pytest_rootdir(ROOT, files)
    assert ROOT.is_relative_to(rootdir) and files[0].resolve().is_relative_to(rootdir)
    assert pytest_rootdir(ROOT, run.feature_files(ROOT, [])) == ROOT  # the project's own: rootdir unchanged
    # --yes: the feature's manual steps are confirmed (unattended without it, the run is refused up front for
    # them, which tests/drills/test_robustness.py checks)
    req = run.RunRequest(features=["../my-drills/x.feature"], reports_dir=tmp_path / "reports", yes=True)
    assert run.preflight_only(ROOT, tmp_path / "reports" / "runs" / "x", req, files) is None


def test_allure_runs_a_feature_outside_the_rootdir_only_with_the_widened_rootdir(tmp_path):
    """The cause of the BROKEN record: allure-pytest-bdd makes each feature path relative to pytest's rootdir.
    The real plugins, a one-step feature outside a small project: with the project as rootdir the scenario
    breaks with the ValueError; with `pytest_rootdir` it passes and its Allure result is written."""
    project, outside = tmp_path / "project", tmp_path / "elsewhere" / "drills"
    project.mkdir()
    outside.mkdir(parents=True)
    feature = outside / "x.feature"
    feature.write_text("Feature: outside\n  Scenario: one step\n    Given nothing happens\n")
    (project / "test_catalog.py").write_text(
        textwrap.dedent(
            f"""
            from pytest_bdd import given, scenarios
            scenarios({str(feature)!r})

            @given("nothing happens")
            def _nothing():
                pass
            """
        )
    )

    def pytest(rootdir: Path, results: Path) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "pytest", str(project / "test_catalog.py"), "--rootdir", str(rootdir)]
        argv += ["-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=", "--alluredir", str(results)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=project)

    narrow = pytest(project, tmp_path / "narrow")
    assert narrow.returncode != 0
    assert "is not in the subpath" in narrow.stdout
    wide = pytest(pytest_rootdir(project, [feature]), tmp_path / "wide")
    assert wide.returncode == 0, wide.stdout
    results = [json.loads(p.read_text()) for p in (tmp_path / "wide").glob("*-result.json")]
    assert [r["status"] for r in results] == ["passed"]
    assert results[0]["titlePath"][-1] == "outside"


def test_a_tag_expression_starting_with_an_at_sign_is_a_tag_not_an_argument_file(tmp_path):
    """`--tags "@redis"` was passed to pytest as its own argument, which pytest reads as an @file."""
    req = run.RunRequest(
        tags="@redis or @plan-4.3.1", reports_dir=tmp_path / "reports", yes=True
    )  # its manual steps confirmed
    files = run.feature_files(ROOT, [])
    assert run.preflight_only(ROOT, tmp_path / "reports" / "runs" / "x", req, files) is None
    assert f"--drill-tags={req.tags}" in run.pytest_argv(ROOT, tmp_path, req)
