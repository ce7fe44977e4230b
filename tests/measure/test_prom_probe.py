"""The `prometheus` probe kind against a real Prometheus (Debian's `prometheus`) that this module starts on a
free loopback port with its own data folder, scraping a tiny HTTP server whose metrics the tests set.

Prometheus applies its scrape targets on a 5 s tick after start, so the first sample exists ~5-6 s after the
process starts: the module pays that once (module fixture), and its tests are marked `slow`."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from harness.errors import HarnessError
from harness.measure.probes import ProbeFailed, ProbeSpec
from harness.measure.prom_probe import PrometheusProbe, PrometheusProbeError, parse_duration, validate_spec

PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="Debian package prometheus not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Metrics:
    """An HTTP server on a free loopback port serving `up_thing VALUE` on /metrics and /slow."""

    def __init__(self):
        self.value = "1"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = f"# TYPE up_thing gauge\nup_thing {outer.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [{rules}]
scrape_configs:
  - job_name: thing
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
  - job_name: slow
    scrape_interval: 2s
    metrics_path: /slow
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""
RULES = """groups:
  - name: thing
    interval: 3s
    rules:
      - record: job:up_thing:max
        expr: max by (job) (up_thing)
"""


def query(url: str, expr: str) -> dict:
    return httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=2, trust_env=False).json()["data"]


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    """(base URL, Metrics): a real Prometheus scraping the test's metrics server every second."""
    if PROMETHEUS is None:
        pytest.skip("Debian package prometheus not installed")
    d: Path = tmp_path_factory.mktemp("prometheus")
    metrics = Metrics()
    (d / "rules.yml").write_text(RULES)
    (d / "prometheus.yml").write_text(CONFIG.format(port=metrics.port, rules=d / "rules.yml"))
    port = free_port()
    log = open(d / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={d / 'prometheus.yml'}",
            f"--storage.tsdb.path={d / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (d / "prometheus.log").read_text()
            try:
                if len(query(url, "up_thing")["result"]) == 2:  # both jobs scraped
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.2)
        else:
            pytest.fail(
                "Prometheus did not scrape the test server within 30 s: " + (d / "prometheus.log").read_text()[-2000:]
            )
        yield url, metrics
    finally:
        proc.terminate()  # our own child, by PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        metrics.close()


def probe(url: str, expr: str, name: str = "witness", timeout: float = 1.0) -> PrometheusProbe:
    return PrometheusProbe(ProbeSpec(kind="prometheus", target=url, name=name, options={"query": expr}), timeout)


async def _check(p: PrometheusProbe) -> str | None:
    """None when healthy, else the ProbeFailed text."""
    try:
        await p.check()
        return None
    except ProbeFailed as err:
        return str(err)


def wait_for(p: PrometheusProbe, healthy: bool, within_s: float = 6.0) -> tuple[float, str | None]:
    """Check every 100 ms until the probe's health is `healthy`; (seconds it took, last failure text)."""

    async def go():
        await p.open()
        try:
            t0 = time.monotonic()
            while True:
                failure = await _check(p)
                if (failure is None) == healthy:
                    return time.monotonic() - t0, failure
                if time.monotonic() - t0 > within_s:
                    raise AssertionError(f"still {'failing' if healthy else 'healthy'} after {within_s} s: {failure}")
                await asyncio.sleep(0.1)
        finally:
            await p.close()

    return asyncio.run(go())


# ---------------------------------------------------------------- against a real Prometheus
def real_prometheus(test):
    """Needs the real Prometheus of the module fixture: the package, and ~6 s to the first scrape."""
    return pytest.mark.slow(needs_prometheus(test))


@real_prometheus
def test_healthy_then_failed_then_healthy_again_as_the_scraped_value_flips(prom):
    url, metrics = prom
    p = probe(url, 'up_thing{job="thing"}')
    asyncio.run(p.preflight())
    assert wait_for(p, healthy=True, within_s=1)[0] < 1
    metrics.value = "0"
    took, failure = wait_for(p, healthy=False)
    assert took < 3.5  # one 1 s scrape interval, plus the scrape and the query
    assert 'up_thing{instance="127.0.0.1:' in failure and 'job="thing"} = 0' in failure
    assert "1 of 1 series not healthy" in failure
    metrics.value = "1"
    took, _ = wait_for(p, healthy=True)
    assert took < 3.5


@real_prometheus
def test_every_series_must_be_non_zero_and_an_empty_result_is_a_failed_check_not_an_error(prom):
    url, _ = prom
    # a threshold in PromQL: the comparison returns nothing when it is breached
    breached = probe(url, 'up_thing{job="thing"} > 5')
    asyncio.run(breached.preflight())  # no series at baseline is not a configuration error
    _, failure = wait_for(breached, healthy=False, within_s=0)
    assert failure.startswith("no samples")
    assert wait_for(probe(url, 'up_thing{job="thing"} < 5'), healthy=True, within_s=1)[0] < 1
    # two series, one of them zero: not healthy
    _, failure = wait_for(probe(url, "up_thing or vector(0)"), healthy=False, within_s=0)
    assert "of 3 series not healthy" in failure and "= 0" in failure


@real_prometheus
def test_scalar_results_are_healthy_when_non_zero_and_nan_is_not(prom):
    url, _ = prom
    assert wait_for(probe(url, 'scalar(up_thing{job="thing"})'), healthy=True, within_s=1)[0] < 1
    _, failure = wait_for(probe(url, "0"), healthy=False, within_s=0)
    assert failure == "scalar result '0' (want non-zero)"
    _, failure = wait_for(probe(url, "0/0"), healthy=False, within_s=0)
    assert "NaN" in failure


@real_prometheus
def test_unparsable_promql_is_a_preflight_error_with_prometheus_own_text(prom):
    url, _ = prom
    p = probe(url, 'up_thing{job="thing"', name="bad-query")
    with pytest.raises(PrometheusProbeError) as err:
        asyncio.run(p.preflight())
    msg = str(err.value)
    assert isinstance(err.value, HarnessError)
    assert msg.startswith("probe bad-query: Prometheus cannot parse the query")
    assert "parse error" in msg and "unexpected end of input inside braces" in msg
    # a check of the same probe fails with the same text (the sampler never gets there after a preflight)
    _, failure = wait_for(p, healthy=False, within_s=0)
    assert failure.startswith("Prometheus bad_data:") and "parse error" in failure


@real_prometheus
def test_a_range_vector_query_is_a_preflight_error(prom):
    url, _ = prom
    with pytest.raises(PrometheusProbeError, match=r"probe witness: .* returns a matrix; .*instant vector"):
        asyncio.run(probe(url, "up_thing[5s]").preflight())


@real_prometheus
def test_resolution_is_the_scrape_interval_of_the_targets_the_result_comes_from(prom):
    url, _ = prom
    cases = {
        'up_thing{job="thing"}': 1.0,  # job thing: scraped every 1 s
        'up_thing{job="slow"}': 2.0,  # job slow: every 2 s
        "sum(up_thing)": 2.0,  # no job label left: the slowest active target
        'job:up_thing:max{job="thing"}': 4.0,  # a recording rule's output: 1 s scrape + its group's 3 s
    }
    # the rule group runs every 3 s: until its first evaluation the rule's series does not exist, and the
    # probe honestly falls back to every active target (2 s + 3 s); wait for it so the case is the one meant
    deadline = time.monotonic() + 20
    while not httpx.get(f"{url}/api/v1/query", params={"query": 'job:up_thing:max{job="thing"}'}, timeout=2).json()[
        "data"
    ]["result"]:
        assert time.monotonic() < deadline, "the recording rule was not evaluated within 20 s"
        time.sleep(0.2)
    for expr, want in cases.items():
        p = probe(url, expr)
        asyncio.run(p.preflight())
        assert p.resolution_s == want, expr


def test_unreachable_prometheus_is_a_preflight_error_naming_the_probe():
    port = free_port()  # nothing listens there
    p = probe(f"http://127.0.0.1:{port}", "up", name="monitoring")
    with pytest.raises(PrometheusProbeError) as err:
        asyncio.run(p.preflight())
    assert str(err.value).startswith(f"probe monitoring: Prometheus at http://127.0.0.1:{port} is unreachable")
    assert "ConnectError" in str(err.value)
    _, failure = wait_for(p, healthy=False, within_s=0)
    assert failure.startswith("Prometheus unreachable: ConnectError")


def test_something_that_is_not_prometheus_is_a_preflight_error_and_secrets_stay_masked():
    metrics = Metrics()  # answers text/plain to every path
    try:
        p = probe(f"http://admin:hunter2@127.0.0.1:{metrics.port}", "up")
        with pytest.raises(PrometheusProbeError) as err:
            asyncio.run(p.preflight())
    finally:
        metrics.close()
    msg = str(err.value)
    assert "not like the Prometheus HTTP API" in msg and "HTTP 200" in msg
    assert "hunter2" not in msg and "admin:***@" in msg


# ---------------------------------------------------------------- offline
def test_validate_spec():
    ok = {"query": 'probe_success{job="blackbox-app"}'}
    assert validate_spec("http://127.0.0.1:19090", ok) is None
    assert validate_spec("https://prom.example.internal/prometheus", {**ok, "budget": "1"}) is None
    assert "http://HOST:PORT" in validate_spec("127.0.0.1:19090", ok)
    assert "http://HOST:PORT" in validate_spec("ftp://127.0.0.1:19090", ok)
    assert "put the PromQL expression in |query=" in validate_spec("http://127.0.0.1:9090/api/v1/query?query=up", ok)
    assert "needs |query=PROMQL" in validate_spec("http://127.0.0.1:19090", {})
    assert "needs |query=PROMQL" in validate_spec("http://127.0.0.1:19090", {"query": "  "})


def test_parse_duration():
    assert parse_duration("1s") == 1 and parse_duration("500ms") == 0.5 and parse_duration("1m30s") == 90
    assert parse_duration("2h") == 7200 and parse_duration("1d") == 86400
    for bad in ("", "1", "s", "1x", "-1s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
