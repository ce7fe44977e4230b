"""network-latency and network-blackhole on the real lab, through the `db` fault proxy (app replicas -> PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time

import httpx
import psycopg
from faultlab_helpers import drill, report
from netfaults_helpers import post_load_seconds

from harness.faults import runner
from harness.lab import apps, proxies
from harness.measure import Measurement, Targets, parse_probe_spec

LATENCY_MS = 100

HOLD_S = 6.0

HOLDER = """
import time
from harness.faults import runner
from harness.lab import Lab
runner.inject("network-latency", {"ms": 300, "target": "db"}, Lab.load())
print("ready", flush=True)
time.sleep(600)
"""


def _proxy_state(lab) -> dict:
    return proxies.control(lab.ctx, "db").get()


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _post_status(url: str) -> int:
    try:
        return httpx.post(f"{url}/loads", json={"probe": 1}, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_the_db_proxy_is_a_lab_component_in_the_apps_path(lab):
    status = drill("lab", "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {c["name"]: c for c in json.loads(status.stdout)["components"]}
    assert rows["proxy-db"]["running"] and rows["proxy-db"]["ok"], rows["proxy-db"]
    assert rows["proxy-db"]["health"].startswith("pass -> ")
    assert rows["proxy-db"]["pid"] == lab.components["proxy-db"]["pid"]
    # Every AZ app replica is configured to reach PostgreSQL at the proxy, and traffic really flows through it.
    host, port = proxies.app_db_address(lab.ctx)
    for name in ("app-a", "app-b", "app-c"):
        assert f"@{host}:{port}/" in " ".join(lab.state["components"][name]["launch"]["argv"])
    before = _proxy_state(lab)["bytes_downstream"]
    post_load_seconds(lab.app_replica_url("app-a"), n=3)
    assert _proxy_state(lab)["bytes_downstream"] > before
    # Pass-mode overhead, reported (not asserted): SELECT 1 through the proxy vs straight to HAProxy.
    direct = _select_one_seconds(lab.pg_dsn("primary"))
    proxied = _select_one_seconds(apps.pg_dsn(lab.ctx, host, port))
    report(
        "proxy-db pass overhead", select1_direct_ms=round(direct * 1000, 2), select1_proxied_ms=round(proxied * 1000, 2)
    )


def _select_one_seconds(dsn: str, n: int = 50) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            conn.execute("SELECT 1").fetchone()
            times.append(time.monotonic() - t0)
    return statistics.median(times)


def test_unknown_target_is_one_clear_error_and_injects_nothing(lab, intent_log):
    before = intent_log.path.read_bytes() if intent_log.path.exists() else b""
    out = drill("fault", "inject", "network-latency", "ms=300", "target=cache")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "unknown target 'cache'" in out.stderr and "known targets: db" in out.stderr
    assert out.stderr.count("error:") == 1 and "Traceback" not in out.stderr
    assert (intent_log.path.read_bytes() if intent_log.path.exists() else b"") == before
    assert _proxy_state(lab)["mode"] == "pass"


def test_latency_on_db_slows_the_apps_queries_and_undo_restores_pass(lab, intent_log):
    url = lab.app_replica_url("app-b")
    baseline = post_load_seconds(url)
    shown = []
    # 100 ms, not more: the app gives every DB call 1 s, connect included, and a new connection (the app's
    # short /health checks discard theirs when slow) takes ~4 delayed replies; at 300 ms it timed out in CI.
    fault_id = runner.inject(
        "network-latency", {"ms": LATENCY_MS, "target": "db"}, lab, log=intent_log, show=shown.append
    )
    try:
        assert _proxy_state(lab)["mode"] == "latency"
        undo = intent_log.get(fault_id).undo
        assert undo == [
            {"kind": "proxy_mode", "control": str(proxies.control_path(lab.ctx, "proxy-db")), "mode": "pass"}
        ]
        assert "proxy-db" in shown[0].summary and "PostgreSQL primary" in shown[0].summary
        during = post_load_seconds(url)
    finally:
        result = runner.undo(fault_id, log=intent_log)
    after = post_load_seconds(url)
    report(
        f"network-latency ms={LATENCY_MS} target=db",
        baseline_s=round(baseline, 3),
        during_s=round(during, 3),
        after_s=round(after, 3),
        extra_s=round(during - baseline, 3),
    )
    assert result.ok, result.line()
    assert during - baseline >= 0.8 * LATENCY_MS / 1000, (baseline, during)  # one delayed reply per INSERT
    assert _proxy_state(lab)["mode"] == "pass"
    assert after < during


def test_blackhole_on_db_fails_the_db_endpoint_and_undo_restores_it(lab, intent_log):
    url = lab.app_replica_url("app-c")
    assert _post_status(url) == 201
    fault_id = runner.inject("network-blackhole", {"target": "db"}, lab, log=intent_log)
    try:
        assert _proxy_state(lab)["mode"] == "blackhole"
        # The app gives up on the DB after its 1 s deadline: 503 with the reason, for writes and /health.
        r = httpx.post(f"{url}/loads", json={"blackholed": True}, timeout=10)
        assert r.status_code == 503 and r.json()["error"] == "database", r.text
        assert httpx.get(f"{url}/health", timeout=10).status_code == 503
        kinds = [(u["kind"], u["mode"]) for u in intent_log.get(fault_id).undo]
        assert kinds == [("proxy_mode", "pass"), ("proxy_mode", "reset")]  # replayed newest first
    finally:
        result = runner.undo(fault_id, log=intent_log)
    assert result.ok, result.line()
    assert _proxy_state(lab)["mode"] == "pass"
    t0 = time.monotonic()
    _wait(lambda: _post_status(url) == 201, 30, "app-c writes to succeed again")
    report("network-blackhole target=db undone", writes_back_after_s=round(time.monotonic() - t0, 2))
    lab.wait_healthy(60)


def test_measured_outage_of_a_held_blackhole_matches_the_hold(lab, intent_log, tmp_path):
    probe = parse_probe_spec("app@http=" + lab.app_url + "/health")
    with Measurement(probes=[probe], interval=0.1, stable=2.0, out_dir=tmp_path / "m") as m:
        m.start()
        m.baseline(2)
        m.mark_inject(f"network-blackhole target=db seconds={HOLD_S:g}")
        fault_id = runner.inject("network-blackhole", {"target": "db", "seconds": HOLD_S}, lab, log=intent_log)
        timer_pid = intent_log.get(fault_id).detail["timer_pid"]
        recovered = m.wait_recovered(timeout=60)
        result = m.stop(targets=Targets(rto_s=60))
    report(
        "network-blackhole held",
        hold_s=HOLD_S,
        rto_s=result.rto_s,
        uncertainty_s=result.uncertainty_s,
        detect_s=result.detect_s,
    )
    assert recovered and result.recovered and not result.no_outage_observed
    assert intent_log.get(fault_id).pending is False  # the detached timer undid it
    assert _proxy_state(lab)["mode"] == "pass"
    # Ground truth: the outage is the hold, within one interval + probe timeout, plus the stability window
    # for what comes after the undo (HAProxy putting the app replicas back: rise 2 x 200 ms).
    assert HOLD_S - result.uncertainty_s <= result.rto_s <= HOLD_S + result.uncertainty_s + 2.0, result.rto_s
    _wait(lambda: not os.path.exists(f"/proc/{timer_pid}") or _zombie(timer_pid), 5, "the undo timer to exit")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_kill9_of_the_latency_injector_then_drill_recover_restores_pass(lab, intent_log):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert [i.fault for i in intent_log.pending()] == ["network-latency"]
        assert _proxy_state(lab)["mode"] == "latency"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
    assert _proxy_state(lab)["mode"] == "latency"  # the fault outlived its injector
    out = drill("recover")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "network-latency" in out.stdout and "set to pass" in out.stdout
    assert intent_log.pending() == []
    assert _proxy_state(lab)["mode"] == "pass"
    lab.wait_healthy(60)
