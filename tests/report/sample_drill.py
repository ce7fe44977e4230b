"""A tiny Gherkin drill, run for real by pytest-bdd + allure-pytest-bdd, so the report tests work on genuine
Allure results without the lab: one scenario passes, one fails with "RPO breached", one breaks (an
exception, not an assertion); the measured ones attach what a real drill attaches (timeline PNG,
measurement JSON, RTO/RPO HTML table)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PASSING = "Redis primary killed recovers within the RTO"
FAILING = "PostgreSQL async leader loss keeps the RPO"
BROKEN = "Probe endpoint cannot be reached"

FEATURE = f"""\
Feature: Sample database failover drills
  Scenario: {PASSING}
    Given a measured outage of 2.3 seconds with 0 writes lost
    Then the drill attaches its evidence
    And the RPO is within 5 seconds

  Scenario: {FAILING}
    Given a measured outage of 21.5 seconds with 40 writes lost
    Then the drill attaches its evidence
    And the RPO is within 5 seconds

  Scenario: {BROKEN}
    Given the probe endpoint refuses connections
"""

STEPS = """\
import json

import allure
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from pytest_bdd import given, parsers, scenarios, then

scenarios("drills.feature")


@given(parsers.parse("a measured outage of {rto:g} seconds with {lost:d} writes lost"),
       target_fixture="measured")
def measured(rto, lost):
    # 40 writes at 20 writes/s: the last durable write is 2 s before the fault
    return {"rto_s": rto, "rpo_s": lost / 20.0 * 4, "lost": lost}


@given("the probe endpoint refuses connections")
def refused():
    # not an assertion: Allure calls it "broken", the report files it under "Harness error"
    raise ConnectionRefusedError("probe endpoint 127.0.0.1:1 refused the connection")


@then("the drill attaches its evidence")
def attach_evidence(measured, tmp_path):
    fig, ax = plt.subplots(figsize=(4, 2), dpi=60)
    ax.plot([0, 1, 1 + measured["rto_s"], 30], [1, 1, 0, 1])
    png = tmp_path / "timeline.png"
    fig.savefig(png)
    plt.close(fig)
    allure.attach.file(str(png), name="timeline", attachment_type=allure.attachment_type.PNG)
    allure.attach(json.dumps(measured), name="measurement", attachment_type=allure.attachment_type.JSON)
    allure.attach(
        "<table><tr><th>objective</th><th>RTO</th><th>RPO</th></tr>"
        f"<tr><td>measured</td><td>{measured['rto_s']} s</td><td>{measured['rpo_s']} s</td></tr></table>",
        name="RTO/RPO", attachment_type=allure.attachment_type.HTML)


@then(parsers.parse("the RPO is within {limit:g} seconds"))
def rpo_within(measured, limit):
    assert measured["rpo_s"] <= limit, (
        f"RPO breached: measured {measured['rpo_s']} s > target {limit} s ({measured['lost']} writes lost)")
"""


def run_sample_drill(workdir: Path) -> Path:
    """Write the drill into `workdir`, run it with pytest, return its allure-results directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "drills.feature").write_text(FEATURE)
    (workdir / "test_drills.py").write_text(STEPS)
    # an empty ini makes workdir the rootdir: the project's own conftest/pytest options stay out of it
    (workdir / "pytest.ini").write_text("[pytest]\n")
    results = workdir / "allure-results"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--alluredir={results}", "test_drills.py"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # exit 1 = the RPO and the broken scenarios failed, as designed; anything else is a broken sample
    assert proc.returncode == 1, textwrap.shorten(proc.stdout + proc.stderr, 2000)
    assert "2 failed, 1 passed" in proc.stdout, proc.stdout[-2000:]
    return results
