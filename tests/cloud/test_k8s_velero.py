"""Velero on Kubernetes: the velero-restore procedure (plan 4.3.3) creates a velero.io/v1 Restore with the plan's
options, waits for Completed, reports warnings and errors and is timed; namespace-delete deletes only a
drill-owned, allowlisted namespace a Completed backup holds, and its undo restores it.

These tests run against tests/cloud/k8s_api_standin.py, a stand-in for a Kubernetes API server with the Velero
CRDs and backups taken of its seeded namespaces at start (see its docstring), because no real cluster (nor
Velero) can run on these machines. One stand-in for the module; each test leaves the drill namespace restored.
"""

from __future__ import annotations

import copy

import pytest
from k8s_fixtures import ALLOWED_CONTEXT, NAMESPACE, OTHER_NAMESPACE, SEED, standin_target_file, start_standin

from harness.chaos import k8s as chaos_k8s
from harness.faults import k8s, k8s_velero, runner
from harness.faults.intent import IntentLog
from harness.safety import SafetyRefused, validate_section

DRILL_NS = "freight-drill"
RESTORE_S = 0.3  # the stand-in's InProgress time of a Restore: a lower bound of the measured duration
VELERO_CRDS = ["restores.velero.io", "backups.velero.io"]


def velero_seed() -> dict:
    seed = copy.deepcopy(SEED)
    seed["namespaces"] += [{"name": DRILL_NS, "labels": {k8s_velero.OWNED_LABEL: "true"}}, "velero"]
    seed["deployments"] += [
        {
            "namespace": DRILL_NS,
            "name": "freight-drill-api",
            "replicas": 2,
            "image": "registry.example/freight-api:1.0",
            "labels": {"app": "freight-drill-api"},
        },
        {"namespace": DRILL_NS, "name": "freight-drill-worker", "replicas": 1, "image": "registry.example/w:1.0"},
    ]
    seed["services"] += [{"namespace": DRILL_NS, "name": "freight-drill-api", "selector": {"app": "freight-drill-api"}}]
    seed["crds"] = VELERO_CRDS
    seed["restore_s"] = RESTORE_S
    seed["velero_backups"] = [
        {"name": "drill-nightly", "includedNamespaces": [DRILL_NS]},
        {"name": "freight-nightly", "includedNamespaces": [NAMESPACE]},
        {"name": "drill-partial", "includedNamespaces": [DRILL_NS], "partial": True},
        {"name": "drill-unfinished", "includedNamespaces": [DRILL_NS], "phase": "InProgress"},
    ]
    return seed


@pytest.fixture(scope="module")
def velero(tmp_path_factory):
    srv = start_standin(tmp_path_factory.mktemp("velero"), velero_seed())
    try:
        yield srv
        assert srv.users() <= {"drill"}, srv.users()
    finally:
        srv.stop()


@pytest.fixture
def cluster(velero):
    safety = validate_section(
        "staging",
        {
            "kubernetes": {"contexts": [ALLOWED_CONTEXT], "namespaces": [NAMESPACE, DRILL_NS]},
            "limits": {"max_azs": 1, "max_pods": 5, "resources": ["freight-*", "postgresql"]},
        },
        where="test",
    )
    return k8s.connect(safety, ALLOWED_CONTEXT, velero.kubeconfig)


def restores(standin) -> list[dict]:
    return standin.get("/apis/velero.io/v1/namespaces/velero/restores")["items"]


def exists(standin, ns: str) -> bool:
    try:
        standin.get(f"/api/v1/namespaces/{ns}")
        return True
    except Exception:  # noqa: BLE001 - 404: gone
        return False


def writes_since(standin, seen: int) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in standin.requests()[seen:] if r["method"] != "GET"]


def test_namespace_delete_then_velero_restore_brings_the_namespace_back_with_the_plans_options(
    velero, cluster, tmp_path
):
    """The stand-in stands in for a cluster with Velero (none can run here)."""
    pods_before = velero.pods(DRILL_NS)
    assert len(pods_before) == 3
    log = IntentLog(tmp_path / "intent.jsonl")
    plan = k8s_velero.plan_namespace_delete(cluster, DRILL_NS, "drill-nightly")
    assert plan.calls == [f"core: DELETE namespace {DRILL_NS}"]
    assert plan.undo_record["kind"] == "k8s_velero_restore_namespace" and plan.undo_record["backup"] == "drill-nightly"
    seen = len(velero.requests())
    out = chaos_k8s.chaos_namespace_delete(
        str(_target(tmp_path, velero)),
        ALLOWED_CONTEXT,
        None,
        None,
        kubeconfig=str(velero.kubeconfig),
        drill_namespace=DRILL_NS,
        velero_backup="drill-nightly",
        intent_log=str(log.path),
    )
    assert writes_since(velero, seen) == [("DELETE", f"/api/v1/namespaces/{DRILL_NS}")]
    assert not exists(velero, DRILL_NS) and velero.pods(NAMESPACE)  # only the drill namespace went
    assert log.get(out["id"]).state == "injected"

    # plan 4.3.3, selective form: only the API deployment comes back (labelSelector), no secrets/configmaps
    seen = len(velero.requests())
    report = chaos_k8s.chaos_velero_restore(
        str(_target(tmp_path, velero)),
        ALLOWED_CONTEXT,
        "drill-nightly",
        DRILL_NS,
        kubeconfig=str(velero.kubeconfig),
        excluded_resources="secrets,configmaps",
        label_selector="app=freight-drill-api",
    )
    assert writes_since(velero, seen) == [("POST", "/apis/velero.io/v1/namespaces/velero/restores")]
    [restore] = [r for r in restores(velero) if r["metadata"]["name"] == report["restore"]]
    assert restore["spec"] == {
        "backupName": "drill-nightly",
        "includedNamespaces": [DRILL_NS],
        "excludedResources": ["secrets", "configmaps"],
        "labelSelector": {"matchLabels": {"app": "freight-drill-api"}},
    }
    assert report["phase"] == "Completed" and restore["status"]["phase"] == "Completed"
    assert report["warnings"] == 0 and report["errors"] == 0
    assert RESTORE_S <= report["seconds"] < 30  # timed from the create to the final phase
    assert exists(velero, DRILL_NS)
    assert {p["metadata"]["labels"]["app"] for p in velero.pods(DRILL_NS)} == {"freight-drill-api"}
    assert len(velero.pods(DRILL_NS, "app=freight-drill-api")) == 2

    # the rest comes back with a full restore; what exists already is skipped and counted as a warning
    full = k8s_velero.restore(cluster, "drill-nightly", [DRILL_NS])
    # skipped: the namespace and the API deployment (the service carries no app label: it was not restored before)
    assert full.ok and full.warnings == 2, full.line()
    assert len(velero.pods(DRILL_NS)) == 3

    # the fault's undo: the namespace is back, so nothing to restore
    undone = runner.undo(out["id"], log=log)
    assert undone.ok and "nothing to restore" in undone.line(), undone.line()


def test_the_undo_of_namespace_delete_restores_it_when_the_drill_did_not(velero, cluster, tmp_path):
    done = k8s.execute(cluster, k8s_velero.plan_namespace_delete(cluster, DRILL_NS, "drill-nightly"))
    assert not exists(velero, DRILL_NS)
    outcome = k8s_velero.undo_actions.perform(done.undo)
    assert outcome.startswith(f"namespace {DRILL_NS} restored from Velero backup drill-nightly"), outcome
    assert len(velero.pods(DRILL_NS)) == 3


def test_a_partial_restore_reports_its_errors_and_fails_the_procedure(velero, tmp_path):
    with pytest.raises(k8s_velero.RestoreFailed, match=r"PartiallyFailed in [0-9.]+ s, \d+ warnings, 1 errors"):
        chaos_k8s.chaos_velero_restore(
            str(_target(tmp_path, velero)),
            ALLOWED_CONTEXT,
            "drill-partial",
            [DRILL_NS],
            kubeconfig=str(velero.kubeconfig),
        )


@pytest.mark.parametrize(
    "call, refusal",
    [
        (lambda c: k8s_velero.restore(c, "freight-nightly", [OTHER_NAMESPACE]), "namespace 'payments' is not on"),
        (lambda c: k8s_velero.restore(c, "drill-nightly", []), "no includedNamespaces"),
        (lambda c: k8s_velero.restore(c, "no-such-backup", [DRILL_NS]), "backup velero/no-such-backup not found"),
        (lambda c: k8s_velero.restore(c, "drill-unfinished", [DRILL_NS]), "is InProgress, not Completed"),
        (lambda c: k8s_velero.restore(c, "freight-nightly", [DRILL_NS]), "does not include namespace(s) freight-drill"),
        (lambda c: k8s_velero.plan_namespace_delete(c, OTHER_NAMESPACE, "drill-nightly"), "not on this target's"),
        (lambda c: k8s_velero.plan_namespace_delete(c, NAMESPACE, "freight-nightly"), "is not drill-owned"),
        (lambda c: k8s_velero.plan_namespace_delete(c, DRILL_NS, "freight-nightly"), "does not include namespace"),
    ],
)
def test_refusals_come_before_any_write(velero, cluster, call, refusal):
    seen = len(velero.requests())
    with pytest.raises(SafetyRefused, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        call(cluster)
    assert writes_since(velero, seen) == []
    assert exists(velero, DRILL_NS) and exists(velero, NAMESPACE)


def _target(tmp_path, standin):
    return standin_target_file(tmp_path, [NAMESPACE, DRILL_NS])
