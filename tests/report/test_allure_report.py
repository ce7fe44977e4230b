"""build_report on real allure-pytest-bdd results with the real Allure 3 CLI: both renderings, no analytics,
offline single file, categories/environment/attachments inside, history across builds, clear errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest
from sample_drill import BROKEN, FAILING, PASSING

from harness.errors import HarnessError
from harness.evidence.allure_report import (
    ANALYTICS_MARKERS,
    MARKER,
    build_report,
    latest_results,
    serve_report,
    single_file_data,
)


def _tests(data: dict[str, bytes]) -> dict[str, dict]:
    return {t["name"]: t for t in (json.loads(v) for k, v in data.items() if k.startswith("data/test-results/"))}


def test_single_file_report_holds_the_whole_drill(built):
    report, _ = built
    assert report.single_file == report.out_dir / "report.html" and report.single_file.stat().st_size > 100_000
    assert report.index_html == report.out_dir / "index.html" and (report.out_dir / "data").is_dir()
    data = single_file_data(report.single_file)

    tests = _tests(data)
    assert {n: t["status"] for n, t in tests.items()} == {PASSING: "passed", FAILING: "failed", BROKEN: "broken"}
    assert "RPO breached: measured 8.0 s > target 5.0 s" in tests[FAILING]["error"]["message"]

    # our categories, not Allure's defaults: the RPO failure and the harness error are named for what they are
    nodes = json.loads(data["widgets/categories.json"])["nodes"]
    by_name = {n["name"]: n for n in nodes.values() if n["type"] == "category"}
    assert set(by_name) == {"RPO breached", "Harness error"}
    assert by_name["RPO breached"]["statistic"] == {"total": 1, "failed": 1}
    assert by_name["Harness error"]["statistic"] == {"total": 1, "broken": 1}
    assert [[c["name"] for c in tests[n]["categories"]] for n in (FAILING, BROKEN, PASSING)] == [
        ["RPO breached"],
        ["Harness error"],
        [],
    ]

    env = {e["name"]: e["values"] for e in json.loads(data["widgets/allure_environment.json"])}
    assert env["target"] == ["local"] and env["postgresql"] == ["15.8"] and env["patroni"] == ["4.1.5"]
    assert "git.revision" in env and "harness.version" in env

    # every attachment made it in: PNG timeline, measurement JSON, the RTO/RPO table
    attachments = {k.rsplit(".", 1)[-1]: v for k, v in data.items() if k.startswith("data/attachments/")}
    assert attachments["png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads(attachments["json"])["lost"] in (0, 40)
    assert b"<th>RTO</th><th>RPO</th>" in attachments["html"]


def test_no_analytics_and_nothing_loaded_from_the_network(built):
    report, _ = built
    for path in report.out_dir.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js"):
            text = path.read_text(errors="replace")
            for marker in (*ANALYTICS_MARKERS, "G-LNDJ3J7WT0", "gtag/js"):
                assert marker not in text, f"{marker} left in {path.name}"
    html = report.single_file.read_text()
    # offline: no script, stylesheet, font or image fetched over http(s); only data: URIs and inline code
    assert not re.search(r"<(?:script|img|iframe)\b[^>]*\bsrc=[\"']?(?:https?:)?//", html, re.I)
    assert not re.search(r"<link\b[^>]*\bhref=[\"']?(?:https?:)?//", html, re.I)
    assert not re.search(r"@import\s+url\(\s*[\"']?(?:https?:)?//", html, re.I)
    assert re.search(r"<script[^>]*src=\"data:text/javascript;base64,", html)  # the app itself is inline


def test_history_across_builds_and_output_cleared(built, sample_results, tmp_path):
    report, history = built
    assert len(history.read_text().splitlines()) == 1
    stale = report.out_dir / "data" / "stale-from-an-old-build.json"
    stale.write_text("{}")

    again = build_report([sample_results], report.out_dir, history_path=history)
    assert not stale.exists(), "Allure does not clear its output: build_report must"
    assert (again.out_dir / MARKER).is_file()
    lines = history.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["name"] == "DR drills" for line in lines)

    data = single_file_data(again.single_file)
    assert all(len(t["history"]) == 1 for t in _tests(data).values())  # the first build, seen by the second
    charts = json.loads(data["widgets/charts.json"])["general"].values()
    dynamics = next(c for c in charts if c["type"] == "statusDynamics")["data"]
    assert len(dynamics) == 2  # the trend: the first build and this one


def test_no_single_file(sample_results, tmp_path):
    report = build_report([sample_results], tmp_path / "out", history_path=tmp_path / "h.jsonl", single_file=False)
    assert report.single_file is None and not (tmp_path / "out" / "report.html").exists()
    assert report.index_html.is_file() and (report.out_dir / "data" / "test-results").is_dir()


def test_served_on_loopback(built):
    report, _ = built
    with serve_report(report.out_dir) as server:
        assert server.url.startswith("http://127.0.0.1:")
        index = httpx.get(server.url, timeout=10)
        assert index.status_code == 200 and '<div id="app">' in index.text
        result = next((report.out_dir / "data" / "test-results").glob("*.json")).name
        data = httpx.get(f"{server.url}data/test-results/{result}", timeout=10)
        assert data.status_code == 200 and data.json()["name"] in (PASSING, FAILING, BROKEN)


def test_bad_input_is_one_clear_error(sample_results, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HarnessError, match=rf"{re.escape(str(empty))}: no Allure results"):
        build_report([empty], tmp_path / "out")
    with pytest.raises(HarnessError, match="no Allure results given"):
        build_report([], tmp_path / "out")
    with pytest.raises(HarnessError, match="not a directory"):
        build_report([tmp_path / "missing"], tmp_path / "out")
    assert not (tmp_path / "out").exists()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(HarnessError, match="refusing to clear"):
        build_report([sample_results], precious, history_path=tmp_path / "h.jsonl")
    assert (precious / "notes.txt").read_text() == "keep me"

    monkeypatch.setenv("DRILL_ALLURE", str(tmp_path / "no-such-allure"))
    with pytest.raises(HarnessError, match="make setup"):
        build_report([sample_results], tmp_path / "out")


def test_latest_results_picks_the_newest_run(sample_results, tmp_path):
    reports = tmp_path / "reports"
    old, new = (reports / "runs" / r / "allure-results" for r in ("run-1", "run-2"))
    for d in (old, new):
        d.mkdir(parents=True)
        (d / "x-result.json").write_text("{}")
    os.utime(old / "x-result.json", (1_000_000_000, 1_000_000_000))
    (reports / "runs" / "run-3" / "allure-results").mkdir(parents=True)  # no results yet: not a candidate
    assert latest_results(reports) == new
    with pytest.raises(HarnessError, match="no allure-results directory"):
        latest_results(tmp_path / "nothing")


def test_cli_builds_and_rejects_an_empty_dir(sample_results, tmp_path):
    env = {**os.environ, "DRILL_REPORTS_DIR": str(tmp_path / "reports")}
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", str(empty)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert f"{empty}: no Allure results" in bad.stderr.replace("\n", "") and bad.stderr.count("error:") == 1
    assert bad.stdout == "" and not (tmp_path / "reports").exists()

    # no argument: the newest reports/**/allure-results, into reports/allure-report
    run = tmp_path / "reports" / "runs" / "20250101T000000Z"
    run.mkdir(parents=True)
    sample_results.rename(run / "allure-results")
    good = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report"], env=env, capture_output=True, text=True, timeout=300
    )
    assert good.returncode == 0, good.stderr
    out = tmp_path / "reports" / "allure-report"
    assert f"{out / 'index.html'}" in good.stdout and f"{out / 'report.html'}" in good.stdout
    assert (out / "report.html").is_file() and (tmp_path / "reports" / "allure-history.jsonl").is_file()
