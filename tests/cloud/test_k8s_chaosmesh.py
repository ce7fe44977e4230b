"""Chaos Mesh faults on Kubernetes: each creates the right chaos-mesh.org/v1alpha1 object, its undo deletes it,
a namespace off the allowlist is refused before any write, and without Chaos Mesh the fault is unsupported.

These tests run against tests/cloud/k8s_api_standin.py, a stand-in for a Kubernetes API server that knows the
Chaos Mesh CRDs when its seed installs them, because no real cluster (nor Chaos Mesh) can run on these
machines. One stand-in per module (with Chaos Mesh) and one without: every test undoes what it created. The
assertions read the stand-in's request log and state directly, not through the code under test.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, OTHER_NAMESPACE, SEED, standin_target_file, start_standin

from harness.chaos import k8s as chaos_k8s
from harness.dryrun import plan_drill
from harness.faults import k8s_chaosmesh, runner
from harness.faults.intent import IntentLog
from harness.safety import SafetyRefused
from harness.targets import load_target

CHAOS_MESH_CRDS = ["networkchaos.chaos-mesh.org", "podchaos.chaos-mesh.org", "stresschaos.chaos-mesh.org"]
RUN = "20261201T152538123Z-abc123"  # a drill run id, as `drill run` names its run folder
SEED_WITH_CHAOS_MESH = {**copy.deepcopy(SEED), "crds": CHAOS_MESH_CRDS}
ZONES = {"az-a": "zone-a", "az-b": "zone-b", "az-c": "zone-c"}
ALIASES = {"db": "app=postgresql", "app": "app=freight-api"}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    srv = start_standin(tmp_path_factory.mktemp("mesh"), SEED_WITH_CHAOS_MESH)
    try:
        yield srv
        assert srv.users() <= {"drill"}, srv.users()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A cluster without Chaos Mesh (no CRD of it)."""
    srv = start_standin(tmp_path_factory.mktemp("bare"), SEED)
    try:
        yield srv
    finally:
        srv.stop()


def chaos_objects(standin, plural: str) -> list[dict]:
    return standin.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{NAMESPACE}/{plural}")["items"]


def common(tmp_path, standin) -> dict:
    return {
        "target": str(standin_target_file(tmp_path)),
        "context": ALLOWED_CONTEXT,
        "kubeconfig": str(standin.kubeconfig),
        "intent_log": str(tmp_path / "intent.jsonl"),
        "drill_run": f"/somewhere/reports/runs/{RUN}",
    }


FAULTS = {
    "network-latency": (
        chaos_k8s.chaos_network_latency,
        {"ns": NAMESPACE, "label_selector": "db", "aliases": ALIASES, "ms": "150", "jitter": "10"},
        "networkchaos",
        {
            "action": "delay",
            "mode": "all",
            "selector": {"namespaces": [NAMESPACE], "labelSelectors": {"app": "postgresql"}},
            "direction": "to",
            "delay": {"latency": "150ms", "jitter": "10ms", "correlation": "0"},
        },
    ),
    "network-blackhole": (
        chaos_k8s.chaos_network_blackhole,
        {"ns": NAMESPACE, "label_selector": "db", "aliases": ALIASES, "seconds": "10"},
        "networkchaos",
        {
            "action": "loss",
            "mode": "all",
            "selector": {"namespaces": [NAMESPACE], "labelSelectors": {"app": "postgresql"}},
            "direction": "to",
            "loss": {"loss": "100", "correlation": "0"},
            "duration": "10000ms",
        },
    ),
    "network-partition": (
        chaos_k8s.chaos_network_partition,
        {"ns": NAMESPACE, "service": "app", "dependency": "db", "aliases": ALIASES},
        "networkchaos",
        {
            "action": "partition",
            "mode": "all",
            "selector": {"namespaces": [NAMESPACE], "labelSelectors": {"app": "freight-api"}},
            "direction": "both",
            "target": {
                "mode": "all",
                "selector": {"namespaces": [NAMESPACE], "labelSelectors": {"app": "postgresql"}},
            },
        },
    ),
    "process-kill": (
        chaos_k8s.chaos_process_kill,
        {"ns": NAMESPACE, "label_selector": "app=freight-api"},
        "podchaos",
        {
            "action": "pod-kill",
            "mode": "one",
            "selector": {"namespaces": [NAMESPACE], "labelSelectors": {"app": "freight-api"}},
            "gracePeriod": 0,
        },
    ),
    "process-freeze": (
        chaos_k8s.chaos_process_freeze,
        {"ns": NAMESPACE, "label_selector": "app=freight-api", "seconds": "30"},
        "podchaos",
        {
            "action": "pod-failure",
            "mode": "one",
            "selector": {"namespaces": [NAMESPACE], "labelSelectors": {"app": "freight-api"}},
            "duration": "30000ms",
        },
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_creates_its_chaos_mesh_object_and_the_undo_deletes_it(mesh, tmp_path, fault):
    """The stand-in stands in for a cluster with Chaos Mesh (none can run here)."""
    activity, args, plural, spec = FAULTS[fault]
    seen = len(mesh.requests())
    pods_before = {p["metadata"]["name"] for p in mesh.pods(selector="app=freight-api")}
    out = activity(**common(tmp_path, mesh), **args)

    writes = [r for r in mesh.requests()[seen:] if r["method"] in ("POST", "DELETE", "PATCH", "PUT")]
    path = f"/apis/chaos-mesh.org/v1alpha1/namespaces/{NAMESPACE}/{plural}"
    assert [(w["method"], w["path"]) for w in writes] == [("POST", path)]  # exactly one write: the object
    [obj] = chaos_objects(mesh, plural)
    assert obj["kind"] == {"networkchaos": "NetworkChaos", "podchaos": "PodChaos"}[plural]
    assert obj["spec"] == spec
    name = obj["metadata"]["name"]
    assert name.startswith(f"drill-{RUN.lower()}-{fault}-") and len(name) <= 63
    assert obj["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "drill-harness",
        "drill-harness/fault": fault,
        "drill-harness/run": RUN.lower(),
    }
    assert f"{obj['kind']} {NAMESPACE}/{name}" in out["blast"]["summary"]
    if fault == "process-kill":  # Chaos Mesh killed one pod; its controller replaced it
        after = {p["metadata"]["name"] for p in mesh.pods(selector="app=freight-api")}
        assert len(after) == len(pods_before) and len(pods_before - after) == 1

    log = IntentLog(tmp_path / "intent.jsonl")
    intent = log.get(out["id"])
    assert intent.state == "injected" and intent.undo[0]["kind"] == "k8s_delete_chaos_mesh"
    seen = len(mesh.requests())
    report = runner.undo(out["id"], log=log)
    assert report.ok, report.line()
    undo_writes = [(r["method"], r["path"]) for r in mesh.requests()[seen:] if r["method"] != "GET"]
    assert undo_writes == [("DELETE", f"{path}/{name}")]
    assert chaos_objects(mesh, plural) == []
    assert log.pending() == []


def test_zone_partition_selects_the_pods_on_the_nodes_of_each_zone(mesh, tmp_path):
    out = chaos_k8s.chaos_network_partition(**common(tmp_path, mesh), ns=NAMESPACE, a="az-a", b="az-b", zones=ZONES)
    [obj] = chaos_objects(mesh, "networkchaos")
    assert obj["spec"]["selector"] == {
        "namespaces": [NAMESPACE],
        "nodeSelectors": {"topology.kubernetes.io/zone": "zone-a"},
    }
    assert obj["spec"]["target"]["selector"]["nodeSelectors"] == {"topology.kubernetes.io/zone": "zone-b"}
    # the blast radius lists the pods running in zone-a (and zone-b as the other side), nothing of zone-c
    zone_c = {p["metadata"]["name"] for p in mesh.pods() if p["spec"]["nodeName"].startswith("node-c")}
    assert zone_c and not any(name in line for line in out["blast"]["resources"] for name in zone_c)
    runner.undo(out["id"], log=IntentLog(tmp_path / "intent.jsonl"))
    assert chaos_objects(mesh, "networkchaos") == []


def test_a_namespace_off_the_allowlist_is_refused_before_any_write(mesh, tmp_path):
    seen = len(mesh.requests())
    for activity, args, _, _ in FAULTS.values():
        with pytest.raises(SafetyRefused, match=f"namespace '{OTHER_NAMESPACE}' is not on this target's allowlist"):
            activity(**common(tmp_path, mesh), **{**args, "ns": OTHER_NAMESPACE})
    assert [r for r in mesh.requests()[seen:] if r["method"] != "GET"] == []
    assert IntentLog(tmp_path / "intent.jsonl").pending() == []
    assert mesh.get(f"/apis/chaos-mesh.org/v1alpha1/namespaces/{OTHER_NAMESPACE}/podchaos")["items"] == []


def test_without_chaos_mesh_each_fault_is_unsupported_naming_the_missing_crd(bare, tmp_path):
    """The stand-in here has no Chaos Mesh CRD, as a cluster without Chaos Mesh."""
    for fault, (activity, args, plural, _) in FAULTS.items():
        if fault == "network-partition":
            continue  # falls back to a NetworkPolicy: next test
        with pytest.raises(k8s_chaosmesh.ChaosMeshMissing, match=f"no CRD {plural}.chaos-mesh.org"):
            activity(**common(tmp_path, bare), **args)
    with pytest.raises(k8s_chaosmesh.ChaosMeshMissing, match="fault network-partition is unsupported"):
        chaos_k8s.chaos_network_partition(**common(tmp_path, bare), ns=NAMESPACE, a="az-a", b="az-b", zones=ZONES)
    assert bare.writes() == [] and IntentLog(tmp_path / "intent.jsonl").pending() == []


def test_without_chaos_mesh_a_dependency_partition_falls_back_to_a_deny_all_policy(bare, tmp_path):
    out = chaos_k8s.chaos_network_partition(
        **common(tmp_path, bare), ns=NAMESPACE, service="app", dependency="db", aliases=ALIASES, fallback_deny_all=True
    )
    path = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies"
    [policy] = bare.get(path)["items"]
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "postgresql"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    runner.undo(out["id"], log=IntentLog(tmp_path / "intent.jsonl"))
    assert bare.get(path)["items"] == []


def test_drill_plan_shows_the_chaos_mesh_objects_from_the_file_alone(monkeypatch):
    monkeypatch.setenv("K8S_NAMESPACE", "freight")
    view = plan_drill("k8s-staging.example")
    steps = {(s.name, tuple(sorted(s.params.items()))): s for s in view.steps if s.kind == "fault"}
    latency = steps[("network-latency", (("ms", "150"), ("target", "db")))]
    assert latency.activity == "harness.chaos.k8s:chaos_network_latency"
    [call] = latency.calls
    assert call.startswith("chaos-mesh.org: CREATE NetworkChaos freight/drill-<run id>-network-latency-<id>")
    assert '"latency": "150ms"' in call and '"labelSelectors": {"app": "postgresql"}' in call
    assert "delete NetworkChaos freight/drill-<run id>-network-latency-<id>" in latency.undo
    assert any("needs Chaos Mesh: CRD networkchaos.chaos-mesh.org" in t for t in latency.touches)
    blackhole = next(s for (name, _), s in steps.items() if name == "network-blackhole")
    assert '"action": "loss"' in blackhole.calls[0] and '"duration": "10000ms"' in blackhole.calls[0]


def test_the_staging_example_maps_every_fault_or_says_why():
    target = load_target("k8s-staging.example")
    chaos_mesh = {
        "network-latency": "chaos_network_latency",
        "network-blackhole": "chaos_network_blackhole",
        "network-partition": "chaos_network_partition",
        "process-kill": "chaos_process_kill",
        "process-freeze": "chaos_process_freeze",
        "namespace-delete": "chaos_namespace_delete",
    }
    for fault, func in chaos_mesh.items():
        assert target.faults[fault].action.func == func, fault
        assert target.faults[fault].rollback.ref == "harness.chaos.actions:undo_fault", fault
    for fault, mapping in target.faults.items():
        assert mapping.action is not None or "later task" not in mapping.unsupported, (fault, mapping.unsupported)
    assert target.procedures["velero-restore"].action.func == "chaos_velero_restore"


@pytest.mark.parametrize("with_mesh", [True, False])
def test_preflight_checks_the_crds_and_marks_what_the_cluster_cannot_run_unsupported(
    mesh, bare, tmp_path, monkeypatch, with_mesh
):
    """The stand-ins stand in for a cluster with Chaos Mesh and one without (none can run here)."""
    from harness.targets import load as load_drill_target

    standin = mesh if with_mesh else bare
    path = standin_target_file(tmp_path)
    for key, value in {
        "KUBECONFIG": str(standin.kubeconfig),
        "K8S_CONTEXT": ALLOWED_CONTEXT,
        "K8S_NAMESPACE": NAMESPACE,
    }.items():
        monkeypatch.setenv(key, value)
    target = load_drill_target(str(path))
    seen = len(standin.requests())
    target.preflight()
    asked = [r["path"] for r in standin.requests()[seen:]]
    assert "/apis/apiextensions.k8s.io/v1/customresourcedefinitions" in asked
    assert all(r["method"] == "GET" for r in standin.requests()[seen:])
    faults = target.target_file.faults
    if with_mesh:
        assert target.engines["chaos-mesh"] == "installed"
        assert all(faults[f].action is not None for f in FAULTS)
    else:
        assert target.engines["chaos-mesh"].startswith("missing ")
        for fault in ("network-latency", "network-blackhole", "process-kill", "process-freeze"):
            assert faults[fault].unsupported.startswith("needs Chaos Mesh, and context drill-staging has no CRD"), fault
        assert faults["network-partition"].action is not None  # falls back to a deny-all NetworkPolicy
    # the Velero CRDs are in neither seed: namespace-delete and velero-restore are skipped with that reason
    assert faults["namespace-delete"].unsupported.startswith("needs Velero")
    assert target.target_file.procedures["velero-restore"].unsupported.startswith("needs Velero")
    assert load_target(str(path)).faults["network-latency"].action is not None  # the loaded file is untouched


def test_drill_plan_shows_the_namespace_delete_and_the_velero_restore_it_would_run(monkeypatch):
    for key, value in {
        "K8S_NAMESPACE": NAMESPACE,
        "K8S_DRILL_NAMESPACE": "freight-drill",
        "VELERO_BACKUP": "drill-nightly",
        "VELERO_INCLUDE_NAMESPACES": "freight-drill",
        "VELERO_SELECTOR": "app=load-service",
    }.items():
        monkeypatch.setenv(key, value)
    feature = str(Path(__file__).resolve().parent / "features" / "k8s_engines.feature")
    view = plan_drill("k8s-staging.example", features=[feature])
    delete = next(s for s in view.steps if s.name == "namespace-delete")
    assert delete.calls == ["core: DELETE namespace freight-drill"]
    assert delete.undo.startswith("restore namespace freight-drill from Velero backup drill-nightly")
    restore = next(s for s in view.steps if s.name == "velero-restore")
    assert restore.calls[0] == (
        'velero.io: CREATE Restore velero/drill-<backup>-<id> {"backupName": "drill-nightly", '
        '"excludedResources": ["secrets", "configmaps"], "includedNamespaces": ["freight-drill"], '
        '"labelSelector": {"matchLabels": {"app": "load-service"}}}'
    )
    assert any("namespaces freight-drill (restored into)" in t for t in restore.touches)
