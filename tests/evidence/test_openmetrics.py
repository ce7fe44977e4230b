"""`drill metrics`: OpenMetrics export of the newest drill results, checked by `promtool check metrics` and
pushed to a real Pushgateway (Debian's prometheus-pushgateway) started on a free loopback port."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from synthetic_drills import make_record, measurement
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.evidence import openmetrics
from harness.evidence.record import load_records

PROMTOOL = shutil.which("promtool")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
BASE = datetime(2025, 1, 14, 10, 0, tzinfo=UTC)
PG = "postgres-leader-kill"


def promtool_check(text: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)


def samples(text: str) -> dict[tuple[str, frozenset], str]:
    """{(name, labels): value} of every sample line (label values here hold no ',' or '}')."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z_]+)\{(.*)\} (\S+)", line)
        assert m, line
        labels = frozenset(tuple(kv.split("=", 1)) for kv in m.group(2).split(","))
        out[(m.group(1), frozenset((k, v.strip('"')) for k, v in labels))] = m.group(3)
    return out


def labels(scenario: str, objective: str = "postgresql/primary-instance-failure", **extra: str) -> frozenset:
    return frozenset(
        {"scenario": scenario, "objective": objective, "target": "local", "path": "gherkin", **extra}.items()
    )


@pytest.fixture
def three_drills(reports) -> list[dict]:
    """A quarter apart: an old met drill, a breached one with lost writes, and the newest met one for PG;
    the middle drill also has a Redis scenario that never completed."""
    return [
        make_record(reports, BASE, evidence=False, scenarios=[(PG, measurement(30.0, 0.0), "passed")]),
        make_record(
            reports,
            BASE + timedelta(days=91),
            evidence=False,
            scenarios=[
                (PG, measurement(150.5, 2.25, lost=40), "failed"),
                ("redis-primary-kill", measurement(2.4, 0.0), "broken"),
            ],
        ),
        make_record(
            reports, BASE + timedelta(days=182), evidence=False, scenarios=[(PG, measurement(21.4, 0.0), "passed")]
        ),
    ]


def test_render_keeps_the_newest_result_per_scenario_and_objective(reports, three_drills):
    rows = openmetrics.latest(openmetrics.export_rows(load_records(reports)))
    assert [(r.history.scenario, r.history.record) for r in rows] == [
        (PG, three_drills[2]["id"]),
        ("redis-primary-kill", three_drills[1]["id"]),
    ]
    text = openmetrics.render(rows)
    got = samples(text)
    pg, redis = labels(PG), labels("redis-primary-kill")
    assert got[("drill_rto_seconds", pg)] == "21.4"
    assert got[("drill_rpo_seconds", pg)] == "0.0"
    assert got[("drill_lost_writes", pg)] == "0"
    assert got[("drill_verdict", pg)] == "1"
    assert float(got[("drill_timestamp_seconds", pg)]) == (BASE + timedelta(days=182)).timestamp()
    assert got[("drill_verdict", redis)] == "0"  # not completed
    assert got[("drill_rto_seconds", redis)] == "2.4"
    assert len(got) == 10  # 5 families x 2 series, nothing else
    # OpenMetrics framing: every family typed and described before its samples, one # EOF at the very end
    for name in openmetrics.FAMILIES:
        assert f"# TYPE {name} gauge\n" in text and f"# HELP {name} " in text
        assert text.index(f"# TYPE {name} gauge") < text.index(f"{name}{{")
    assert "# UNIT drill_rto_seconds seconds\n" in text
    assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1


def test_a_breached_drill_exports_verdict_0_and_its_lost_writes(reports, three_drills):
    rows = [r for r in openmetrics.export_rows(load_records(reports)) if r.history.record == three_drills[1]["id"]]
    got = samples(openmetrics.render(rows))
    pg = labels(PG)
    assert got[("drill_verdict", pg)] == "0"
    assert got[("drill_lost_writes", pg)] == "40"
    assert got[("drill_rpo_seconds", pg)] == "2.25"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_the_output(reports, three_drills):
    text = openmetrics.render(openmetrics.export_rows(load_records(reports)))
    done = promtool_check(text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "" and done.stderr == ""  # no lint findings either


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_label_values_are_escaped_and_unmeasured_values_left_out(reports):
    odd = 'db "primary"\\kill\nagain'
    no_target = measurement(3.0, 0.0)
    no_target.pop("verdict")  # nothing to judge: no drill_verdict series
    no_target.pop("rpo_s")
    make_record(
        reports,
        BASE,
        evidence=False,
        scenarios=[(odd, measurement(5.0, 0.0), "passed"), ("plain", no_target, "passed")],
    )
    text = openmetrics.render(openmetrics.export_rows(load_records(reports)))
    assert 'scenario="db \\"primary\\"\\\\kill\\nagain"' in text
    assert 'drill_verdict{scenario="plain"' not in text and 'drill_rpo_seconds{scenario="plain"' not in text
    assert (
        'drill_rto_seconds{scenario="plain",objective="postgresql/primary-instance-failure",target="local",'
        'path="gherkin"} 3.0' in text
    )
    done = promtool_check(text)
    assert done.returncode == 0, done.stdout + done.stderr
    # and promtool does reject what is not valid, so the checks above mean something
    assert promtool_check(text.replace('scenario="plain"', "scenario=plain")).returncode != 0


def test_cli_prints_writes_and_explains_an_empty_folder(reports, three_drills, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["metrics", "--records", str(reports / "records")])
    assert res.exit_code == 0, res.output
    assert res.stdout == openmetrics.render(openmetrics.export_rows(load_records(reports)))
    # a reports folder works too; --out writes the file and prints nothing on stdout
    out = tmp_path / "textfile" / "drill.prom"
    res = runner.invoke(app, ["metrics", "--records", str(reports), "--out", str(out)])
    assert res.exit_code == 0 and res.stdout == ""
    assert out.read_text().endswith("# EOF\n") and "drill_rto_seconds{" in out.read_text()
    assert "2 result(s)" in res.stderr
    res = runner.invoke(app, ["metrics", "--records", str(tmp_path / "nothing")])
    # (`drill` turns a HarnessError into its message and exit 2)
    assert isinstance(res.exception, HarnessError) and res.exception.exit_code == 2
    assert str(res.exception).startswith(f"no drill records in {tmp_path / 'nothing'}")


# ---------------------------------------------------------------- a real Pushgateway
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pushgateway(tmp_path):
    if PUSHGATEWAY is None:
        pytest.skip("Debian package prometheus-pushgateway not installed")
    port = free_port()
    log = open(tmp_path / "pushgateway.log", "wb")
    proc = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (tmp_path / "pushgateway.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "pushgateway not ready within 15 s"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()  # our own child, by PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_push_to_a_real_pushgateway_and_read_it_back(reports, three_drills, pushgateway):
    text = openmetrics.render(openmetrics.export_rows(load_records(reports)))
    shown = openmetrics.push(pushgateway, text, job="drill")
    assert shown == f"{pushgateway}/metrics/job/drill"
    scraped = httpx.get(f"{pushgateway}/metrics", timeout=5, trust_env=False).text
    # the Pushgateway adds the grouping labels (job, and an empty instance)
    want = (
        'drill_rto_seconds{instance="",job="drill",objective="postgresql/primary-instance-failure",path="gherkin",'
        f'scenario="{PG}",target="local"}} 21.4'
    )
    assert want in scraped
    assert (
        'drill_verdict{instance="",job="drill",objective="postgresql/primary-instance-failure",path="gherkin",'
        'scenario="redis-primary-kill",target="local"} 0' in scraped
    )
    assert "# HELP drill_rpo_seconds Measured data-loss window (RPO)" in scraped
    # the CLI does the same; a second push replaces the job's group (PUT)
    res = CliRunner().invoke(app, ["metrics", "--records", str(reports), "--push", pushgateway, "--job", "drill"])
    assert res.exit_code == 0, res.output
    assert f"pushed to {pushgateway}/metrics/job/drill" in res.stderr and res.stdout == ""
    assert httpx.get(f"{pushgateway}/metrics", timeout=5, trust_env=False).text.count(want) == 1


def test_push_failures_are_clear_and_never_show_the_password(pushgateway):
    host_port = pushgateway.removeprefix("http://")
    # invalid text: the Pushgateway refuses it (400) and says why
    with pytest.raises(HarnessError) as err:
        openmetrics.push(f"http://ci:s3cr3t-Pa55@{host_port}", "drill_x{a=b} 1\n", job="drill")
    msg = str(err.value)
    assert msg.startswith(f"push to http://ci:***@{host_port}/metrics/job/drill failed: HTTP 400")
    assert "s3cr3t-Pa55" not in msg
    # nothing listening
    port = free_port()
    with pytest.raises(HarnessError) as err:
        openmetrics.push(f"http://ci:s3cr3t-Pa55@127.0.0.1:{port}", "# EOF\n")
    msg = str(err.value)
    assert f"push to http://ci:***@127.0.0.1:{port}/metrics/job/drill failed: ConnectError" in msg
    assert "s3cr3t-Pa55" not in msg
    with pytest.raises(HarnessError, match="expected the Pushgateway's http:// or https:// URL"):
        openmetrics.push("127.0.0.1:9091", "# EOF\n")
