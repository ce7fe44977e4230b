"""The team's monitoring at the edge: Prometheus (scrape and evaluation interval 1 s) and its exporters, from
Debian's packages, on the lab's own ports and data folders (never a system service).

    component          scrapes / probes                                        Prometheus job
    blackbox-exporter  http GET HAProxy app /health (the public entry point)    blackbox-app
                       tcp connect to HAProxy pg_primary                       blackbox-pg-primary
    postgres-exporter  the PostgreSQL primary through HAProxy pg_primary       postgres
    redis-exporter     every Redis server (multi-target /scrape)               redis
    prometheus         all of the above, and itself                            prometheus

A second witness beside the harness's own probes (the `prometheus` probe kind): what the monitoring users
already have sees a fault too, a scrape interval later. `lab status` shows each component, but the lab's
health counts them only as warnings (process up and answering its ready/health endpoint): a Prometheus
that is down must not stop a drill that never asked for it.

Secrets: the postgres exporter logs in as the app user with the password from a 0600 file named in its
environment (DATA_SOURCE_PASS_FILE); nothing secret is on a command line, in the state file or in a log
(the exporter prints DSNs with PASSWORD_REMOVED).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.lab.context import LabContext, Launch
from harness.lab.state import ensure_dir, write_private
from harness.lab.topology import EDGE, PG_APP_USER, PG_DATABASE, SPECS, ComponentSpec, of_kind

KIND = "monitoring"
SCRAPE_INTERVAL = "1s"
EVALUATION_INTERVAL = "1s"
# A blackbox probe must end inside the 1 s scrape: its module timeout, and the offset the exporter keeps
# below Prometheus's scrape timeout.
PROBE_TIMEOUT = "800ms"
BLACKBOX_TIMEOUT_OFFSET = "0.1"
# Each component's "I am up" endpoint (what `lab status` asks; all answer 200 when the process serves HTTP).
READY_PATH = {
    "prometheus": "/-/ready",
    "blackbox-exporter": "/-/healthy",
    "postgres-exporter": "/",
    "redis-exporter": "/health",
}
NICENESS = 10
# How long `lab up` waits, after the lab is healthy, for the monitoring to answer and Prometheus to have
# scraped every target once (its scrape targets start ~5 s after it does). It never fails the lab.
READY_WAIT_S = 15.0
BINARIES = {
    "prometheus": "prometheus",
    "prometheus-blackbox-exporter": "prometheus-blackbox-exporter",
    "prometheus-postgres-exporter": "prometheus-postgres-exporter",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
}


def url(ctx: LabContext, name: str) -> str:
    host, port = ctx.addr(name, "http")
    return f"http://{host}:{port}"


def prometheus_url(ctx: LabContext) -> str:
    """Base URL of the lab's Prometheus (for `prometheus=URL|query=...` probes)."""
    return url(ctx, "prometheus")


def _listen(ctx: LabContext, name: str) -> str:
    host, port = ctx.addr(name, "http")
    return f"{host}:{port}"


def _haproxy(ctx: LabContext, purpose: str) -> str:
    return f"{ctx.host(EDGE)}:{SPECS['haproxy'].ports[purpose]}"


def _via_exporter(exporter: str) -> list[dict[str, Any]]:
    """Multi-target exporter pattern: the target becomes ?target=, the exporter is what Prometheus scrapes."""
    return [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": exporter},
    ]


def prometheus_config(ctx: LabContext) -> dict[str, Any]:
    blackbox = _listen(ctx, "blackbox-exporter")
    redis_exporter = _listen(ctx, "redis-exporter")
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": EVALUATION_INTERVAL,
        },
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [_listen(ctx, "prometheus")]}]},
            {
                "job_name": "blackbox-app",
                "metrics_path": "/probe",
                "params": {"module": ["http_2xx"]},
                "static_configs": [
                    {
                        "targets": [f"http://{_haproxy(ctx, 'app')}/health"],
                        "labels": {"component": "haproxy", "endpoint": "app"},
                    }
                ],
                "relabel_configs": _via_exporter(blackbox),
            },
            {
                "job_name": "blackbox-pg-primary",
                "metrics_path": "/probe",
                "params": {"module": ["tcp_connect"]},
                "static_configs": [
                    {
                        "targets": [_haproxy(ctx, "pg_primary")],
                        "labels": {"component": "haproxy", "endpoint": "pg_primary"},
                    }
                ],
                "relabel_configs": _via_exporter(blackbox),
            },
            {
                "job_name": "postgres",
                "static_configs": [
                    {"targets": [_listen(ctx, "postgres-exporter")], "labels": {"endpoint": "pg_primary"}}
                ],
            },
            {
                "job_name": "redis",
                "metrics_path": "/scrape",
                "static_configs": [
                    {"targets": ["redis://{}:{}".format(*ctx.addr(s.name, "redis"))], "labels": {"component": s.name}}
                    for s in of_kind("redis")
                ],
                "relabel_configs": _via_exporter(redis_exporter),
            },
        ],
    }


BLACKBOX_CONFIG = {
    "modules": {
        "http_2xx": {
            "prober": "http",
            "timeout": PROBE_TIMEOUT,
            "http": {"preferred_ip_protocol": "ip4", "follow_redirects": False},
        },
        "tcp_connect": {"prober": "tcp", "timeout": PROBE_TIMEOUT, "tcp": {"preferred_ip_protocol": "ip4"}},
    }
}

# One query of our own beside the exporter's defaults: is the server behind HAProxy's primary endpoint a
# primary? (pg_endpoint_in_recovery: 0 primary, 1 replica)
POSTGRES_QUERIES = {
    "pg_endpoint": {
        "query": "SELECT pg_is_in_recovery()::int AS in_recovery",
        "metrics": [
            {
                "in_recovery": {
                    "usage": "GAUGE",
                    "description": "1 when the server behind HAProxy pg_primary is in recovery",
                }
            }
        ],
    }
}


def _dir(ctx: LabContext, name: str) -> Path:
    return ensure_dir(ctx.paths.component_dir(name), 0o700)


def launch(ctx: LabContext, spec: ComponentSpec) -> Launch:
    out = {
        "prometheus": _prometheus,
        "blackbox-exporter": _blackbox,
        "postgres-exporter": _postgres_exporter,
        "redis-exporter": _redis_exporter,
    }[spec.name](ctx, spec)
    # The witness must not slow down what it watches: on a 2-core box Prometheus's start competed with
    # Patroni's bootstrap and made `lab up` ~1.5 s slower. Lower CPU priority (`nice` execs, so the PID is the
    # program's own) and one Go scheduler thread each.
    out.argv = ["nice", "-n", str(NICENESS), *out.argv]
    out.env = {"GOMAXPROCS": "1", **out.env}
    return out


def _prometheus(ctx: LabContext, spec: ComponentSpec) -> Launch:
    d = _dir(ctx, spec.name)
    cfg = d / "prometheus.yml"
    cfg.write_text(
        "# Generated by the drill lab; rewritten on `drill lab up`.\n"
        + yaml.safe_dump(prometheus_config(ctx), sort_keys=False)
    )
    return Launch(
        argv=[
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={d / 'data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address={_listen(ctx, spec.name)}",
            "--log.level=warn",
        ]
    )


def _blackbox(ctx: LabContext, spec: ComponentSpec) -> Launch:
    d = _dir(ctx, spec.name)
    cfg = d / "blackbox.yml"
    cfg.write_text(yaml.safe_dump(BLACKBOX_CONFIG, sort_keys=False))
    return Launch(
        argv=[
            "prometheus-blackbox-exporter",
            f"--config.file={cfg}",
            f"--web.listen-address={_listen(ctx, spec.name)}",
            f"--timeout-offset={BLACKBOX_TIMEOUT_OFFSET}",
            "--log.level=warn",
        ]
    )


def _postgres_exporter(ctx: LabContext, spec: ComponentSpec) -> Launch:
    d = _dir(ctx, spec.name)
    password = d / "password"
    write_private(password, ctx.secrets[PG_APP_USER])  # 0600 before a byte is written
    queries = d / "queries.yaml"
    queries.write_text(yaml.safe_dump(POSTGRES_QUERIES, sort_keys=False))
    # lib/pq URI without user or password; connect_timeout: a frozen server must not hang a scrape for long
    uri = f"{_haproxy(ctx, 'pg_primary')}/{PG_DATABASE}?sslmode=disable&connect_timeout=1"
    return Launch(
        # the queries file names the state folder, so `lab down`'s sweep recognises the process as the lab's
        argv=[
            "prometheus-postgres-exporter",
            f"--web.listen-address={_listen(ctx, spec.name)}",
            "--disable-settings-metrics",
            f"--extend.query-path={queries}",
            "--log.level=warn",
        ],
        env={"DATA_SOURCE_URI": uri, "DATA_SOURCE_USER": PG_APP_USER, "DATA_SOURCE_PASS_FILE": str(password)},
    )


def _redis_exporter(ctx: LabContext, spec: ComponentSpec) -> Launch:
    d = _dir(ctx, spec.name)
    # The lab's Redis has no password; the (empty, 0600) password map is where one would go. Its path also
    # names the state folder for `lab down`'s sweep. (The exporter logs "Loaded 0 entries from ..." at level
    # error on every start: that is its normal start message, not a problem.)
    passwords = d / "passwords.json"
    write_private(passwords, json.dumps({}))
    return Launch(
        argv=[
            "prometheus-redis-exporter",
            "-redis.addr",
            "redis://{}:{}".format(*ctx.addr("redis-a", "redis")),
            "-redis.password-file",
            str(passwords),
            "-web.listen-address",
            _listen(ctx, spec.name),
        ]
    )


def ready(ctx: LabContext, name: str, timeout: float = 0.5) -> tuple[bool, str]:
    """Is the component answering its ready/health endpoint? (ok, text for `lab status`)."""
    try:
        r = httpx.get(url(ctx, name) + READY_PATH[name], timeout=timeout, trust_env=False)
    except httpx.HTTPError as err:
        return False, f"not answering ({type(err).__name__})"
    if r.status_code != 200:
        return False, f"{READY_PATH[name]}: HTTP {r.status_code}"
    if name != "prometheus":
        return True, "answering"
    try:
        targets = httpx.get(
            url(ctx, name) + "/api/v1/targets", params={"state": "active"}, timeout=timeout, trust_env=False
        ).json()["data"]["activeTargets"]
        up = sum(1 for t in targets if t.get("health") == "up")
        return True, f"ready, {up}/{len(targets)} targets up"
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return True, "ready"


def health_rows(ctx: LabContext) -> list[dict[str, Any]]:
    """One status row per monitoring component: ok = it answers its ready/health endpoint (health.py adds
    "the process is running"). The lab's health does not depend on these rows (see health.OPTIONAL_KINDS)."""
    specs = of_kind(KIND)
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:  # a hung one costs its timeout once, not 4 times
        answers = list(pool.map(lambda s: ready(ctx, s.name), specs))
    return [
        {"name": s.name, "ok": ok, "role": "monitoring" if s.name == "prometheus" else "exporter", "health": text}
        for s, (ok, text) in zip(specs, answers)
    ]


def _never_scraped(ctx: LabContext, timeout: float = 0.5) -> list[str]:
    """Scrape pools of active targets Prometheus has not scraped yet (all, if it cannot say)."""
    try:
        targets = httpx.get(
            prometheus_url(ctx) + "/api/v1/targets", params={"state": "active"}, timeout=timeout, trust_env=False
        ).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return ["prometheus: no target list"]
    jobs = {j["job_name"] for j in prometheus_config(ctx)["scrape_configs"]}
    seen = {t.get("scrapePool") for t in targets if not str(t.get("lastScrape", "")).startswith("0001-")}
    return [f"prometheus: job {j} not scraped yet" for j in sorted(jobs - seen)]


def wait_ready(ctx: LabContext, timeout: float) -> list[str]:
    """Wait until every monitoring component answers and Prometheus has scraped each job once; return what
    is still missing at `timeout` (empty: all there)."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [f"{r['name']}: {r['health']}" for r in health_rows(ctx) if not r["ok"]]
        if not missing:
            missing = _never_scraped(ctx)
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(0.2)
