"""The shipped Kubernetes experiment, run by the real `chaos run` CLI (a subprocess) as an operator would run it.

No real cluster can run on these machines, so tests/cloud/k8s_api_standin.py (a Kubernetes API stand-in on
127.0.0.1) replaces the cluster, and a tiny HTTP server on 127.0.0.1 replaces the app's public endpoint (the
steady-state probe and the measurement control's probe). Everything else is real: chaoslib's `${...}`
substitution from the environment, the harness activities of harness/faults/k8s.py (explicit kubeconfig and
context, the target file's allowlists and limits, the intent log), the undo_fault rollback and the
measurement control writing its result into the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, OTHER_CONTEXT, OTHER_NAMESPACE, k8s_target_file, standin  # noqa: F401

from harness.faults.intent import INTENT_FILE, IntentLog

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "k8s" / "pod-termination.json"
CHAOS = str(Path(sys.executable).with_name("chaos"))
SELECTOR = "app=freight-api"


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def app_url() -> Iterator[str]:
    """The app's public endpoint, standing in for the app behind the cluster's load balancer (always healthy:
    the stand-in cluster has no data plane, so a deleted pod cannot cause an outage here)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def chaos_run(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, dict]:
    journal = tmp_path / "journal.json"
    done = subprocess.run(
        [CHAOS, "--no-log-file", "run", "--journal-path", str(journal), str(EXPERIMENT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert journal.is_file(), done.stdout + done.stderr
    return done, json.loads(journal.read_text())


def experiment_env(standin, k8s_target_file: Path, app_url: str, tmp_path: Path, context: str) -> dict[str, str]:
    """Every value of the experiment's `configuration` comes from here (the JSON is never edited)."""
    return {
        "DRILL_K8S_TARGET": str(k8s_target_file),
        "KUBECONFIG": str(standin.kubeconfig),
        "K8S_CONTEXT": context,
        "K8S_NAMESPACE": NAMESPACE,
        "APP_SELECTOR": SELECTOR,
        "APP_URL": app_url,
        "DRILL_STATE_DIR": str(tmp_path / "state"),
    }


def pod_names(standin, ns: str, selector: str = "") -> set[str]:
    return {p["metadata"]["name"] for p in standin.pods(ns, selector)}


def test_pod_termination_experiment_deletes_one_pod_of_the_selector_in_the_allowlisted_namespace(
    standin, k8s_target_file, app_url, tmp_path
):
    before = pod_names(standin, NAMESPACE, SELECTOR)
    others_before = pod_names(standin, NAMESPACE) - before
    elsewhere_before = pod_names(standin, OTHER_NAMESPACE)
    assert len(before) == 3

    done, journal = chaos_run(tmp_path, experiment_env(standin, k8s_target_file, app_url, tmp_path, ALLOWED_CONTEXT))

    assert done.returncode == 0, done.stdout + done.stderr
    assert journal["status"] == "completed", journal["status"]
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    action, probe = journal["run"]
    assert action["status"] == "succeeded", action
    assert action["activity"]["provider"]["func"] == "chaos_terminate_pods"
    assert action["output"]["fault"] == "app-crash"
    assert probe["status"] == "succeeded" and probe["output"] is True  # the replacement is ready

    # exactly one pod of the selector was deleted, and it was one of those that existed before
    writes = standin.writes()
    deletes = [w for w in writes if w["method"] == "DELETE"]
    assert len(deletes) == 1, writes
    prefix = f"/api/v1/namespaces/{NAMESPACE}/pods/"
    assert deletes[0]["path"].startswith(prefix)
    victim = deletes[0]["path"][len(prefix) :]
    assert victim in before
    after = pod_names(standin, NAMESPACE, SELECTOR)
    assert victim not in after and len(after) == 3  # the Deployment replaced it
    assert f"{NAMESPACE}/{victim}" in action["output"]["blast"]["resources"][0]  # the plan named it first

    # nothing outside the allowlisted namespace (nor other workloads inside it) was touched
    assert writes == deletes  # no other write at all: no patch, no policy, no eviction
    assert pod_names(standin, OTHER_NAMESPACE) == elsewhere_before
    assert pod_names(standin, NAMESPACE) - after == others_before
    assert standin.users() == {"drill"}  # never the kubeconfig's current-context (prod-eks)

    # the harness's intent log has the fault, closed by the undo_fault rollback
    intents = _intents(tmp_path)
    assert [(i.fault, i.state) for i in intents.values()] == [("app-crash", "undone")]
    assert journal["rollbacks"][0]["status"] == "succeeded"

    # the measurement control ran and wrote its one journal key, cleared by the target's safety section
    measured = journal["drill_measurement"]
    assert measured["inject_at"] == "terminate an app pod"
    assert measured["clearance"]["environment"] == "staging"
    assert measured["failed_actions"] == []


def test_pod_termination_experiment_refuses_a_context_off_the_allowlist_and_writes_nothing(
    standin, k8s_target_file, app_url, tmp_path
):
    """K8S_CONTEXT names the kubeconfig's prod context: the action is refused before any request, and the
    measurement control fails the run (exit 1)."""
    done, journal = chaos_run(tmp_path, experiment_env(standin, k8s_target_file, app_url, tmp_path, OTHER_CONTEXT))

    assert done.returncode == 1, done.stdout + done.stderr
    assert journal["status"] == "failed"
    action = journal["run"][0]
    assert action["status"] == "failed"
    assert "not on this target's allowlist" in action["exception"][-1]
    assert journal["drill_measurement"]["failed_actions"] == ["terminate an app pod"]
    assert standin.writes() == []
    assert standin.users() <= {"drill"}  # the prod context's token was never sent
    assert all(i.fault != "app-crash" or i.state != "injected" for i in _intents(tmp_path).values())


def _intents(tmp_path: Path) -> dict:
    """The intent log the `chaos run` subprocess wrote (DRILL_STATE_DIR)."""
    path = tmp_path / "state" / INTENT_FILE
    return IntentLog(path).intents() if path.exists() else {}
