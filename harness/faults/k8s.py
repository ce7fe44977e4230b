"""Kubernetes faults for staging targets, with the official `kubernetes` client on an explicit context.

    cluster = connect(target_safety(load_target("k8s-staging")), context="staging-eks", kubeconfig="~/.kube/config")
    plan = plan_terminate_pods(cluster, "freight", "app=freight-api", count=1)   # reads only: the blast radius
    print("\\n".join(plan.blast().lines()))
    done = execute(cluster, plan)                 # checks the limits again, records the undo, then acts
    undo(done.undo)                                # or: the intent log replays it (`drill recover`)

Every fault is plan → check → act: the plan lists the concrete pods / nodes / deployments it will touch (GET
requests only), `check` refuses (SafetyRefused, exit 2) before any write when the context or a namespace is
not allowlisted, when the plan goes over the limits (one AZ, at most `max_pods` pods, only resources named in
`limits.resources`), and the act touches exactly the planned objects, nothing re-selected. The undo is data
(a record of harness/faults/undo.py) written before the first write, so a fresh process can replay it.

Why not chaostoolkit-kubernetes: its `create_k8s_api_client` takes the kubeconfig's current-context when none
is named and silently falls back to http://localhost without a kubeconfig; it configures the client globally;
`rollout_deployment` restarts a deployment rather than rolling it back (and writes a malformed timestamp);
`drain_nodes` fails on pods without volumes or owner references and evicts pods in every namespace. So these
functions use `kubernetes.config.new_client_from_config(config_file, context)`, one client per cluster object.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import HarnessError
from harness.faults import undo as undo_actions
from harness.faults.plan import FaultPlan
from harness.safety import Resource, SafetyRefused, SafetySection, TargetSafety, check_blast
from harness.safety import preflight as safety_preflight

ZONE_LABEL = "topology.kubernetes.io/zone"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POLICY_PREFIX = "drill-deny-"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
REQUEST_TIMEOUT = 30  # seconds for every API call: a hung API server must not hang the drill


# -- the client ----------------------------------------------------------------------------------------------
def kubeconfig_path(kubeconfig: str | os.PathLike | None) -> Path:
    """The kubeconfig file to use: the argument, else $KUBECONFIG (a single file). Never a silent default."""
    raw = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG", "")
    if not raw:
        raise SafetyRefused(
            "no kubeconfig given (argument kubeconfig or KUBECONFIG): refusing to guess a cluster; nothing was touched"
        )
    if os.pathsep in raw:
        raise SafetyRefused(f"KUBECONFIG lists several files ({raw}); give the one file holding the context")
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SafetyRefused(f"kubeconfig {path} not found; nothing was touched")
    return path


def k8s_client(kubeconfig: str | os.PathLike | None, context: str | None) -> Any:
    """An ApiClient for exactly this kubeconfig context. Refuses without an explicit context, so a drill never
    runs against whatever the kubeconfig's current-context happens to be (nor http://localhost)."""
    from kubernetes import config

    path = kubeconfig_path(kubeconfig)
    contexts, active = config.list_kube_config_contexts(config_file=str(path))
    names = [c["name"] for c in contexts]
    current = active["name"] if active else None
    if not context or not str(context).strip():
        raise SafetyRefused(
            f"no Kubernetes context given: refusing to use the kubeconfig's current-context "
            f"({current or 'none'}) implicitly; name one of: {', '.join(names)}; nothing was touched"
        )
    if context not in names:
        raise SafetyRefused(
            f"context {context!r} is not in kubeconfig {path} (contexts: {', '.join(names)}); nothing was touched"
        )
    return config.new_client_from_config(config_file=str(path), context=context, persist_config=False)


def check_context(section: SafetySection, context: str | None) -> None:
    """Refuse unless `context` is named and on the target's allowlist, naming the mismatch."""
    if section.kubernetes is None:
        raise SafetyRefused("this target has no safety.kubernetes allowlist: refusing to act on Kubernetes")
    if not context:
        raise SafetyRefused(
            "no Kubernetes context given: refusing to use the kubeconfig's current-context "
            f"implicitly (allowlisted: {', '.join(section.kubernetes.contexts)}); nothing was touched"
        )
    if context not in section.kubernetes.contexts:
        raise SafetyRefused(
            f"Kubernetes context {context!r} is not on this target's allowlist "
            f"(safety.kubernetes.contexts: {', '.join(section.kubernetes.contexts)}); "
            "nothing was touched"
        )


def check_namespace(section: SafetySection, namespace: str | None) -> None:
    allowed = section.kubernetes.namespaces if section.kubernetes else []
    if not namespace:
        raise SafetyRefused(
            f"no namespace given: faults act in one named namespace "
            f"(safety.kubernetes.namespaces: {', '.join(allowed)}); nothing was touched"
        )
    if namespace not in allowed:
        raise SafetyRefused(
            f"namespace {namespace!r} is not on this target's allowlist "
            f"(safety.kubernetes.namespaces: {', '.join(allowed)}); nothing was touched"
        )


@dataclass
class Cluster:
    """One allowlisted context of one kubeconfig, and the target's safety section that governs it."""

    api: Any
    context: str
    kubeconfig: str
    safety: SafetySection

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    @property
    def networking(self) -> Any:
        from kubernetes import client

        return client.NetworkingV1Api(self.api)

    @property
    def discovery(self) -> Any:
        from kubernetes import client

        return client.DiscoveryV1Api(self.api)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    @property
    def apiextensions(self) -> Any:
        from kubernetes import client

        return client.ApiextensionsV1Api(self.api)

    def server_version(self) -> str:
        from kubernetes import client

        return client.VersionApi(self.api).get_code(_request_timeout=REQUEST_TIMEOUT).git_version


def connect(
    target: TargetSafety | SafetySection,
    context: str | None,
    kubeconfig: str | os.PathLike | None = None,
) -> Cluster:
    """Check the context against the allowlist first (no request is made to a cluster that is not on it), then
    build its client. SafetyRefused names the mismatch."""
    section = target.safety if isinstance(target, TargetSafety) else target
    check_context(section, context)
    api = k8s_client(kubeconfig, context)
    return Cluster(api=api, context=str(context), kubeconfig=str(kubeconfig_path(kubeconfig)), safety=section)


def preflight(
    target: TargetSafety,
    context: str | None,
    kubeconfig: str | os.PathLike | None = None,
    approval: str | None = None,
    approver: str | None = None,
) -> tuple[Any, Cluster]:
    """The check before the first fault: approval (production), the context on the allowlist, and the API
    server answering (one GET /version). Returns the clearance (with `kube_context`) and the cluster."""
    clearance = safety_preflight(target, approval=approval, approver=approver)
    cluster = connect(target, context, kubeconfig)
    try:
        cluster.server_version()
    except Exception as err:  # noqa: BLE001 - any transport or API error means: not reachable, do nothing
        raise SafetyRefused(
            f"Kubernetes context {context!r}: the API server does not answer ({_short(err)}); nothing was touched"
        ) from None
    return clearance.model_copy(update={"kube_context": cluster.context}), cluster


# -- plans -----------------------------------------------------------------------------------------------------
@dataclass
class Done:
    """A fault that was put in force: its plan, what each request returned, and the undo record."""

    plan: FaultPlan
    outcome: list[str] = field(default_factory=list)

    @property
    def undo(self) -> dict[str, Any]:
        return self.plan.undo_record


def _where(cluster: Cluster) -> dict[str, str]:
    return {"kubeconfig": cluster.kubeconfig, "context": cluster.context}


def _selector_text(selector: str | dict[str, str] | None) -> str:
    if isinstance(selector, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return (selector or "").strip()


def _require_selector(selector: str, what: str) -> None:
    if not selector:
        raise SafetyRefused(
            f"{what}: an empty label selector would select every pod of the namespace; name the "
            "workload (e.g. app=freight-api); nothing was touched"
        )


def _pod_resource(pod: Any, zones: dict[str, str]) -> Resource:
    node = pod.spec.node_name
    # the zone goes into the role, not `az`: max_azs counts zones whose nodes a fault takes down (a drain),
    # not where the replicas of a workload fault happen to run
    zone = zones.get(node or "")
    return Resource(
        kind="pod",
        id=f"{pod.metadata.namespace}/{pod.metadata.name}",
        role=(f"on {node}" + (f" ({zone})" if zone else "")) if node else "unscheduled",
        state=pod.status.phase or "",
    )


def _workload_of(pod: Any) -> Resource | None:
    """The named workload that owns a pod (Deployment via its ReplicaSet, StatefulSet, ...), or None if bare."""
    for ref in pod.metadata.owner_references or []:
        if not ref.controller:
            continue
        name, kind = ref.name, ref.kind
        template_hash = (pod.metadata.labels or {}).get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
            name, kind = name[: -len(template_hash) - 1], "Deployment"
        return Resource(kind=kind.lower(), id=name, acted=False)  # context: named, not counted
    return None


def pod_resources(cluster: Cluster, pods: list[Any], acted: bool = True, role: str = "") -> list[Resource]:
    """The pods as blast-radius resources (node and zone in the role) followed by the workloads owning them
    (named, not counted): what a fault built on another engine (Chaos Mesh, Velero) lists before it acts."""
    zones = _node_zones(cluster)
    out = []
    for pod in pods:
        r = _pod_resource(pod, zones)
        out.append(r.model_copy(update={"acted": acted, "role": f"{role}{r.role}" if role else r.role}))
    workloads = {(r.kind, r.id): r for r in (_workload_of(p) for p in pods) if r is not None}
    return out + list(workloads.values())


def selector_text(selector: str | dict[str, str] | None) -> str:
    """A label selector as text (k=v,...), from text or a mapping."""
    return _selector_text(selector)


def _node_zones(cluster: Cluster) -> dict[str, str]:
    nodes = cluster.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
    return {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL, "") for n in nodes}


def plan_terminate_pods(
    cluster: Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    count: int | None = 1,
    grace_period: int | None = None,
) -> FaultPlan:
    """Delete `count` pods (None: all) matching the selector, in name order (reproducible). Their controller
    replaces them; there is nothing to undo."""
    check_namespace(cluster.safety, namespace)
    selector = _selector_text(label_selector)
    _require_selector(selector, "terminate pods")
    if count is not None and count < 1:
        raise HarnessError(f"terminate pods: count must be at least 1 (got {count})")
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
    pods = sorted((p for p in pods if not p.metadata.deletion_timestamp), key=lambda p: p.metadata.name)
    chosen = pods if count is None else pods[:count]
    problems = [] if chosen else [f"no pod in namespace {namespace} matches {selector}"]
    zones = _node_zones(cluster)
    workloads = {r.id: r for r in (_workload_of(p) for p in chosen) if r is not None}
    return FaultPlan(
        fault="terminate-pods",
        namespace=namespace,
        summary=f"delete {len(chosen)} of {len(pods)} pods matching {selector} in {namespace}",
        resources=[_pod_resource(p, zones) for p in chosen] + list(workloads.values()),
        changes={"delete_pods": [p.metadata.name for p in chosen], "grace_period": grace_period},
        undo_record={"kind": "noop", "reason": "deleted pods are replaced by their controller"},
        undo_summary="nothing to undo: the pods' controller (ReplicaSet/StatefulSet) replaces them",
        problems=problems,
    )


def plan_drain_zone(cluster: Cluster, zone: str, evict: bool = True) -> FaultPlan:
    """Cordon every node labelled topology.kubernetes.io/zone=<zone> and (evict=True) evict the pods of the
    allowlisted namespaces running there, as `kubectl drain --ignore-daemonsets` would (DaemonSet and mirror
    pods stay; a pod without a controller refuses the drain). Pods of other namespaces are left running: the
    harness writes only where it is allowed to. Undo: uncordon the nodes this fault cordoned."""
    if not zone or not zone.strip():
        raise SafetyRefused("drain zone: no zone given; nothing was touched")
    nodes = cluster.core.list_node(label_selector=f"{ZONE_LABEL}={zone}", _request_timeout=REQUEST_TIMEOUT).items
    nodes = sorted(nodes, key=lambda n: n.metadata.name)
    problems = [] if nodes else [f"no node is labelled {ZONE_LABEL}={zone}"]
    resources = [
        Resource(
            kind="node",
            id=n.metadata.name,
            az=zone,
            state="cordoned already" if n.spec.unschedulable else "schedulable",
        )
        for n in nodes
    ]
    to_cordon = [n.metadata.name for n in nodes if not n.spec.unschedulable]
    evictions: list[dict[str, str]] = []
    kept: list[str] = []
    if evict:
        names = {n.metadata.name for n in nodes}
        for ns in cluster.safety.kubernetes.namespaces:
            for pod in cluster.core.list_namespaced_pod(ns, _request_timeout=REQUEST_TIMEOUT).items:
                if pod.spec.node_name not in names or pod.metadata.deletion_timestamp:
                    continue
                annotations = pod.metadata.annotations or {}
                owners = [r for r in pod.metadata.owner_references or [] if r.controller]
                if "kubernetes.io/config.mirror" in annotations or any(r.kind == "DaemonSet" for r in owners):
                    kept.append(f"{ns}/{pod.metadata.name}")
                    continue
                if not owners and pod.status.phase not in ("Succeeded", "Failed"):
                    problems.append(
                        f"pod {ns}/{pod.metadata.name} on {pod.spec.node_name} has no controller: "
                        "evicting it would lose it (kubectl drain refuses too)"
                    )
                    continue
                evictions.append({"namespace": ns, "name": pod.metadata.name})
                resources.append(
                    Resource(
                        kind="pod",
                        id=f"{ns}/{pod.metadata.name}",
                        role=f"on {pod.spec.node_name} ({zone})",
                        state=pod.status.phase or "",
                    )
                )
                workload = _workload_of(pod)
                if workload and all(r.id != workload.id or r.kind != workload.kind for r in resources):
                    resources.append(workload)
    verb = "drain" if evict else "cordon"
    summary = (
        f"{verb} {len(nodes)} nodes of zone {zone}"
        + (
            f", evicting {len(evictions)} pods of namespaces {', '.join(cluster.safety.kubernetes.namespaces)}"
            if evict
            else ""
        )
        + (f" (left in place: {len(kept)} DaemonSet/mirror pods)" if kept else "")
    )
    return FaultPlan(
        fault=f"{verb}-zone",
        summary=summary,
        resources=resources,
        zones=[zone] if nodes else [],
        changes={"cordon": to_cordon, "evict": evictions},
        undo_record={"kind": "k8s_uncordon", **_where(cluster), "nodes": to_cordon},
        undo_summary=f"uncordon {', '.join(to_cordon) or 'nothing (all were cordoned already)'}",
        problems=problems,
    )


def plan_deny_all(
    cluster: Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    direction: Literal["ingress", "egress", "both"] = "ingress",
) -> FaultPlan:
    """A deny-all NetworkPolicy on the pods matching the selector: `ingress` cuts them off from every client
    (partition a dependency from the workloads using it), `egress` cuts them off from everything they call.
    Its name is unique per injection; undo deletes exactly that policy."""
    check_namespace(cluster.safety, namespace)
    selector = _selector_text(label_selector)
    _require_selector(selector, "deny-all network policy")
    if direction not in ("ingress", "egress", "both"):
        raise HarnessError(f"deny-all network policy: direction must be ingress, egress or both (got {direction!r})")
    match_labels = {}
    for part in selector.split(","):
        key, eq, value = part.partition("=")
        if not eq or key.endswith("!") or "(" in part:
            raise HarnessError(
                f"deny-all network policy: selector {selector!r}: only key=value terms can become a "
                "NetworkPolicy podSelector"
            )
        match_labels[key.strip()] = value.strip().lstrip("=")
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
    zones = _node_zones(cluster)
    name = f"{POLICY_PREFIX}{direction}-{uuid.uuid4().hex[:8]}"
    types = ["Ingress", "Egress"] if direction == "both" else [direction.capitalize()]
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "drill-harness"}},
        "spec": {
            "podSelector": {"matchLabels": match_labels},
            "policyTypes": types,
            **({"ingress": []} if "Ingress" in types else {}),
            **({"egress": []} if "Egress" in types else {}),
        },
    }
    workloads = {r.id: r for r in (_workload_of(p) for p in pods) if r is not None}
    return FaultPlan(
        fault="deny-all",
        namespace=namespace,
        summary=f"deny all {direction} traffic of {len(pods)} pods matching {selector} in {namespace} "
        f"(NetworkPolicy {name})",
        resources=[_pod_resource(p, zones) for p in pods] + list(workloads.values()),
        changes={"create_network_policy": policy},
        undo_record={"kind": "k8s_delete_network_policy", **_where(cluster), "namespace": namespace, "name": name},
        undo_summary=f"delete NetworkPolicy {namespace}/{name}",
        problems=[] if pods else [f"no pod in namespace {namespace} matches {selector}"],
    )


def _deployment(cluster: Cluster, namespace: str, name: str) -> Any:
    from kubernetes.client.exceptions import ApiException

    if not name or not name.strip():
        raise SafetyRefused("no deployment named: faults act on named resources only; nothing was touched")
    try:
        return cluster.apps.read_namespaced_deployment(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as err:
        if err.status == 404:
            raise HarnessError(f"deployment {namespace}/{name} not found (context {cluster.context})") from None
        raise


def _deployment_pods(cluster: Cluster, dep: Any) -> list[Any]:
    selector = _selector_text(dep.spec.selector.match_labels or {})
    return cluster.core.list_namespaced_pod(
        dep.metadata.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
    ).items


def plan_scale_to_zero(cluster: Cluster, namespace: str, deployment: str) -> FaultPlan:
    """Scale a named deployment to 0 replicas; undo scales it back to the replica count read now."""
    check_namespace(cluster.safety, namespace)
    dep = _deployment(cluster, namespace, deployment)
    replicas = dep.spec.replicas if dep.spec.replicas is not None else 1
    pods = _deployment_pods(cluster, dep)
    zones = _node_zones(cluster)
    return FaultPlan(
        fault="scale-to-zero",
        namespace=namespace,
        summary=f"scale deployment {namespace}/{deployment} from {replicas} to 0 replicas ({len(pods)} pods go away)",
        resources=[Resource(kind="deployment", id=deployment, state=f"{replicas} replicas")]
        + [_pod_resource(p, zones) for p in pods],
        changes={"scale": {"deployment": deployment, "replicas": 0}},
        undo_record={
            "kind": "k8s_scale",
            **_where(cluster),
            "namespace": namespace,
            "deployment": deployment,
            "replicas": replicas,
        },
        undo_summary=f"scale {namespace}/{deployment} back to {replicas} replicas",
    )


def _revision(obj: Any) -> int:
    return int((obj.metadata.annotations or {}).get(REVISION_ANNOTATION, "0") or 0)


def plan_bad_rollout(
    cluster: Cluster,
    namespace: str,
    deployment: str,
    image: str,
    container: str | None = None,
) -> FaultPlan:
    """Roll a broken image out to a named deployment (a new revision); undo rolls back to the revision
    recorded now, as `kubectl rollout undo --to-revision` does."""
    check_namespace(cluster.safety, namespace)
    if not image or not image.strip():
        raise HarnessError("bad rollout: no image given")
    dep = _deployment(cluster, namespace, deployment)
    containers = dep.spec.template.spec.containers
    names = [c.name for c in containers]
    if container is None and len(containers) != 1:
        raise HarnessError(f"bad rollout: deployment {deployment} has containers {', '.join(names)}; name one")
    index = names.index(container) if container in names else (0 if container is None else -1)
    if index < 0:
        raise HarnessError(
            f"bad rollout: deployment {deployment} has no container {container!r} (containers: {', '.join(names)})"
        )
    old_image = containers[index].image
    revision = _revision(dep)
    template = cluster.api.sanitize_for_serialization(dep.spec.template)
    pods = _deployment_pods(cluster, dep)
    path = f"/spec/template/spec/containers/{index}"
    return FaultPlan(
        fault="bad-rollout",
        namespace=namespace,
        summary=f"roll out image {image} to {namespace}/{deployment} container {names[index]} "
        f"(now {old_image}, revision {revision}; {len(pods)} pods will be replaced)",
        resources=[Resource(kind="deployment", id=deployment, state=f"revision {revision}")]
        + [Resource(kind="pod", id=f"{namespace}/{p.metadata.name}") for p in pods],
        changes={
            "json_patch": [
                {"op": "test", "path": f"{path}/name", "value": names[index]},
                {"op": "test", "path": f"{path}/image", "value": old_image},
                {"op": "replace", "path": f"{path}/image", "value": image},
            ]
        },
        undo_record={
            "kind": "k8s_rollback",
            **_where(cluster),
            "namespace": namespace,
            "deployment": deployment,
            "revision": revision,
            "template": template,
        },
        undo_summary=f"roll {namespace}/{deployment} back to revision {revision} (image {old_image})",
    )


# -- check and act -------------------------------------------------------------------------------------------------
def check(cluster: Cluster, plan: FaultPlan) -> None:
    """Refuse (SafetyRefused) before any write: the context and namespace allowlists, what planning found
    wrong, and the blast-radius limits (max_azs, max_pods, limits.resources) over the planned objects."""
    check_context(cluster.safety, cluster.context)
    if plan.namespace is not None:
        check_namespace(cluster.safety, plan.namespace)
    if plan.problems:
        raise SafetyRefused(f"fault {plan.fault} refused before it ran: " + "; ".join(plan.problems))
    limits = cluster.safety.limits
    # Nodes are chosen by zone: the zone count is their limit. Pods count against max_pods, and the workloads
    # named or owning the pods must match limits.resources (node names are not workload names).
    if limits.max_azs is not None and len(plan.zones) > limits.max_azs:
        raise SafetyRefused(
            f"fault {plan.fault} refused before it ran: touches {len(plan.zones)} zones "
            f"({', '.join(plan.zones)}), limit max_azs={limits.max_azs}"
        )
    check_blast(plan.fault, [r for r in plan.resources if r.kind != "node"], limits)


def execute(cluster: Cluster, plan: FaultPlan, record_undo: Any = None) -> Done:
    """Check, write the undo (via `record_undo(record)`, durable before the first write, when given), then
    do exactly what the plan says. Returns what happened; raises on an API error after undoing nothing
    itself (the recorded undo is the caller's to run)."""
    from kubernetes.client.exceptions import ApiException

    check(cluster, plan)
    undo_actions.check_record(plan.undo_record)
    if record_undo is not None:
        record_undo(plan.undo_record)
    done = Done(plan=plan)
    act = plan.changes
    ns = plan.namespace
    if "delete_pods" in act:
        from kubernetes import client

        body = (
            client.V1DeleteOptions(grace_period_seconds=act["grace_period"])
            if act.get("grace_period") is not None
            else None
        )
        for name in act["delete_pods"]:
            try:
                cluster.core.delete_namespaced_pod(name, ns, body=body, _request_timeout=REQUEST_TIMEOUT)
                done.outcome.append(f"deleted pod {ns}/{name}")
            except ApiException as err:
                if err.status != 404:
                    raise
                done.outcome.append(f"pod {ns}/{name} was already gone")
    if "cordon" in act:
        for name in act["cordon"]:
            cluster.core.patch_node(
                name, {"spec": {"unschedulable": True}}, _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT
            )
            done.outcome.append(f"cordoned node {name}")
        for pod in act["evict"]:
            body = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": pod["name"], "namespace": pod["namespace"]},
            }
            try:
                cluster.core.create_namespaced_pod_eviction(
                    pod["name"], pod["namespace"], body, _request_timeout=REQUEST_TIMEOUT
                )
                done.outcome.append(f"evicted pod {pod['namespace']}/{pod['name']}")
            except ApiException as err:
                if err.status != 404:
                    raise HarnessError(
                        f"eviction of {pod['namespace']}/{pod['name']} refused by the API server "
                        f"({err.status} {err.reason}: a PodDisruptionBudget?); the nodes stay "
                        "cordoned until undone"
                    ) from None
                done.outcome.append(f"pod {pod['namespace']}/{pod['name']} was already gone")
    if "create_network_policy" in act:
        policy = act["create_network_policy"]
        cluster.networking.create_namespaced_network_policy(ns, policy, _request_timeout=REQUEST_TIMEOUT)
        done.outcome.append(f"created NetworkPolicy {ns}/{policy['metadata']['name']}")
    if "create_custom_object" in act:  # a Chaos Mesh experiment (harness/faults/k8s_chaosmesh.py)
        obj = act["create_custom_object"]
        group, version = obj["body"]["apiVersion"].split("/")
        cluster.custom.create_namespaced_custom_object(
            group, version, ns, obj["plural"], obj["body"], _request_timeout=REQUEST_TIMEOUT
        )
        done.outcome.append(f"created {obj['body']['kind']} {ns}/{obj['body']['metadata']['name']}")
    if "delete_namespace" in act:  # namespace-delete (harness/faults/k8s_velero.py)
        cluster.core.delete_namespace(act["delete_namespace"], _request_timeout=REQUEST_TIMEOUT)
        done.outcome.append(f"deleted namespace {act['delete_namespace']}")
    if "scale" in act:
        cluster.apps.patch_namespaced_deployment_scale(
            act["scale"]["deployment"],
            ns,
            {"spec": {"replicas": act["scale"]["replicas"]}},
            _content_type=MERGE_PATCH,
            _request_timeout=REQUEST_TIMEOUT,
        )
        done.outcome.append(f"scaled deployment {ns}/{act['scale']['deployment']} to {act['scale']['replicas']}")
    if "json_patch" in act:
        name = plan.undo_record["deployment"]
        try:
            dep = cluster.apps.patch_namespaced_deployment(
                name, ns, act["json_patch"], _content_type=JSON_PATCH, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as err:
            if err.status == 422:
                raise HarnessError(
                    f"deployment {ns}/{name} changed since it was planned ({_short(err)}); nothing was changed"
                ) from None
            raise
        done.outcome.append(f"deployment {ns}/{name} now at revision {_revision(dep)}")
    return done


def _short(err: Exception) -> str:
    text = str(getattr(err, "reason", "") or err)
    return text.splitlines()[0][:200] if text else type(err).__name__


# -- the faults in one call each (plan + execute) ------------------------------------------------------------------
def terminate_pods(
    cluster: Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    count: int | None = 1,
    grace_period: int | None = None,
    record_undo: Any = None,
) -> Done:
    return execute(cluster, plan_terminate_pods(cluster, namespace, label_selector, count, grace_period), record_undo)


def drain_zone(cluster: Cluster, zone: str, evict: bool = True, record_undo: Any = None) -> Done:
    return execute(cluster, plan_drain_zone(cluster, zone, evict), record_undo)


def deny_all(
    cluster: Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    direction: Literal["ingress", "egress", "both"] = "ingress",
    record_undo: Any = None,
) -> Done:
    return execute(cluster, plan_deny_all(cluster, namespace, label_selector, direction), record_undo)


def scale_to_zero(cluster: Cluster, namespace: str, deployment: str, record_undo: Any = None) -> Done:
    return execute(cluster, plan_scale_to_zero(cluster, namespace, deployment), record_undo)


def bad_rollout(
    cluster: Cluster, namespace: str, deployment: str, image: str, container: str | None = None, record_undo: Any = None
) -> Done:
    return execute(cluster, plan_bad_rollout(cluster, namespace, deployment, image, container), record_undo)


def rollback_deployment(cluster: Cluster, namespace: str, deployment: str, to_revision: int | None = None) -> str:
    """The app-rollback procedure: `kubectl rollout undo` (to the previous revision, or `to_revision`)."""
    check_context(cluster.safety, cluster.context)
    check_namespace(cluster.safety, namespace)
    check_blast("app-rollback", [Resource(kind="deployment", id=deployment)], cluster.safety.limits)
    return _rollback(cluster.apps, namespace, deployment, to_revision, None)


# -- undo (records replayed by harness.faults.runner / `drill recover`) -------------------------------------------
def _apps_from(record: dict[str, Any]) -> Any:
    from kubernetes import client

    return client.AppsV1Api(k8s_client(record["kubeconfig"], record["context"]))


def _rollback(apps: Any, ns: str, name: str, revision: int | None, template: dict[str, Any] | None) -> str:
    """Put the pod template of `revision` (default: the one before the current) back, as kubectl does: from
    the deployment's ReplicaSet of that revision, else from the recorded template."""
    dep = apps.read_namespaced_deployment(name, ns, _request_timeout=REQUEST_TIMEOUT)
    current = _revision(dep)
    selector = _selector_text(dep.spec.selector.match_labels or {})
    owned = [
        rs
        for rs in apps.list_namespaced_replica_set(ns, label_selector=selector, _request_timeout=REQUEST_TIMEOUT).items
        if any(r.uid == dep.metadata.uid and r.controller for r in rs.metadata.owner_references or [])
    ]
    if revision is None:
        older = sorted((_revision(rs) for rs in owned if _revision(rs) < current), reverse=True)
        if not older:
            raise HarnessError(f"deployment {ns}/{name} has no revision before {current} to roll back to")
        revision = older[0]
    match = next((rs for rs in owned if _revision(rs) == revision), None)
    api = apps.api_client
    if match is not None:
        wanted = api.sanitize_for_serialization(match.spec.template)
        wanted.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    elif template is not None:
        wanted = copy.deepcopy(template)
    else:
        raise HarnessError(f"deployment {ns}/{name}: revision {revision} is gone (revisionHistoryLimit?)")
    if api.sanitize_for_serialization(dep.spec.template) == wanted:
        return f"deployment {ns}/{name} already runs the template of revision {revision}"
    apps.patch_namespaced_deployment(
        name,
        ns,
        [{"op": "replace", "path": "/spec/template", "value": wanted}],
        _content_type=JSON_PATCH,
        _request_timeout=REQUEST_TIMEOUT,
    )
    source = "its ReplicaSet" if match is not None else "the recorded template"
    return f"deployment {ns}/{name} rolled back to revision {revision} (from {source})"


@undo_actions.undo_action("k8s_rollback")
def _undo_rollback(record: dict[str, Any]) -> str:
    return _rollback(
        _apps_from(record), record["namespace"], record["deployment"], record["revision"], record.get("template")
    )


@undo_actions.undo_action("k8s_scale")
def _undo_scale(record: dict[str, Any]) -> str:
    _apps_from(record).patch_namespaced_deployment_scale(
        record["deployment"],
        record["namespace"],
        {"spec": {"replicas": int(record["replicas"])}},
        _content_type=MERGE_PATCH,
        _request_timeout=REQUEST_TIMEOUT,
    )
    return f"deployment {record['namespace']}/{record['deployment']} scaled back to {record['replicas']}"


@undo_actions.undo_action("k8s_uncordon")
def _undo_uncordon(record: dict[str, Any]) -> str:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(k8s_client(record["kubeconfig"], record["context"]))
    done, gone = [], []
    for name in record["nodes"]:
        try:
            core.patch_node(
                name, {"spec": {"unschedulable": None}}, _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT
            )
            done.append(name)
        except ApiException as err:
            if err.status != 404:
                raise
            gone.append(name)
    return (f"uncordoned {', '.join(done) or 'no node'}") + (f"; gone: {', '.join(gone)}" if gone else "")


@undo_actions.undo_action("k8s_delete_network_policy")
def _undo_network_policy(record: dict[str, Any]) -> str:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    net = client.NetworkingV1Api(k8s_client(record["kubeconfig"], record["context"]))
    try:
        net.delete_namespaced_network_policy(record["name"], record["namespace"], _request_timeout=REQUEST_TIMEOUT)
    except ApiException as err:
        if err.status != 404:
            raise
        return f"NetworkPolicy {record['namespace']}/{record['name']} was already gone"
    return f"deleted NetworkPolicy {record['namespace']}/{record['name']}"


def undo(record: dict[str, Any]) -> str:
    """Run one undo record now (what the intent log's replay does)."""
    return undo_actions.perform(record)


# -- probes ----------------------------------------------------------------------------------------------------------
def deployment_available(cluster: Cluster, namespace: str, name: str) -> bool:
    """True when the deployment's rollout is complete and every desired replica is available (what
    `kubectl rollout status` waits for). A deployment scaled to zero is not available."""
    dep = _deployment(cluster, namespace, name)
    want = dep.spec.replicas if dep.spec.replicas is not None else 1
    st = dep.status
    conditions = {c.type: c.status for c in st.conditions or []}
    return (
        want > 0
        and (st.observed_generation or 0) >= (dep.metadata.generation or 0)
        and (st.updated_replicas or 0) == want
        and (st.available_replicas or 0) >= want
        and (st.replicas or 0) == want
        and conditions.get("Available") == "True"
    )


def pods_ready(cluster: Cluster, namespace: str, label_selector: str | dict[str, str], min_ready: int = 1) -> bool:
    """True when at least `min_ready` pods match and every matching pod is Ready."""
    pods = cluster.core.list_namespaced_pod(
        namespace, label_selector=_selector_text(label_selector), _request_timeout=REQUEST_TIMEOUT
    ).items
    ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    return len(pods) >= min_ready and len(ready) == len(pods)


def service_endpoints(cluster: Cluster, namespace: str, service: str) -> int:
    """How many ready endpoints the service's own EndpointSlices list (what kube-proxy routes to)."""
    slices = cluster.discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}", _request_timeout=REQUEST_TIMEOUT
    ).items
    return sum(1 for s in slices for e in s.endpoints or [] if e.conditions is None or e.conditions.ready is not False)


def service_has_endpoints(cluster: Cluster, namespace: str, service: str, min_ready: int = 1) -> bool:
    return service_endpoints(cluster, namespace, service) >= min_ready
