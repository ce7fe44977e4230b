"""Network and process faults on Kubernetes through Chaos Mesh (chaos-mesh.org/v1alpha1), when the cluster has it.

    cluster = k8s.connect(safety, context="staging-eks", kubeconfig="~/.kube/config")
    require(cluster, "NetworkChaos", "network-latency")         # its CRD exists, else ChaosMeshMissing
    plan = plan_network_latency(cluster, "freight", "app=postgresql", ms=200, run="20261201t1525...")
    done = k8s.execute(cluster, plan)             # creates the NetworkChaos; undo: delete exactly that object

The harness does not inject packets or signals into pods itself: it writes one Chaos Mesh experiment object
(the engine the cluster already has), selected by the allowlisted namespace and the given labels, named after
the drill run, and deletes it as the undo (Chaos Mesh then recovers the pods: removes the netem/iptables rules,
puts the original container image back). The object is always created in the namespace of the pods it selects,
and its selector names only that namespace, so Chaos Mesh cannot reach outside the allowlist.

Vocabulary → Chaos Mesh (field names as in Chaos Mesh's api/v1alpha1 types):
- network-latency   NetworkChaos action=delay, delay.latency / delay.jitter / delay.correlation, direction=to
- network-blackhole NetworkChaos action=loss, loss.loss="100": packets are dropped silently, so a client waits
                    (a black hole), unlike a refused connection
- network-partition NetworkChaos action=partition, direction=both, target.selector: service ↔ dependency pods,
                    or zone ↔ zone (selector.nodeSelectors on topology.kubernetes.io/zone)
- process-kill      PodChaos action=pod-kill (or container-kill with containerNames): the kill is immediate;
                    the pod's controller replaces it; deleting the object afterwards is cleanup
- process-freeze    PodChaos action=pod-failure for `duration`: Chaos Mesh swaps the containers' image for a
                    pause image, so the process stops serving while the pod object, its name, node and IP stay
                    (no rescheduling, no replacement by the controller). Why not StressChaos: it only adds CPU or
                    memory pressure (a slow process, not a frozen one), and Chaos Mesh has no SIGSTOP action for
                    pods (chaosd's process attack works on physical machines only). Unlike SIGSTOP, pod-failure
                    restarts the container, so open TCP connections are reset rather than left hanging.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.faults import k8s
from harness.faults import undo as undo_actions
from harness.faults.plan import FaultPlan
from harness.safety import SafetyRefused

GROUP = "chaos-mesh.org"
VERSION = "v1alpha1"
PLURALS = {"NetworkChaos": "networkchaos", "PodChaos": "podchaos"}
CRDS = {kind: f"{plural}.{GROUP}" for kind, plural in PLURALS.items()}
MANAGED_BY = {"app.kubernetes.io/managed-by": "drill-harness"}
RUN_LABEL = "drill-harness/run"
FAULT_LABEL = "drill-harness/fault"
NAME_MAX = 63  # a DNS label: Chaos Mesh copies the name into labels of what it creates


class ChaosMeshMissing(HarnessError):
    """The cluster has no Chaos Mesh (its CRD is missing): the fault is unsupported there; nothing was touched."""


# -- is Chaos Mesh there -----------------------------------------------------------------------------------------
def installed_crds(cluster: k8s.Cluster) -> set[str]:
    """Names of the cluster's CustomResourceDefinitions (apiextensions.k8s.io/v1), e.g. podchaos.chaos-mesh.org."""
    crds = cluster.apiextensions.list_custom_resource_definition(_request_timeout=k8s.REQUEST_TIMEOUT).items
    return {c.metadata.name for c in crds}


def missing_crds(cluster: k8s.Cluster, kinds: list[str] | None = None) -> list[str]:
    """The Chaos Mesh CRDs (of `kinds`, default all the harness uses) the cluster lacks."""
    have = installed_crds(cluster)
    return [CRDS[k] for k in (kinds or list(CRDS)) if CRDS[k] not in have]


def require(cluster: k8s.Cluster, kind: str, fault: str) -> None:
    lacking = missing_crds(cluster, [kind])
    if lacking:
        raise ChaosMeshMissing(
            f"fault {fault} is unsupported on context {cluster.context}: it needs Chaos Mesh, and the cluster has "
            f"no CRD {', '.join(lacking)} (install Chaos Mesh, or leave the fault unsupported); nothing was touched"
        )


# -- the object ------------------------------------------------------------------------------------------------
def run_label(run: str | None) -> str:
    """The drill run's id as a DNS label value (lower case; `adhoc` outside a drill run)."""
    return (re.sub(r"[^a-z0-9-]+", "-", (run or "").lower()).strip("-") or "adhoc")[:NAME_MAX].rstrip("-")


def object_name(fault: str, run: str | None) -> str:
    """drill-<run>-<fault>-<4 hex>: named after the drill run (a fresh suffix per injection), a DNS label."""
    suffix = f"-{fault}-{uuid.uuid4().hex[:4]}"
    return f"drill-{run_label(run)}"[: NAME_MAX - len(suffix)].rstrip("-") + suffix


def match_labels(selector: str | dict[str, str], what: str) -> dict[str, str]:
    """k=v[,k=v] as Chaos Mesh's labelSelectors (a map): set-based terms cannot be expressed there."""
    text = k8s.selector_text(selector)
    if not text:
        raise SafetyRefused(
            f"{what}: an empty label selector would select every pod of the namespace; name the workload "
            "(e.g. app=freight-api); nothing was touched"
        )
    out = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or key.endswith("!") or "(" in part:
            raise HarnessError(f"{what}: selector {text!r}: only key=value terms become Chaos Mesh labelSelectors")
        out[key.strip()] = value.strip().lstrip("=")
    return out


def _pods(cluster: k8s.Cluster, namespace: str, labels: dict[str, str], zone: str | None = None) -> list[Any]:
    pods = cluster.core.list_namespaced_pod(
        namespace, label_selector=k8s.selector_text(labels), _request_timeout=k8s.REQUEST_TIMEOUT
    ).items
    pods = [p for p in pods if not p.metadata.deletion_timestamp]
    if zone is not None:
        nodes = cluster.core.list_node(label_selector=f"{k8s.ZONE_LABEL}={zone}", _request_timeout=k8s.REQUEST_TIMEOUT)
        names = {n.metadata.name for n in nodes.items}
        pods = [p for p in pods if p.spec.node_name in names]
    return sorted(pods, key=lambda p: p.metadata.name)


def _selector(namespace: str, labels: dict[str, str], zone: str | None = None) -> dict[str, Any]:
    sel: dict[str, Any] = {"namespaces": [namespace], "labelSelectors": labels}
    if zone is not None:
        sel["nodeSelectors"] = {k8s.ZONE_LABEL: zone}
    return sel


def _duration(seconds: float | None) -> dict[str, str]:
    """Chaos Mesh's `duration` (a Go duration): it recovers by itself then, even if the harness is gone."""
    if seconds is None:
        return {}
    if seconds <= 0:
        raise HarnessError(f"seconds must be above 0 (got {seconds:g})")
    return {"duration": f"{int(seconds * 1000)}ms"}


# -- the experiments' specs (pure: `drill plan` shows them from the target file alone) ----------------------------
def latency_spec(
    namespace: str, labels: dict[str, str], ms: int, jitter: int = 0, seconds: float | None = None
) -> dict[str, Any]:
    return {
        "action": "delay",
        "mode": "all",
        "selector": _selector(namespace, labels),
        "direction": "to",
        "delay": {"latency": f"{ms}ms", "jitter": f"{jitter}ms", "correlation": "0"},
        **_duration(seconds),
    }


def blackhole_spec(namespace: str, labels: dict[str, str], seconds: float | None = None) -> dict[str, Any]:
    return {
        "action": "loss",
        "mode": "all",
        "selector": _selector(namespace, labels),
        "direction": "to",
        "loss": {"loss": "100", "correlation": "0"},
        **_duration(seconds),
    }


def partition_spec(
    namespace: str,
    service: str | dict[str, str] | None = None,
    dependency: str | dict[str, str] | None = None,
    zone_a: str | None = None,
    zone_b: str | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    if (service or dependency) and (zone_a or zone_b):
        raise HarnessError("network-partition: give either service and dependency, or two zones, not both")
    if zone_a and zone_b:
        if zone_a == zone_b:
            raise HarnessError(f"network-partition: the two zones must differ (both {zone_a})")
        side_a = {"namespaces": [namespace], "nodeSelectors": {k8s.ZONE_LABEL: zone_a}}
        side_b = {"namespaces": [namespace], "nodeSelectors": {k8s.ZONE_LABEL: zone_b}}
    elif service and dependency:
        side_a = _selector(namespace, match_labels(service, "network-partition"))
        side_b = _selector(namespace, match_labels(dependency, "network-partition"))
    else:
        raise HarnessError("network-partition: give service and dependency (selectors), or zone a and zone b")
    return {
        "action": "partition",
        "mode": "all",
        "selector": side_a,
        "direction": "both",
        "target": {"mode": "all", "selector": side_b},
        **_duration(seconds),
    }


def kill_spec(namespace: str, labels: dict[str, str], container: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "action": "container-kill" if container else "pod-kill",
        "mode": "one",
        "selector": _selector(namespace, labels),
    }
    if container:
        spec["containerNames"] = [container]
    else:
        spec["gracePeriod"] = 0
    return spec


def freeze_spec(
    namespace: str, labels: dict[str, str], seconds: float | None = None, container: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"action": "pod-failure", "mode": "one", "selector": _selector(namespace, labels)}
    if container:
        spec["containerNames"] = [container]
    spec.update(_duration(seconds))
    return spec


def _plan(
    cluster: k8s.Cluster,
    fault: str,
    kind: str,
    namespace: str,
    spec: dict[str, Any],
    pods: list[Any],
    summary: str,
    run: str | None,
    acted: bool = True,
    extra_pods: list[Any] | None = None,
) -> FaultPlan:
    k8s.check_namespace(cluster.safety, namespace)
    name = object_name(fault, run)
    labels = {**MANAGED_BY, FAULT_LABEL: fault, RUN_LABEL: run_label(run)}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }
    role = "" if acted else "candidate: Chaos Mesh picks one | "
    resources = k8s.pod_resources(cluster, pods, acted=acted, role=role)
    if extra_pods:
        resources += [
            r for r in k8s.pod_resources(cluster, extra_pods, role="peer | ") if all(r.id != o.id for o in resources)
        ]
    problems = [] if pods else [f"no pod in namespace {namespace} matches {spec['selector']}"]
    if not acted and cluster.safety.limits.max_pods is not None and cluster.safety.limits.max_pods < 1:
        problems.append(f"touches 1 pod, limit max_pods={cluster.safety.limits.max_pods}")
    return FaultPlan(
        fault=fault,
        namespace=namespace,
        summary=f"{summary} (Chaos Mesh {kind} {namespace}/{name})",
        resources=resources,
        calls=[f"{GROUP}: CREATE {kind} {namespace}/{name} (spec {spec})"],
        changes={"create_custom_object": {"plural": PLURALS[kind], "body": body}},
        undo_record={
            "kind": "k8s_delete_chaos_mesh",
            **{"kubeconfig": cluster.kubeconfig, "context": cluster.context},
            "namespace": namespace,
            "plural": PLURALS[kind],
            "object_kind": kind,
            "name": name,
        },
        undo_summary=f"delete {kind} {namespace}/{name} (Chaos Mesh recovers the pods)",
        notes=["Chaos Mesh applies it to the pods its selector matches when the object is created"],
        problems=problems,
    )


# -- the faults ------------------------------------------------------------------------------------------------
def _selected_plan(
    cluster: k8s.Cluster,
    fault: str,
    kind: str,
    namespace: str,
    label_selector: str | dict[str, str],
    spec_of: Callable[[dict[str, str]], dict[str, Any]],
    action: str,
    run: str | None,
    acted: bool = True,
    tail: str = "",
) -> FaultPlan:
    """The plan of a fault on the pods one label selector picks: its CRD checked first, the selector parsed, the
    pods listed; `action` starts the summary ("kill one of"), `tail` ends it."""
    require(cluster, kind, fault)
    labels = match_labels(label_selector, fault)
    pods = _pods(cluster, namespace, labels)
    summary = f"{action} {len(pods)} pods matching {k8s.selector_text(labels)} in {namespace}{tail}"
    return _plan(cluster, fault, kind, namespace, spec_of(labels), pods, summary, run, acted=acted)


def plan_network_latency(
    cluster: k8s.Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    ms: int,
    jitter: int = 0,
    seconds: float | None = None,
    run: str | None = None,
) -> FaultPlan:
    """Every packet the selected pods send waits `ms` (± `jitter`) ms."""
    if ms < 1 or jitter < 0 or jitter > ms:
        require(cluster, "NetworkChaos", "network-latency")
        raise HarnessError(f"network-latency: ms must be at least 1 and jitter between 0 and ms (got {ms}, {jitter})")
    jit = f" ± {jitter} ms" if jitter else ""
    return _selected_plan(
        cluster,
        "network-latency",
        "NetworkChaos",
        namespace,
        label_selector,
        lambda labels: latency_spec(namespace, labels, ms, jitter, seconds),
        f"add {ms} ms{jit} to every packet of",
        run,
    )


def plan_network_blackhole(
    cluster: k8s.Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    seconds: float | None = None,
    run: str | None = None,
) -> FaultPlan:
    """Every packet of the selected pods is dropped silently (100 % loss): their clients hang, not fail fast."""
    return _selected_plan(
        cluster,
        "network-blackhole",
        "NetworkChaos",
        namespace,
        label_selector,
        lambda labels: blackhole_spec(namespace, labels, seconds),
        "drop every packet of",
        run,
    )


def plan_network_partition(
    cluster: k8s.Cluster,
    namespace: str,
    service: str | dict[str, str] | None = None,
    dependency: str | dict[str, str] | None = None,
    zone_a: str | None = None,
    zone_b: str | None = None,
    seconds: float | None = None,
    run: str | None = None,
) -> FaultPlan:
    """Cut traffic both ways between a service's pods and its dependency's pods, or between the namespace's
    pods on the nodes of two zones (selector.nodeSelectors on topology.kubernetes.io/zone)."""
    require(cluster, "NetworkChaos", "network-partition")
    spec = partition_spec(namespace, service, dependency, zone_a, zone_b, seconds)
    side_a, side_b = spec["selector"], spec["target"]["selector"]
    if zone_a and zone_b:
        pods, peers = _pods(cluster, namespace, {}, zone_a), _pods(cluster, namespace, {}, zone_b)
        what = f"zone {zone_a} from zone {zone_b} (pods of {namespace})"
    else:
        a, b = side_a["labelSelectors"], side_b["labelSelectors"]
        pods, peers = _pods(cluster, namespace, a), _pods(cluster, namespace, b)
        what = f"pods matching {k8s.selector_text(a)} from pods matching {k8s.selector_text(b)} in {namespace}"
    plan = _plan(
        cluster, "network-partition", "NetworkChaos", namespace, spec, pods, f"partition {what}", run, extra_pods=peers
    )
    if zone_a and zone_b:
        plan.zones = [zone_a]  # one zone is cut off from another: max_azs counts it as one zone taken away
    if not peers:
        plan.problems.append(f"nothing on the other side: no pod matches {side_b}")
    return plan


def plan_process_kill(
    cluster: k8s.Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    container: str | None = None,
    run: str | None = None,
) -> FaultPlan:
    """Kill one pod matching the selector (PodChaos pod-kill), or one container of it (container-kill)."""
    what = f"container {container} of " if container else ""
    return _selected_plan(
        cluster,
        "process-kill",
        "PodChaos",
        namespace,
        label_selector,
        lambda labels: kill_spec(namespace, labels, container),
        f"kill {what}one of",
        run,
        acted=False,
    )


def plan_process_freeze(
    cluster: k8s.Cluster,
    namespace: str,
    label_selector: str | dict[str, str],
    seconds: float | None = None,
    container: str | None = None,
    run: str | None = None,
) -> FaultPlan:
    """Stop one pod's processes serving while the pod stays (PodChaos pod-failure; see the module docstring)."""
    return _selected_plan(
        cluster,
        "process-freeze",
        "PodChaos",
        namespace,
        label_selector,
        lambda labels: freeze_spec(namespace, labels, seconds, container),
        "freeze one of",
        run,
        acted=False,
        tail=f" for {seconds:g} s" if seconds else " until undone",
    )


# -- what Chaos Mesh reports -----------------------------------------------------------------------------------
def status(cluster: k8s.Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """The experiment's status as Chaos Mesh reports it: desiredPhase, AllInjected, the pods it acted on."""
    obj = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURALS[kind], name, _request_timeout=k8s.REQUEST_TIMEOUT
    )
    st = obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    records = (st.get("experiment") or {}).get("containerRecords") or []
    return {
        "desired_phase": (st.get("experiment") or {}).get("desiredPhase"),
        "all_injected": conditions.get("AllInjected") == "True",
        "pods": [r.get("id") for r in records],
    }


# -- undo --------------------------------------------------------------------------------------------------------
@undo_actions.undo_action("k8s_delete_chaos_mesh")
def _undo_delete(record: dict[str, Any]) -> str:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CustomObjectsApi(k8s.k8s_client(record["kubeconfig"], record["context"]))
    where = f"{record['object_kind']} {record['namespace']}/{record['name']}"
    try:
        api.delete_namespaced_custom_object(
            GROUP, VERSION, record["namespace"], record["plural"], record["name"], _request_timeout=k8s.REQUEST_TIMEOUT
        )
    except ApiException as err:
        if err.status != 404:
            raise
        return f"{where} was already gone"
    return f"deleted {where}"
