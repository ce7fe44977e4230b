"""A Kubernetes target file (environment staging/production, safety.kubernetes) as a drill target: the surface
LocalTarget gives the Gherkin steps, built from the target file and one allowlisted kubeconfig context.

    target = harness.targets.load("k8s-staging").connect()  # context + namespace allowlisted, no request yet
    target.probe("app")              # the file's probes.app spec, ${env:...} expanded (FileTarget)
    target.primary("postgresql")     # the Ready pod matching db_primary_selector right now
    target.resolve_params({"zone": "@primary-zone"})   # az-a/b/c: the zone of that pod's node

The cluster client is harness.faults.k8s's (explicit kubeconfig and context, never the current-context), and
every request here is a read: faults and procedures run only through the file's Chaos Toolkit activities.
`preflight()` is the check before the first fault; `plan()` shows the namespace, the selectors and the
Kubernetes objects an activity would delete, evict, scale, patch or create, from the file alone (offline: no
request to the cluster).
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.faults import k8s, k8s_chaosmesh, k8s_velero
from harness.targets.base import FaultPlanView, FileTarget
from harness.targets.file import load_target

VOCABULARY_ZONES = {"az-a": "zone_a", "az-b": "zone_b", "az-c": "zone_c"}  # vocabulary zone → configuration key
PRIMARY_SELECTORS = {
    "postgresql": "db_primary_selector",
    "postgres": "db_primary_selector",
    "database": "db_primary_selector",
    "redis": "redis_primary_selector",
    "cache": "redis_primary_selector",
}
PRIMARY_POLL_S = 0.5


def _ready(pod: Any) -> bool:
    return not pod.metadata.deletion_timestamp and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])
    )


def _unset(value: Any) -> bool:
    """Empty, or still the example's `<PLACEHOLDER>`."""
    return value is None or not str(value).strip() or str(value).startswith("<")


class KubernetesTarget(FileTarget):
    """A Kubernetes target file as a drill target (provider kubernetes)."""

    provider = "kubernetes"

    def __init__(self, target_file: Any):
        super().__init__(target_file)
        self._cluster: k8s.Cluster | None = None
        self.engines: dict[str, str] = {}  # what preflight found: chaos-mesh / velero installed or missing

    def preflight(self, approval: str | None = None, approver: str | None = None, *, whole: bool = True) -> Any:
        """The context and the namespace the configuration names are on the allowlist (refused before any
        request), the approval (production), then the API server answers (one GET /version). Returns the
        clearance, naming the context. `whole=False` (the Chaos Toolkit control): the approval only; each
        activity checks the context and namespace it is given before its first request."""
        if not whole:
            return super().preflight(approval, approver)
        section = self.guard
        k8s.check_context(section.safety, self.context)
        k8s.check_namespace(section.safety, self.namespace)
        clearance, cluster = k8s.preflight(section, self.context, self.kubeconfig, approval, approver)
        self._check_engines(cluster)
        return clearance

    def _check_engines(self, cluster: k8s.Cluster) -> None:
        """Which engines the cluster has (its CRDs, one list request): a fault or procedure of this file that
        needs Chaos Mesh or Velero where the CRD is missing becomes `unsupported` with that reason, in this
        target's own copy of the file, so a drill skips its scenario before anything runs (as for any
        unsupported fault). A cluster that will not list its CRDs (RBAC) leaves the mappings as they are:
        each fault checks its CRD again before its first write."""
        from harness.targets.file import Mapping

        try:
            installed = k8s_chaosmesh.installed_crds(cluster)
        except Exception as err:  # noqa: BLE001 - not allowed to list CRDs: decided per fault when it runs
            self.engines = {"crds": f"not listed ({k8s._short(err)})"}
            return
        lacking_mesh = set(k8s_chaosmesh.CRDS.values()) - installed
        lacking_velero = k8s_velero.missing_crds(installed)
        self.engines = {
            "chaos-mesh": "installed" if not lacking_mesh else f"missing {', '.join(sorted(lacking_mesh))}",
            "velero": "installed" if not lacking_velero else f"missing {', '.join(lacking_velero)}",
        }

        def why(action: Any) -> str | None:
            if action is None or action.module != "harness.chaos.k8s":
                return None
            if action.func in CHAOS_MESH_ACTIVITIES:
                crd = k8s_chaosmesh.CRDS[CHAOS_MESH_ACTIVITIES[action.func][1]]
                fallback = action.func == "chaos_network_partition" and (action.arguments or {}).get(
                    "fallback_deny_all"
                )
                if crd not in installed and not fallback:
                    return f"needs Chaos Mesh, and context {cluster.context} has no CRD {crd}"
            if action.func in ("chaos_namespace_delete", "chaos_velero_restore") and lacking_velero:
                return f"needs Velero, and context {cluster.context} has no CRD {', '.join(lacking_velero)}"
            return None

        file = self.target_file
        faults = {n: Mapping(unsupported=why(m.action)) if why(m.action) else m for n, m in file.faults.items()}
        procedures = {n: Mapping(unsupported=why(m.action)) if why(m.action) else m for n, m in file.procedures.items()}
        if faults != file.faults or procedures != file.procedures:
            self.target_file = file.model_copy(update={"faults": faults, "procedures": procedures})

    @property
    def configuration(self) -> dict[str, Any]:
        conf = super().configuration
        # The activities preflight themselves against `drill_target`'s safety section: in a drill that must be
        # the file being drilled (and preflighted), not whatever DRILL_K8S_TARGET names.
        conf["drill_target"] = str(Path(self.target_file.path).resolve())
        return conf

    def _setting(self, key: str) -> str | None:
        value = self.configuration.get(key)
        return None if _unset(value) else str(value)

    @property
    def context(self) -> str | None:
        return self._setting("kube_context")

    @property
    def kubeconfig(self) -> str | None:
        return self._setting("kubeconfig")

    @property
    def namespace(self) -> str | None:
        return self._setting("namespace")

    @property
    def cluster(self) -> k8s.Cluster:
        """The allowlisted context's client (harness.faults.k8s.connect: the allowlist is checked before the
        client is built, and no request is made)."""
        if self._cluster is None:
            self._cluster = k8s.connect(self.guard, self.context, self.kubeconfig)
        return self._cluster

    def check(self) -> KubernetesTarget:
        """Probes and writers parse (FileTarget), the context is allowlisted and in the kubeconfig, the namespace
        the faults act in is allowlisted. No request to the cluster."""
        super().check()
        k8s.check_namespace(self.cluster.safety, self.namespace)
        return self

    # -- drill plan (offline: from the file, no request to the cluster) -------------------------------------
    def allowlist_lines(self, configuration: dict[str, Any] | None = None) -> list[str]:
        allow = self.guard.safety.kubernetes
        return [
            f"kubernetes contexts {', '.join(allow.contexts)}; namespaces {', '.join(allow.namespaces)}",
            f"context {self.context or '(not set: drill run WOULD BE REFUSED)'}; namespace "
            f"{self.namespace or '(not set)'}",
        ]

    def _plan_activity(
        self, view: FaultPlanView, kind: str, name: str, params: dict[str, str], configuration: dict[str, Any]
    ) -> None:
        """The namespace, the selectors and the Kubernetes objects the activity would create, delete, evict,
        scale or patch, from its arguments; which pods exactly is read from the cluster when it runs (and
        checked against the limits then)."""
        module, func = view.activity.split(":", 1)
        args = view.arguments
        if module != "harness.chaos.k8s":
            super()._plan_activity(view, kind, name, params, configuration)
            return
        ns = args.get("ns") or self.namespace or "?"
        selector = args.get("label_selector")
        if isinstance(selector, str) and args.get("aliases"):
            selector = args["aliases"].get(selector, selector)
        lim = self.guard.safety.limits
        touches: list[str] = []
        calls: list[str] = []
        if func == "chaos_terminate_pods":
            touches = [f"touches: pods in namespace {ns} matching {selector} ({args.get('replica') or 'one'} of them)"]
            calls = [
                f"core: DELETE pod (namespace {ns}, selector {selector}"
                + (f", grace period {args['grace_period']} s" if args.get("grace_period") is not None else "")
                + ")"
            ]
            view.undo = "nothing to undo: the pods' controller (ReplicaSet/StatefulSet) replaces them" + (
                f" ({view.undo})" if view.undo else ""
            )
        elif func == "chaos_drain_zone":
            zone = args.get("zone")
            from harness.targets.base import DYNAMIC_VALUES

            if zone in DYNAMIC_VALUES:
                label = f"<{DYNAMIC_VALUES[zone].meaning}, read from the cluster when it runs>"
            else:
                label = (args.get("zones") or {}).get(zone, zone)
            touches = [
                f"touches: nodes labelled {k8s.ZONE_LABEL}={label} (zone {zone}), cordoned",
                "touches: pods of namespaces "
                + ", ".join(self.guard.safety.kubernetes.namespaces)
                + " on those nodes, evicted (DaemonSet and mirror pods stay)",
            ]
            calls = ["core: PATCH node spec.unschedulable=true", "policy: CREATE pod eviction"]
            view.undo = "uncordon the nodes this fault cordoned" + (f" ({view.undo})" if view.undo else "")
        elif func == "chaos_deny_all":
            direction = args.get("direction", "ingress")
            touches = [f"touches: pods in namespace {ns} matching {selector} (all {direction} traffic denied)"]
            calls = [
                f"networking: CREATE NetworkPolicy {ns}/{k8s.POLICY_PREFIX}{direction}-<id> "
                f"(podSelector {selector}, deny all {direction})"
            ]
            view.undo = "delete that NetworkPolicy" + (f" ({view.undo})" if view.undo else "")
        elif func == "chaos_scale_to_zero":
            touches = [f"touches: deployment {ns}/{args.get('deployment')} and its pods (scaled to 0)"]
            calls = [f"apps: PATCH deployment {ns}/{args.get('deployment')} scale replicas=0"]
            view.undo = "scale it back to the replica count read before" + (f" ({view.undo})" if view.undo else "")
        elif func == "chaos_bad_rollout":
            touches = [
                f"touches: deployment {ns}/{args.get('deployment')} (new revision with image {args.get('image')})"
            ]
            calls = [f"apps: PATCH deployment {ns}/{args.get('deployment')} container image"]
            view.undo = "roll back to the revision recorded before" + (f" ({view.undo})" if view.undo else "")
        elif func == "chaos_rollback_deployment":
            touches = [f"touches: deployment {ns}/{args.get('deployment')} (rolled back to the previous revision)"]
            calls = [f"apps: PATCH deployment {ns}/{args.get('deployment')} template (kubectl rollout undo)"]
        elif func in CHAOS_MESH_ACTIVITIES:
            touches, calls, undo = _chaos_mesh_plan(func, ns, args, view)
            view.undo = undo + (f" ({view.undo})" if view.undo else "")
        elif func == "chaos_namespace_delete":
            target_ns = args.get("namespace") or args.get("drill_namespace") or "?"
            backup = args.get("backup") or args.get("velero_backup") or "?"
            touches = [
                f"touches: namespace {target_ns} and everything in it (only if labelled "
                f"{k8s_velero.OWNED_LABEL}=true and Velero backup {backup} is Completed and holds it)"
            ]
            calls = [f"core: DELETE namespace {target_ns}"]
            view.undo = f"restore namespace {target_ns} from Velero backup {backup}" + (
                f" ({view.undo})" if view.undo else ""
            )
            args = {**args, "ns": target_ns}
        elif func == "chaos_velero_restore":
            included = _listed(args.get("included_namespaces"))
            velero_ns = args.get("velero_namespace") or k8s_velero.VELERO_NAMESPACE
            try:
                body = k8s_velero.restore_body(
                    str(args.get("backup")),
                    included,
                    _listed(args.get("excluded_resources")),
                    args.get("label_selector") or None,
                    velero_ns,
                    "drill-<backup>-<id>",
                    _listed(args.get("included_resources")),
                )
                spec = json.dumps(body["spec"], sort_keys=True)
            except HarnessError as err:
                spec = f"(WOULD FAIL: {err})"
            touches = [f"touches: namespaces {', '.join(included) or '(none: WOULD BE REFUSED)'} (restored into)"]
            calls = [
                f"velero.io: CREATE Restore {velero_ns}/drill-<backup>-<id> {spec}",
                "velero.io: GET Restore status.phase until Completed / PartiallyFailed / Failed (timed)",
            ]
            args = {**args, "ns": included[0] if len(included) == 1 else ",".join(included)}
        else:
            super()._plan_activity(view, kind, name, params, configuration)
            return
        where = (
            f"namespace: {ns}" if "ns" in args else "namespaces: " + ", ".join(self.guard.safety.kubernetes.namespaces)
        )
        view.touches = [f"{where} (context {self.context or 'not set'})", *touches]
        view.calls = calls
        view.blast = (
            f"checked against the cluster when it runs: max_pods={lim.max_pods}, max_azs={lim.max_azs}, "
            f"resources={', '.join(lim.resources) or 'any'}"
        )
        if "ns" in args:
            try:
                for one in str(args.get("ns") or "").split(",") or [""]:
                    k8s.check_namespace(self.guard.safety, one or None)
            except HarnessError as err:
                view.blast = f"WOULD BE REFUSED: {err}"

    # -- state of the system -----------------------------------------------------------------------------
    def _health_failures(self) -> dict[str, str]:
        """The app deployment (configuration app_deployment) has every replica available, as `kubectl rollout
        status` would say, besides every probe succeeding."""
        name = self._setting("app_deployment")
        if name is None:
            return {}
        try:
            if k8s.deployment_available(self.cluster, self.namespace, name):
                return {}
            return {f"deployment {name}": "not every replica is available"}
        except Exception as err:  # noqa: BLE001 - any API error means "not healthy yet"
            return {f"deployment {name}": k8s._short(err)}

    def _primary_pod(self, service: str) -> Any | None:
        key = PRIMARY_SELECTORS.get(service)
        if key is None:
            raise HarnessError(f"unknown service {service!r}: postgresql or redis")
        selector = self._setting(key)
        if selector is None:
            raise self._lacks(
                f"Then the {service} cluster has a primary again",
                f"no configuration {key} (label selector of the primary pod) in the target file",
            )
        return primary_pod(self.cluster, self.namespace, selector)

    def primary(self, service: str) -> str | None:
        """The name of the Ready pod matching db_primary_selector (postgresql) or redis_primary_selector
        (redis); None while none is Ready (the replacement is starting, or an election is running)."""
        pod = self._primary_pod(service)
        return pod.metadata.name if pod is not None else None

    def zone_of_primary(self, service: str) -> str:
        """The vocabulary zone (az-a/b/c, via configuration zone_a/b/c) of the node the primary pod runs on.
        az-a/b/c in a fault's parameters stay as they are (the activity maps them to the cluster's zone labels)."""
        return self._zone_of(service)

    def zones(self) -> dict[str, str]:
        """Vocabulary zone → the cluster's topology.kubernetes.io/zone value, for the configured zones."""
        return {
            vocab: str(self.configuration[key])
            for vocab, key in VOCABULARY_ZONES.items()
            if not _unset(self.configuration.get(key))
        }

    def _zone_of(self, service: str) -> str:
        pod = self._primary_pod(service)
        if pod is None:
            raise HarnessError(
                f"no Ready {service} primary pod right now in namespace {self.namespace} (being replaced?)"
            )
        node = self.cluster.core.read_node(pod.spec.node_name, _request_timeout=k8s.REQUEST_TIMEOUT)
        label = (node.metadata.labels or {}).get(k8s.ZONE_LABEL, "")
        found = [vocab for vocab, real in self.zones().items() if real == label]
        if not found:
            raise HarnessError(
                f"{self.target_file.path}: the {service} primary pod {pod.metadata.name} runs in zone "
                f"{label or '(no zone label)'} on node {pod.spec.node_name}, which configuration "
                f"zone_a/zone_b/zone_c does not name ({self.zones() or 'none set'})"
            )
        return found[0]

    def other_zones(self, zone: str) -> list[str]:
        """The configured vocabulary zones other than `zone` (a vocabulary name or a cluster zone label)."""
        zones = self.zones()
        others = [vocab for vocab, real in zones.items() if zone not in (vocab, real)]
        if not others:
            raise HarnessError(
                f"{self.target_file.path}: configuration zone_a/zone_b/zone_c name no zone other than {zone}"
            )
        return others

    def versions(self) -> dict[str, str]:
        """What the report's environment shows: provider, environment, context, namespace, the API server's and
        the clients' versions. Never the token, nor anything read from the kubeconfig beyond the context name."""
        out = {
            "provider": self.provider,
            "environment": self.environment,
            "kubernetes.context": self.context or "-",
            "kubernetes.namespace": self.namespace or "-",
        }
        out.update({f"kubernetes.{k}": v for k, v in self.engines.items()})
        try:
            out["kubernetes.server"] = self.cluster.server_version()
        except Exception:  # noqa: BLE001 - the report still gets written
            out["kubernetes.server"] = "unknown"
        for dist in ("kubernetes", "chaostoolkit-lib"):
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = "not installed"
        return out


def primary_pod(cluster: k8s.Cluster, namespace: str | None, selector: str) -> Any | None:
    """The Ready pod matching `selector` in the namespace (first by name when several are), else None."""
    pods = cluster.core.list_namespaced_pod(
        namespace, label_selector=selector, _request_timeout=k8s.REQUEST_TIMEOUT
    ).items
    ready = sorted((p for p in pods if _ready(p)), key=lambda p: p.metadata.name)
    return ready[0] if ready else None


CHAOS_MESH_ACTIVITIES = {
    "chaos_network_latency": ("network-latency", "NetworkChaos"),
    "chaos_network_blackhole": ("network-blackhole", "NetworkChaos"),
    "chaos_network_partition": ("network-partition", "NetworkChaos"),
    "chaos_process_kill": ("process-kill", "PodChaos"),
    "chaos_process_freeze": ("process-freeze", "PodChaos"),
}


def _listed(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _chaos_mesh_plan(func: str, ns: str, args: dict[str, Any], view: FaultPlanView) -> tuple[list[str], list[str], str]:
    """The Chaos Mesh object a Chaos Mesh activity would create, from its arguments alone: (touches, calls, undo)."""
    fault, kind = CHAOS_MESH_ACTIVITIES[func]
    aliases = args.get("aliases") or {}

    def pick(value: Any) -> Any:
        return aliases.get(value, value) if isinstance(value, str) else value

    def seconds() -> float | None:
        raw = args.get("seconds")
        return float(raw) if raw not in (None, "") else None

    try:
        if func == "chaos_network_latency":
            selector = pick(args.get("label_selector"))
            spec = k8s_chaosmesh.latency_spec(
                ns,
                k8s_chaosmesh.match_labels(selector, fault),
                int(args["ms"]),
                int(args.get("jitter") or 0),
                seconds(),
            )
        elif func == "chaos_network_blackhole":
            selector = pick(args.get("label_selector"))
            spec = k8s_chaosmesh.blackhole_spec(ns, k8s_chaosmesh.match_labels(selector, fault), seconds())
        elif func == "chaos_network_partition":
            zones = args.get("zones") or {}
            a, b = args.get("a"), args.get("b")
            if a and not b:  # "cut off from the other zones": one partition per other zone, known when it runs
                b = "<each other zone>"
            spec = k8s_chaosmesh.partition_spec(
                ns,
                pick(args.get("service")),
                pick(args.get("dependency")),
                zones.get(a, a) if a else None,
                zones.get(b, b) if b else None,
                seconds(),
            )
            selector = (
                f"zone {spec['selector'].get('nodeSelectors', {}).get(k8s.ZONE_LABEL)}"
                if "nodeSelectors" in spec["selector"]
                else k8s.selector_text(spec["selector"]["labelSelectors"])
            )
        elif func == "chaos_process_kill":
            selector = args.get("label_selector")
            spec = k8s_chaosmesh.kill_spec(
                ns, k8s_chaosmesh.match_labels(selector, fault), args.get("container") or None
            )
        else:
            selector = args.get("label_selector")
            spec = k8s_chaosmesh.freeze_spec(
                ns, k8s_chaosmesh.match_labels(selector, fault), seconds(), args.get("container") or None
            )
    except (HarnessError, KeyError, TypeError, ValueError) as err:
        view.problem = str(err) if str(err).startswith(fault) else f"{fault}: {err}"
        return [], [], ""
    name = f"drill-<run id>-{fault}-<id>"
    touches = [
        f"touches: pods in namespace {ns} matching {selector} ({'one of them' if spec['mode'] == 'one' else 'all'})",
        f"needs Chaos Mesh: CRD {k8s_chaosmesh.CRDS[kind]} (checked when it runs; without it: unsupported, "
        "nothing written)",
    ]
    calls = [f"{k8s_chaosmesh.GROUP}: CREATE {kind} {ns}/{name} {json.dumps(spec, sort_keys=True)}"]
    return touches, calls, f"delete {kind} {ns}/{name} (Chaos Mesh recovers the pods)"


def cluster_for(target: str, context: str | None, kubeconfig: str | None = None) -> k8s.Cluster:
    """Connect to `context` under the safety section of a target file (name or path): what every Kubernetes
    Chaos Toolkit activity does first (harness/chaos/k8s.py)."""
    return k8s.connect(load_target(target).guard, context or None, kubeconfig or None)


# -- Chaos Toolkit probe (targets/k8s-staging.example.yaml, procedure auto-failover) ------------------------------
def chaos_primary_pod_ready(
    target: str, context: str, ns: str, label_selector: str, kubeconfig: str | None = None, timeout_s: float = 60.0
) -> str:
    """Wait until a pod matching the primary's selector is Ready (the operator or its controller brought one
    back); its name. Raises at `timeout_s`, so the procedure fails instead of reporting a bare False."""
    cluster = cluster_for(target, context, kubeconfig)
    k8s.check_namespace(cluster.safety, ns)
    deadline = time.monotonic() + timeout_s
    while True:
        pod = primary_pod(cluster, ns, label_selector)
        if pod is not None:
            return pod.metadata.name
        if time.monotonic() >= deadline:
            raise HarnessError(f"no Ready pod matches {label_selector} in namespace {ns} after {timeout_s:g} s")
        time.sleep(PRIMARY_POLL_S)
