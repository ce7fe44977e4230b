"""`drill run --target <kubernetes target>` with the engines the cluster has: a Chaos Mesh fault undone by the
drill, one undone by an abort guard, and namespace-delete recovered by the velero-restore procedure (one drill
run of tests/cloud/features/k8s_engines.feature: one run keeps the suite fast).

The API server stand-in (tests/cloud/k8s_api_standin.py) replaces a cluster with Chaos Mesh and Velero: none
can run here. It has no data plane, so the stand-in app below is the ground truth: its /health reads the
stand-in and answers 503 while a NetworkChaos exists in the namespace (Chaos Mesh drill), or while the drill
namespace has no Ready API pod (Velero drill). The drill is the REAL `drill` console script in a subprocess.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, SEED, standin_target_file, start_standin
from standin_app import ReconnectingApp

from harness.evidence.record import load_records
from harness.faults.intent import IntentLog
from harness.measure import judgement

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = pytest.mark.timing

DRILL = str(Path(sys.executable).with_name("drill"))
FEATURES = Path(__file__).resolve().parent / "features"
DRILL_NS = "freight-drill"
NETWORKCHAOS = f"/apis/chaos-mesh.org/v1alpha1/namespaces/{NAMESPACE}/networkchaos"


def engines_seed() -> dict:
    seed = copy.deepcopy(SEED)
    for d in seed["deployments"]:
        if d["name"] == "postgresql":
            d["labels"] = {"app": "postgresql", "role": "primary"}
    seed["namespaces"] += [{"name": DRILL_NS, "labels": {"drill-harness/owned": "true"}}, "velero"]
    seed["deployments"].append(
        {
            "namespace": DRILL_NS,
            "name": "freight-drill-api",
            "replicas": 2,
            "image": "registry.example/freight-api:1.0",
        }
    )
    seed["crds"] = [
        "networkchaos.chaos-mesh.org",
        "podchaos.chaos-mesh.org",
        "restores.velero.io",
        "backups.velero.io",
    ]
    seed["restore_s"] = 0.5
    seed["velero_backups"] = [{"name": "drill-nightly", "includedNamespaces": [DRILL_NS]}]
    return seed


@pytest.fixture
def standin(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    srv = start_standin(tmp_path, engines_seed())
    try:
        yield srv
        assert srv.users() <= {"drill"}, srv.users()
    finally:
        srv.stop()


class Watched:
    """What `read()` says about the stand-in, re-read every 50 ms in a thread: the app answers from this value,
    so its /health stays fast however slow the stand-in's answers get on a loaded machine."""

    def __init__(self, read):
        self.read, self.value, self._stop = read, read(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.value = self.read()
            except Exception:  # noqa: BLE001 - the stand-in is stopping
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def drill_run(tmp_path: Path, standin, feature: str, app_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DRILL_K8S_TARGET"}
    env.update(
        {
            "KUBECONFIG": str(standin.kubeconfig),
            "K8S_CONTEXT": ALLOWED_CONTEXT,
            "K8S_NAMESPACE": NAMESPACE,
            "K8S_DRILL_NAMESPACE": DRILL_NS,
            "VELERO_BACKUP": "drill-nightly",
            "VELERO_INCLUDE_NAMESPACES": DRILL_NS,
            "APP_URL": app_url,
            "DRILL_STATE_DIR": str(tmp_path / "state"),
        }
    )
    target = standin_target_file(tmp_path, [NAMESPACE, DRILL_NS])
    return subprocess.run(
        [
            DRILL,
            "run",
            "--target",
            str(target),
            "--yes",
            "--reports",
            str(tmp_path / "reports"),
            str(FEATURES / feature),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )


def scenarios(tmp_path: Path) -> dict[str, dict]:
    [run_dir] = (tmp_path / "reports" / "runs").iterdir()
    out = {}
    for d in (run_dir / "scenarios").iterdir():
        summary = json.loads((d / "drill.json").read_text())
        out[summary["faults"][0]["fault"]] = summary
    return out


def test_chaos_mesh_faults_and_the_velero_restore_run_end_to_end_and_leave_nothing_behind(standin, tmp_path):
    def ground_truth():
        if standin.get(NETWORKCHAOS)["items"]:
            return None  # Chaos Mesh would be cutting the app off from its database
        try:
            return "up" if standin.pods(DRILL_NS, "app=freight-drill-api") else None
        except httpx.HTTPStatusError:
            return None  # the drill namespace is gone

    state = Watched(ground_truth)
    app = ReconnectingApp(lambda: state.value, 0.0)
    try:
        done = drill_run(tmp_path, standin, "k8s_engines.feature", app.url)
    finally:
        app.close()
        state.stop()
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-4000:]  # the guarded scenario was aborted: the run does not pass
    [run_dir] = (tmp_path / "reports" / "runs").iterdir()
    by_fault = scenarios(tmp_path)
    assert set(by_fault) == {"network-blackhole", "network-latency", "namespace-delete"}, out[-4000:]

    # -- Chaos Mesh: one object per fault, named after the run, deleted by the drill's undo and by the guard
    writes = [(w["method"], w["path"], w["body"]) for w in standin.writes()]
    mesh = [w for w in writes if "chaos-mesh.org" in w[1]]
    assert [(m, p.rsplit("/", 1)[0] if m == "DELETE" else p) for m, p, _ in mesh] == [
        ("POST", NETWORKCHAOS),
        ("DELETE", NETWORKCHAOS),
        ("POST", NETWORKCHAOS),
        ("DELETE", NETWORKCHAOS),
    ], writes
    blackhole, latency = mesh[0][2], mesh[2][2]
    assert blackhole["spec"]["action"] == "loss" and blackhole["spec"]["loss"]["loss"] == "100"
    assert latency["spec"]["action"] == "delay" and latency["spec"]["delay"]["latency"] == "1500ms"
    for body, fault in ((blackhole, "network-blackhole"), (latency, "network-latency")):
        assert body["metadata"]["name"].startswith(f"drill-{run_dir.name.lower()}-{fault}-")
        assert body["metadata"]["labels"]["drill-harness/run"] == run_dir.name.lower()
        assert body["spec"]["selector"] == {"namespaces": [NAMESPACE], "labelSelectors": {"app": "postgresql"}}
    assert [p.rsplit("/", 1)[1] for m, p, _ in mesh if m == "DELETE"] == [
        blackhole["metadata"]["name"],
        latency["metadata"]["name"],
    ]
    assert standin.get(NETWORKCHAOS)["items"] == []  # nothing left behind

    undone = by_fault["network-blackhole"]
    assert judgement.passed(undone["verdict_name"]) and all(c["ok"] for c in undone["checks"]), undone["checks"]
    m = undone["measurement"]
    # ground truth: the app was down exactly while the NetworkChaos existed, from its POST to its DELETE
    posted, deleted = [w["at"] for w in standin.writes() if "chaos-mesh.org" in w["path"]][:2]
    t_inject = datetime.fromisoformat(m["t_inject_wall"]).timestamp()
    u = m["uncertainty_s"]
    assert deleted - posted >= 1.5  # held for the scenario's 1.5 s at least
    assert m["recovered"] and deleted - posted - u - 0.2 <= m["rto_s"] <= deleted - t_inject + 2 * u + 0.5, m
    aborted = by_fault["network-latency"]
    assert aborted["aborted"]["by"] == "guard:app", aborted.get("aborted")
    assert aborted["verdict_name"] == judgement.ABORTED
    assert aborted["faults"][0]["undo"]["ok"]
    assert aborted["measurement"]["rto_s"] < 20, aborted["measurement"]  # the guard cut the 60 s wait short

    # -- Velero: the drill namespace deleted, then restored by the procedure with the file's options
    velero = [(m, p) for m, p, _ in writes if "chaos-mesh.org" not in p]
    assert velero == [
        ("DELETE", f"/api/v1/namespaces/{DRILL_NS}"),
        ("POST", "/apis/velero.io/v1/namespaces/velero/restores"),
    ], writes
    [restore] = [b for m, p, b in writes if p.endswith("/restores")]
    assert restore["spec"] == {
        "backupName": "drill-nightly",
        "includedNamespaces": [DRILL_NS],
        "excludedResources": ["secrets", "configmaps"],
    }
    assert len(standin.pods(DRILL_NS, "app=freight-drill-api")) == 2
    restored = by_fault["namespace-delete"]
    assert judgement.passed(restored["verdict_name"]) and all(c["ok"] for c in restored["checks"]), restored["checks"]
    [procedure] = restored["procedures"]
    assert procedure["procedure"] == "velero-restore" and procedure["ok"], procedure
    outcome = procedure["steps"][0]["outcome"]  # what the activity returned: the restore's report
    assert "'phase': 'Completed'" in outcome and "'warnings': 0" in outcome and "'errors': 0" in outcome, outcome
    m = restored["measurement"]
    assert m["recovered"] and m["rto_s"] >= 0.5 - m["uncertainty_s"], m  # the restore's InProgress time at least

    [record] = load_records(tmp_path / "reports")
    kinds = [e["kind"] for e in record["timeline"]]
    assert kinds.count("fault-injected") == 3 and "aborted" in kinds, kinds
    assert IntentLog(tmp_path / "state" / "intent.jsonl").pending() == []
