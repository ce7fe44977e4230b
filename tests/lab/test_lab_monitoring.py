"""The lab's monitoring (harness/lab/monitoring.py): a real Prometheus and its exporters at the edge, scraping
the lab every second; a second witness that sees a fault, and that the lab's health never depends on.
Runs on the session's lab, before test_lifecycle stops it (alphabetical order)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path

import httpx

from harness.lab import Lab
from harness.lab.topology import of_kind
from harness.measure.probes import ProbeFailed, ProbeSpec
from harness.measure.prom_probe import PrometheusProbe

MONITORING = ["prometheus", "blackbox-exporter", "postgres-exporter", "redis-exporter"]


def _query(lab: Lab, expr: str) -> list[dict]:
    r = httpx.get(f"{lab.prometheus_url}/api/v1/query", params={"query": expr}, timeout=2, trust_env=False)
    return r.json()["data"]["result"]


def _value(lab: Lab, expr: str) -> list[str]:
    return [s["value"][1] for s in _query(lab, expr)]


def _until(cond, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)


def _probe(lab: Lab, expr: str) -> PrometheusProbe:
    return PrometheusProbe(ProbeSpec("prometheus", lab.prometheus_url, "witness", {"query": expr}), 1.0)


async def _healthy(p: PrometheusProbe) -> bool:
    await p.open()  # a client per event loop: each asyncio.run() below is a new loop
    try:
        await p.check()
        return True
    except ProbeFailed:
        return False
    finally:
        await p.close()


def test_monitoring_runs_at_the_edge_and_scrapes_every_job(lab: Lab):
    st = lab.status()
    assert st["healthy"], st["problems"]
    rows = {c["name"]: c for c in st["components"]}
    for name in MONITORING:
        row = rows[name]
        assert row["running"] and row["ok"] and row["optional"] and row["zone"] == "edge", row
        assert row["address"].startswith(lab.ctx.host("edge") + ":")
        # niced, so the witness does not slow down what it watches (the PID is the program's, not nice's)
        stat_fields = Path(f"/proc/{row['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat_fields[16]) == 10, name  # field 19: nice
    assert "targets up" in rows["prometheus"]["health"]
    assert st["warnings"] == []
    assert st["endpoints"]["prometheus"] == lab.prometheus_url
    # `lab up` waited until every job was scraped once; all of them answer
    up = {s["metric"]["job"]: s["value"][1] for s in _query(lab, "up")}
    assert set(up) == {"prometheus", "blackbox-app", "blackbox-pg-primary", "postgres", "redis"}, up
    assert set(up.values()) == {"1"}, up
    assert _value(lab, 'probe_success{job="blackbox-app"}') == ["1"]
    assert _value(lab, 'probe_success{job="blackbox-pg-primary"}') == ["1"]
    assert _value(lab, "pg_up") == ["1"]
    assert _value(lab, "pg_endpoint_in_recovery") == ["0"]  # HAProxy's primary endpoint reaches a primary
    assert sorted(s["metric"]["component"] for s in _query(lab, "redis_up == 1")) == [s.name for s in of_kind("redis")]
    assert len(_query(lab, 'redis_instance_info{role="master"}')) == 1
    # scrape and evaluation interval 1 s, as the prometheus probe reports it
    p = _probe(lab, 'probe_success{job="blackbox-app"}')
    asyncio.run(p.preflight())
    assert p.resolution_s == 1.0
    assert asyncio.run(_healthy(p))


def test_no_secret_on_a_command_line_in_a_log_or_in_the_state_file(lab: Lab):
    secrets = [s for s in lab.ctx.secrets.values() if s]
    for name in MONITORING:
        pid = lab.components[name]["pid"]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert not any(s in cmdline for s in secrets), name
        log = lab.paths.log(name).read_text(errors="replace")
        assert not any(s in log for s in secrets), name
    state = lab.paths.state_file.read_text()
    assert not any(s in state for s in secrets)
    env = json.loads(state)["components"]["postgres-exporter"]["launch"]["env"]
    assert set(env) == {"DATA_SOURCE_URI", "DATA_SOURCE_USER", "DATA_SOURCE_PASS_FILE", "GOMAXPROCS"}
    pw = Path(env["DATA_SOURCE_PASS_FILE"])
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600 and pw.stat().st_uid == os.geteuid()
    assert pw.read_text() == lab.ctx.secrets["drill"]


def test_the_witness_sees_the_app_go_down_and_come_back(lab: Lab):
    """All AZ app replicas out of HAProxy: the blackbox probe of the public entry point fails within about one
    scrape interval, and the prometheus probe with it; back in, it recovers."""
    servers = [s.name for s in of_kind("app") if s.zone != "dr"]
    p = _probe(lab, 'probe_success{job="blackbox-app"}')
    try:
        for name in servers:
            lab.haproxy_command(f"disable server app/{name}")
        t0 = time.monotonic()
        assert _until(lambda: not asyncio.run(_healthy(p)), 6), "the witness never saw the outage"
        seen = time.monotonic() - t0
        assert seen < 4.0, seen  # 1 s scrape + a probe of at most 0.8 s + the query
    finally:
        for name in servers:
            lab.haproxy_command(f"enable server app/{name}")
    assert _until(lambda: asyncio.run(_healthy(p)), 8), "the witness never saw the recovery"
    lab.wait_healthy(30)


def test_a_stopped_prometheus_is_a_warning_not_an_unhealthy_lab(lab: Lab):
    assert lab.stop_component("prometheus")
    try:
        st = lab.wait_healthy(10)  # returns at once: the lab is healthy without its monitoring
        assert st["healthy"] and st["problems"] == []
        assert "prometheus: not running" in st["warnings"]
        row = next(c for c in lab.status()["components"] if c["name"] == "prometheus")
        assert not row["ok"] and not row["running"] and row["optional"]
    finally:
        lab.start_component("prometheus")
    assert _until(lambda: next(c for c in lab.status()["components"] if c["name"] == "prometheus")["ok"], 15)
    assert _until(lambda: _query(lab, 'probe_success{job="blackbox-app"} == 1'), 15)
