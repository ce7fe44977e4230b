"""The single-file report opened from file:// in headless Chromium, offline: Allure's JS app really renders
the scenarios, the failing scenario's page shows its category and message, and the screen is not blank."""

from __future__ import annotations

import html
import json
import re

import matplotlib.image as mpimg
import numpy as np
import pytest
from sample_drill import BROKEN, FAILING, PASSING

from harness.evidence.allure_report import render_dom, render_screenshot, single_file_data
from harness.evidence.browser import chromium_path

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="headless Chromium not installed (apt-get install -y chromium)"
)


def _app(dom: str) -> str:
    """What the app rendered: the DOM under <div id="app">, not the inline data and scripts."""
    start = dom.find('<div id="app"')
    assert start >= 0, "no app root in the rendered page"
    return html.unescape(dom[start:])


def test_rendered_tree_lists_every_scenario_with_its_metadata(built):
    report, _ = built
    app = _app(render_dom(report.single_file))
    titles = re.findall(r'data-testid="tree-leaf-title"[^>]*>([^<]+)<', app)
    assert sorted(titles) == sorted([PASSING, FAILING, BROKEN])
    # the environment the metadata wrote is on the overview
    for text in ("harness.version", "git.revision", "postgresql", "15.8", "patroni", "4.1.5"):
        assert f">{text}<" in app, text


def test_failing_scenario_page_shows_category_and_message(built):
    report, _ = built
    tests = [
        json.loads(v) for k, v in single_file_data(report.single_file).items() if k.startswith("data/test-results/")
    ]
    failing = next(t["id"] for t in tests if t["name"] == FAILING)
    app = _app(render_dom(report.single_file, fragment=failing))
    assert (
        "RPO breached: measured 8.0 s &gt; target 5.0 s" in app or "RPO breached: measured 8.0 s > target 5.0 s" in app
    )
    assert re.search(r"Category:\s*(?:<[^>]+>\s*)*RPO breached", app)
    assert f">{FAILING}<" in app


def test_screenshot_is_the_report_not_a_blank_page(built, tmp_path):
    report, _ = built
    png = render_screenshot(report.single_file, tmp_path / "report.png", 1280, 900)
    rgb = (mpimg.imread(png)[..., :3] * 255).round().astype(int)
    assert rgb.shape == (900, 1280, 3)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    failed_red = ((r > 200) & (g < 100) & (b < 100)).sum()  # the failed scenario's status icon and bar
    passed_green = ((g > 150) & (r < 120) & (b < 130)).sum()  # the passed one's
    assert failed_red > 300 and passed_green > 300, (failed_red, passed_green)
    _, counts = np.unique(rgb.reshape(-1, 3), axis=0, return_counts=True)
    # text, icons and charts: many colours; Allure's loading screen is one flat colour
    assert len(counts) > 200 and counts.max() / counts.sum() < 0.9
