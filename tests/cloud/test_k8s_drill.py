"""`drill run --target <kubernetes target> FEATURE` runs a catalog-phrased Gherkin feature on Kubernetes.

The API server stand-in (tests/cloud/k8s_api_standin.py, real HTTP on 127.0.0.1) replaces a cluster: none can
run on these machines. It replaces a deleted pod at once and the new pod is Ready at once, so the outage the
drill measures comes from the stand-in app below: its /health answers 503 for a known RECONNECT_S after the uid
of the Ready db-primary pod changes (it reads the stand-in itself), 200 otherwise — the ground truth the drill's
measurement must find. The drill itself is the REAL `drill` console script in a subprocess.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from k8s_fixtures import (  # noqa: F401
    ALLOWED_CONTEXT,
    NAMESPACE,
    OTHER_CONTEXT,
    OTHER_NAMESPACE,
    SEED,
    k8s_target_file,
    start_standin,
)
from standin_app import ReconnectingApp

from harness.drills.scenario import DrillScenario
from harness.errors import HarnessError
from harness.evidence.record import load_records
from harness.faults.intent import IntentLog
from harness.targets import load as load_drill_target
from harness.targets.kubernetes import KubernetesTarget

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = [pytest.mark.timing, pytest.mark.alone]  # its baseline probes miss their 1 s budget beside a second worker

DRILL = str(Path(sys.executable).with_name("drill"))
FEATURE = Path(__file__).resolve().parent / "features" / "k8s_db_failover.feature"
PRIMARY_SELECTOR = "app=postgresql,role=primary"  # the example target's db_primary_selector default
RECONNECT_S = 1.5  # the stand-in app's known outage after the primary pod changes (ground truth)
ZONES = {"K8S_ZONE_A": "zone-a", "K8S_ZONE_B": "zone-b", "K8S_ZONE_C": "zone-c"}

# the shared seed, with the PostgreSQL primary labelled as an operator would label it
DRILL_SEED = copy.deepcopy(SEED)
for _d in DRILL_SEED["deployments"]:
    if _d["name"] == "postgresql":
        _d["labels"] = {"app": "postgresql", "role": "primary"}


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """A fresh API stand-in seeded with a labelled primary; KUBECONFIG unset so nothing falls back to this
    machine's. Whatever happened, nothing reached it as the non-allowlisted context's user."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    srv = start_standin(tmp_path, DRILL_SEED)
    try:
        yield srv
        assert srv.users() <= {"drill"}, srv.users()
    finally:
        srv.stop()


def tokens(standin) -> list[str]:
    """Every bearer token of the stand-in's kubeconfig (the allowlisted user's and the other one's)."""
    config = yaml.safe_load(standin.kubeconfig.read_text())
    return [u["user"]["token"] for u in config["users"]]


def ready_primary(standin) -> dict | None:
    pods = [
        p
        for p in standin.pods(selector=PRIMARY_SELECTOR)
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    return pods[0] if pods else None


class PodBoundApp(ReconnectingApp):
    """The stand-in app bound to the Ready db-primary pod: 503 for exactly RECONNECT_S after its uid changes."""

    def __init__(self, standin):
        super().__init__(lambda: (ready_primary(standin) or {}).get("metadata", {}).get("uid"), RECONNECT_S)


def drill_env(tmp_path: Path, standin, app_url: str, **overrides: str) -> dict[str, str]:
    """The drill's values come from the environment, as on staging. DRILL_K8S_TARGET is left unset: the
    activities must act under the safety section of the file being drilled, not the default name."""
    env = {k: v for k, v in os.environ.items() if k != "DRILL_K8S_TARGET"}
    env.update(
        {
            "KUBECONFIG": str(standin.kubeconfig),
            "K8S_CONTEXT": ALLOWED_CONTEXT,
            "K8S_NAMESPACE": NAMESPACE,
            "APP_URL": app_url,
            "DRILL_STATE_DIR": str(tmp_path / "state"),
            **ZONES,
            **overrides,
        }
    )
    return env


def drill_run(tmp_path: Path, target: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DRILL, "run", "--target", str(target), "--yes", "--reports", str(tmp_path / "reports"), *extra, str(FEATURE)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )


def production(target: Path) -> Path:
    data = yaml.safe_load(target.read_text())
    data["environment"] = "production"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def files_text(*dirs: Path) -> str:
    out = []
    for d in dirs:
        for path in d.rglob("*") if d.exists() else []:
            if path.is_file():
                out.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_feature_runs_on_kubernetes_the_primary_pod_is_replaced_and_the_outage_is_measured(
    standin, k8s_target_file, tmp_path
):
    old = ready_primary(standin)
    app = PodBoundApp(standin)
    try:
        done = drill_run(tmp_path, k8s_target_file, drill_env(tmp_path, standin, app.url))
    finally:
        app.close()
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]

    # the pod was deleted (exactly that one write) and its controller replaced it with a Ready one
    writes = standin.writes()
    assert [(w["method"], w["path"]) for w in writes] == [
        ("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{old['metadata']['name']}")
    ], writes
    new = ready_primary(standin)
    assert new["metadata"]["uid"] != old["metadata"]["uid"] and new["metadata"]["name"] != old["metadata"]["name"]
    assert len(app.outages) == 1

    [run_dir] = (tmp_path / "reports" / "runs").iterdir()
    [scenario] = (run_dir / "scenarios").iterdir()
    summary = json.loads((scenario / "drill.json").read_text())
    [fault] = summary["faults"]
    assert fault["fault"] == "db-primary-crash"
    assert f"pod {NAMESPACE}/{old['metadata']['name']}" in fault["blast"]["resources"][0]
    assert fault["undo"]["ok"]
    m = summary["measurement"]
    assert m["recovered"] and not m["no_outage_observed"]
    # The app's outage is its RECONNECT_S window, seen from the first failed probe to the first good one.
    assert RECONNECT_S - m["uncertainty_s"] <= m["rto_s"] <= RECONNECT_S + 2 * m["uncertainty_s"] + 1.0, m
    # `the postgresql cluster has a primary again` found the replacement pod through the API
    assert {
        "what": "postgresql_primary",
        "target": None,
        "measured": None,
        "ok": True,
        "source": new["metadata"]["name"],
        "breach": None,  # a passed check names no breach
    } in summary["checks"], summary["checks"]

    journal = json.loads((scenario / "chaos-journal.json").read_text())
    assert [r["activity"]["provider"]["func"] for r in journal["run"]] == ["chaos_terminate_pods"]
    assert [r["activity"]["provider"]["func"] for r in journal["rollbacks"]] == ["undo_fault"]
    # (DRILL_K8S_TARGET is unset: had the activity looked for the example's default `k8s-staging` target
    # instead of the drilled file's safety section, it would have failed and the exit code would not be 0)

    [record] = load_records(tmp_path / "reports")
    assert record["target"] == str(k8s_target_file) and record["environment"] == "staging"
    kinds = [e["kind"] for e in record["timeline"]]
    assert {"approval-checked", "fault-injected", "rollback", "recovered"} <= set(kinds), kinds
    [cleared] = [e for e in record["timeline"] if e["kind"] == "approval-checked"]
    assert cleared["detail"]["provider"] == "kubernetes" and cleared["detail"]["kube_context"] == ALLOWED_CONTEXT
    environment = (run_dir / "allure-results" / "environment.properties").read_text()
    assert f"kubernetes.context={ALLOWED_CONTEXT}" in environment and "kubernetes.server=v1.31.0-standin" in environment
    assert IntentLog(tmp_path / "state" / "intent.jsonl").pending() == []

    leaked = out + files_text(tmp_path / "reports", tmp_path / "state")
    assert not [t for t in tokens(standin) if t in leaked]


@pytest.mark.parametrize(
    "override, refusal",
    [
        ({"K8S_CONTEXT": OTHER_CONTEXT}, f"Kubernetes context {OTHER_CONTEXT!r} is not on this target's allowlist"),
        ({"K8S_NAMESPACE": OTHER_NAMESPACE}, f"namespace {OTHER_NAMESPACE!r} is not on this target's allowlist"),
    ],
)
def test_a_context_or_namespace_off_the_allowlist_is_refused_before_any_write(
    standin, k8s_target_file, tmp_path, override, refusal
):
    before = ready_primary(standin)["metadata"]["uid"]
    seen = len(standin.requests())  # the test's own read above
    done = drill_run(tmp_path, k8s_target_file, drill_env(tmp_path, standin, dead_url(), **override))
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert refusal in " ".join(done.stderr.split()) and "nothing was touched" in done.stderr
    assert standin.writes() == []
    assert len(standin.requests()) == seen  # refused from the allowlist alone, before any request of the drill
    assert ready_primary(standin)["metadata"]["uid"] == before
    assert not (tmp_path / "reports" / "runs").exists()
    leaked = out + files_text(tmp_path / "reports", tmp_path / "state")
    assert not [t for t in tokens(standin) if t in leaked]


def test_production_runs_only_with_the_approval_which_the_drill_process_gets_too(standin, k8s_target_file, tmp_path):
    # the pytest child preflights again: without the approval handed down it would refuse production there
    target = production(k8s_target_file)
    done = drill_run(tmp_path, target, drill_env(tmp_path, standin, dead_url()))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "needs an approval" in " ".join(done.stderr.split())
    assert standin.writes() == []

    app = PodBoundApp(standin)
    try:
        done = drill_run(
            tmp_path, target, drill_env(tmp_path, standin, app.url), "--approval", "CHG-42", "--approver", "dr-lead"
        )
    finally:
        app.close()
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert [w["method"] for w in standin.writes()] == ["DELETE"]
    [record] = load_records(tmp_path / "reports")
    assert record["environment"] == "production"
    assert [(a["ticket"], a["approver"]) for a in record["approvals"]] == [("CHG-42", "dr-lead")]


# -- the Kubernetes target's surface, in this process ----------------------------------------------------------
def test_connect_target_gives_a_kube_target_reading_primary_zones_and_versions(
    standin, k8s_target_file, tmp_path, monkeypatch
):
    for key, value in drill_env(tmp_path, standin, dead_url()).items():
        monkeypatch.setenv(key, value)
    target = load_drill_target(str(k8s_target_file)).connect()
    assert isinstance(target, KubernetesTarget) and target.lab is None and not target.started
    pod = ready_primary(standin)
    assert target.primary("postgresql") == pod["metadata"]["name"]
    node_zone = standin.node(pod["spec"]["nodeName"])["metadata"]["labels"]["topology.kubernetes.io/zone"]
    vocab = {"zone-a": "az-a", "zone-b": "az-b", "zone-c": "az-c"}[node_zone]
    resolved = target.resolve_params({"zone": "@primary-zone", "other": "@replica-zone", "plain": "az-b"})
    assert resolved["zone"] == vocab and resolved["other"] != vocab and resolved["plain"] == "az-b"
    monkeypatch.setenv("REDIS_PRIMARY_SELECTOR", "<SELECTOR>")  # the example's placeholder left in
    target._configuration = None
    with pytest.raises(HarnessError, match="step 'Then the redis cluster has a primary again' cannot run"):
        target.primary("redis")
    versions = target.versions()
    assert versions["provider"] == "kubernetes" and versions["kubernetes.context"] == ALLOWED_CONTEXT
    assert versions["kubernetes.namespace"] == NAMESPACE and versions["kubernetes"] != "not installed"
    assert not [t for t in tokens(standin) if t in json.dumps(versions)]
    with pytest.raises(HarnessError, match="not healthy after 1 s: app: "):
        target.wait_healthy(1)  # the app URL is a dead port
    with pytest.raises(HarnessError, match="step 'Then the component \"pg-1\" is healthy again' cannot run"):
        target.component_healthy("pg-1")
    assert standin.writes() == []


def test_wait_healthy_needs_the_app_deployment_available_too(standin, k8s_target_file, tmp_path, monkeypatch):
    app = PodBoundApp(standin)
    try:
        for key, value in drill_env(tmp_path, standin, app.url).items():
            monkeypatch.setenv(key, value)
        target = load_drill_target(str(k8s_target_file)).connect()
        assert target.wait_healthy(5)["healthy"]
        # a bad rollout that never becomes ready: the probe still answers, the deployment is not available
        headers = {"Authorization": f"Bearer {standin.token}", "Content-Type": "application/merge-patch+json"}
        httpx.patch(
            f"{standin.url}/apis/apps/v1/namespaces/{NAMESPACE}/deployments/freight-api",
            headers=headers,
            json={
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "freight-api", "image": "registry.example/freight-api:broken"}]
                        }
                    }
                }
            },
            timeout=5,
        ).raise_for_status()
        with pytest.raises(HarnessError, match="deployment freight-api: not every replica is available"):
            target.wait_healthy(1)
    finally:
        app.close()


def test_procedures_run_the_files_activities_and_auto_failover_waits_for_a_ready_primary(
    standin, k8s_target_file, tmp_path, monkeypatch
):
    for key, value in drill_env(tmp_path, standin, dead_url()).items():
        monkeypatch.setenv(key, value)
    target = load_drill_target(str(k8s_target_file)).connect()
    drill = DrillScenario(name="procedure on k8s", target=target, out_dir=tmp_path / "s")
    report = drill.run_procedure("auto-failover")
    assert report.ok and report.steps[0].outcome == ready_primary(standin)["metadata"]["name"]
    assert [r["activity"]["provider"]["func"] for r in drill.chaos.runs] == ["chaos_primary_pod_ready"]
    with pytest.raises(HarnessError, match="procedure 'cache-rebuild' on target 'k8s-standin': the app warms"):
        drill.run_procedure("cache-rebuild")
    # no primary pod at all (selector matching nothing): the procedure fails instead of reporting False
    from harness.targets.kubernetes import chaos_primary_pod_ready

    with pytest.raises(HarnessError, match="no Ready pod matches app=postgresql,role=none"):
        chaos_primary_pod_ready(
            str(k8s_target_file),
            ALLOWED_CONTEXT,
            NAMESPACE,
            "app=postgresql,role=none",
            kubeconfig=str(standin.kubeconfig),
            timeout_s=0.5,
        )
    assert standin.writes() == []
