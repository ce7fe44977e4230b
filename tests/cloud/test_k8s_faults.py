"""Each Kubernetes fault changes exactly what its plan says, and its undo puts it back.

These tests run against tests/cloud/k8s_api_standin.py, a stand-in for a Kubernetes API server (real HTTP,
Kubernetes' JSON shapes, a small controller loop), because no real cluster can run on these machines. The
assertions read the stand-in's state and its request log directly, not through the code under test.
"""

from __future__ import annotations

from k8s_fixtures import NAMESPACE, OTHER_NAMESPACE, cluster, standin  # noqa: F401

from harness.faults import k8s

BROKEN = "registry.example/freight-api:broken"


def _names(pods):
    return sorted(p["metadata"]["name"] for p in pods)


def _node_of(pod):
    return pod["spec"].get("nodeName")


def test_terminate_pods_deletes_exactly_the_planned_pod_and_its_controller_replaces_it(standin, cluster):
    """The stand-in stands in for a cluster (none can run here)."""
    before = _names(standin.pods(selector="app=freight-api"))
    others = _names(standin.pods(selector="app!=freight-api"))
    plan = k8s.plan_terminate_pods(cluster, NAMESPACE, "app=freight-api", count=1)
    assert plan.changes["delete_pods"] == before[:1]
    assert standin.writes() == []  # planning only reads
    done = k8s.execute(cluster, plan)
    writes = standin.writes()
    assert [(w["method"], w["path"]) for w in writes] == [
        ("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{before[0]}")
    ]
    after = _names(standin.pods(selector="app=freight-api"))
    assert before[0] not in after and set(before[1:]) <= set(after) and len(after) == 3  # replaced
    assert _names(standin.pods(selector="app!=freight-api")) == others
    assert done.undo == {"kind": "noop", "reason": "deleted pods are replaced by their controller"}
    assert standin.users() == {"drill"}  # every request as the allowlisted context's user, none as prod-eks's


def test_drain_zone_touches_only_that_zones_nodes_and_allowlisted_pods_and_undo_uncordons(standin, cluster):
    """The stand-in stands in for a cluster (none can run here)."""
    zone_a = {"node-a1", "node-a2", "node-a3"}
    all_pods = standin.pods() + standin.pods(OTHER_NAMESPACE)
    freight_on_a = _names(p for p in standin.pods() if _node_of(p) in zone_a)
    payments_on_a = _names(p for p in standin.pods(OTHER_NAMESPACE) if _node_of(p) in zone_a)
    assert freight_on_a and payments_on_a, "the seed puts pods of both namespaces in zone-a"
    outside_a = {p["metadata"]["name"]: _node_of(p) for p in all_pods if _node_of(p) not in zone_a}

    done = k8s.drain_zone(cluster, "zone-a")

    writes = [(w["method"], w["path"]) for w in standin.writes()]
    patched = sorted(path.rsplit("/", 1)[1] for method, path in writes if method == "PATCH")
    evicted = sorted(path.split("/")[-2] for method, path in writes if path.endswith("/eviction"))
    assert patched == ["node-a1", "node-a2"]  # node-a3 was cordoned already: not touched, not undone later
    assert evicted == freight_on_a
    assert len(writes) == len(patched) + len(evicted)
    for name in ("node-a1", "node-a2", "node-a3"):
        assert standin.node(name)["spec"].get("unschedulable") is True
    for name in ("node-b1", "node-b2", "node-c1", "node-c2"):
        assert not standin.node(name)["spec"].get("unschedulable")
    # the payments namespace is not allowlisted: its pods in zone-a keep running where they were
    assert _names(p for p in standin.pods(OTHER_NAMESPACE) if _node_of(p) in zone_a) == payments_on_a
    # freight replicas came back outside zone-a; pods outside zone-a were not moved
    assert not [p for p in standin.pods() if _node_of(p) in zone_a]
    assert len(standin.pods(selector="app=freight-api")) == 3
    now = {p["metadata"]["name"]: _node_of(p) for p in standin.pods() + standin.pods(OTHER_NAMESPACE)}
    assert all(now.get(name) == node for name, node in outside_a.items())

    assert done.undo["nodes"] == ["node-a1", "node-a2"]
    k8s.undo(done.undo)
    assert not standin.node("node-a1")["spec"].get("unschedulable")
    assert not standin.node("node-a2")["spec"].get("unschedulable")
    assert standin.node("node-a3")["spec"].get("unschedulable") is True  # it was cordoned before the drill


def test_cordon_only_leaves_pods_running(standin, cluster):
    """The stand-in stands in for a cluster (none can run here)."""
    pods = _names(standin.pods())
    done = k8s.drain_zone(cluster, "zone-b", evict=False)
    assert [w["method"] for w in standin.writes()] == ["PATCH", "PATCH"]
    assert _names(standin.pods()) == pods
    k8s.undo(done.undo)
    assert not standin.node("node-b1")["spec"].get("unschedulable")


def test_deny_all_creates_one_policy_on_the_selected_pods_and_undo_deletes_it(standin, cluster):
    """The stand-in stands in for a cluster (none can run here); it stores policies but enforces none."""
    path = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies"
    done = k8s.deny_all(cluster, NAMESPACE, "app=postgresql", direction="ingress")
    policies = standin.get(path)["items"]
    assert len(policies) == 1
    policy = policies[0]
    assert policy["metadata"]["name"] == done.undo["name"]
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"app": "postgresql"}},
        "policyTypes": ["Ingress"],
        "ingress": [],
    }
    assert [(w["method"], w["path"]) for w in standin.writes()] == [("POST", path)]
    egress = k8s.deny_all(cluster, NAMESPACE, {"app": "freight-api"}, direction="egress")
    assert {p["metadata"]["name"] for p in standin.get(path)["items"]} == {done.undo["name"], egress.undo["name"]}
    k8s.undo(done.undo)
    assert [p["metadata"]["name"] for p in standin.get(path)["items"]] == [egress.undo["name"]]
    assert "already gone" in k8s.undo(done.undo)  # idempotent
    k8s.undo(egress.undo)
    assert standin.get(path)["items"] == []


def test_scale_to_zero_records_the_replicas_and_undo_scales_back(standin, cluster):
    """The stand-in stands in for a cluster (none can run here)."""
    assert k8s.deployment_available(cluster, NAMESPACE, "freight-api")
    assert k8s.service_endpoints(cluster, NAMESPACE, "freight-api") == 3
    worker_pods = _names(standin.pods(selector="app=freight-worker"))
    done = k8s.scale_to_zero(cluster, NAMESPACE, "freight-api")
    assert done.undo["replicas"] == 3
    dep = standin.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/freight-api")
    assert dep["spec"]["replicas"] == 0
    assert standin.pods(selector="app=freight-api") == []
    assert not k8s.deployment_available(cluster, NAMESPACE, "freight-api")
    assert not k8s.pods_ready(cluster, NAMESPACE, "app=freight-api")
    assert k8s.service_endpoints(cluster, NAMESPACE, "freight-api") == 0
    assert _names(standin.pods(selector="app=freight-worker")) == worker_pods  # nothing else touched
    k8s.undo(done.undo)
    assert standin.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/freight-api")["spec"]["replicas"] == 3
    assert k8s.deployment_available(cluster, NAMESPACE, "freight-api")
    assert k8s.pods_ready(cluster, NAMESPACE, "app=freight-api", min_ready=3)
    assert k8s.service_has_endpoints(cluster, NAMESPACE, "freight-api", min_ready=3)


def test_bad_rollout_stalls_and_undo_rolls_back_to_the_recorded_revision(standin, cluster):
    """The stand-in stands in for a cluster (none can run here): pods of the broken image never get ready."""
    dep_path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/freight-api"
    assert standin.get(dep_path)["metadata"]["annotations"][k8s.REVISION_ANNOTATION] == "1"
    done = k8s.bad_rollout(cluster, NAMESPACE, "freight-api", BROKEN)
    assert done.undo["revision"] == 1
    dep = standin.get(dep_path)
    assert dep["metadata"]["annotations"][k8s.REVISION_ANNOTATION] == "2"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == BROKEN
    broken = [p for p in standin.pods(selector="app=freight-api") if p["spec"]["containers"][0]["image"] == BROKEN]
    assert broken and all(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff" for p in broken
    )
    assert not k8s.deployment_available(cluster, NAMESPACE, "freight-api")  # the rollout does not complete
    assert not k8s.pods_ready(cluster, NAMESPACE, "app=freight-api")
    assert k8s.service_endpoints(cluster, NAMESPACE, "freight-api") == 3  # the old replicas still serve
    patch = [w for w in standin.writes() if w["method"] == "PATCH"]
    assert len(patch) == 1 and patch[0]["content_type"] == k8s.JSON_PATCH

    print(k8s.undo(done.undo))
    dep = standin.get(dep_path)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/freight-api:1.0"
    assert dep["metadata"]["annotations"][k8s.REVISION_ANNOTATION] == "3"  # revision 1's ReplicaSet, reused
    rs = standin.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets", labelSelector="app=freight-api")["items"]
    assert len(rs) == 2  # no third ReplicaSet: the rollback went back to the original one
    assert k8s.deployment_available(cluster, NAMESPACE, "freight-api")
    assert all(p["spec"]["containers"][0]["image"] != BROKEN for p in standin.pods(selector="app=freight-api"))
    assert "already runs the template of revision 1" in k8s.undo(done.undo)  # idempotent


def test_rollback_procedure_goes_to_the_previous_revision(standin, cluster):
    """The stand-in stands in for a cluster (none can run here)."""
    k8s.bad_rollout(cluster, NAMESPACE, "freight-api", "registry.example/freight-api:1.1")
    assert k8s.deployment_available(cluster, NAMESPACE, "freight-api")  # 1.1 is healthy
    out = k8s.rollback_deployment(cluster, NAMESPACE, "freight-api")
    assert "rolled back to revision 1" in out
    dep = standin.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/freight-api")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/freight-api:1.0"
