"""A Kubernetes target file (environment staging/production, safety.kubernetes) as a drill target: the surface
LocalTarget gives the Gherkin steps, built from the target file and one allowlisted kubeconfig context.

    target = KubeTarget(load_target("k8s-staging")).check()   # context + namespace allowlisted, no request yet
    target.probe("app")              # the file's probes.app spec, ${env:...} expanded (FileTarget)
    target.primary("postgresql")     # the Ready pod matching db_primary_selector right now
    target.resolve_params({"zone": "@primary-zone"})   # az-a/b/c: the zone of that pod's node

The cluster client is harness.faults.k8s's (explicit kubeconfig and context, never the current-context), and
every request here is a read: faults and procedures run only through the file's Chaos Toolkit activities.
`preflight()` is what harness.safety.preflight_target does for a Kubernetes target before the first fault.
"""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path
from typing import Any

from harness.drills.cloud_target import FileTarget
from harness.errors import HarnessError
from harness.faults import k8s

VOCABULARY_ZONES = {"az-a": "zone_a", "az-b": "zone_b", "az-c": "zone_c"}  # vocabulary zone → configuration key
PRIMARY_SELECTORS = {"postgresql": "db_primary_selector", "postgres": "db_primary_selector",
                     "database": "db_primary_selector", "redis": "redis_primary_selector",
                     "cache": "redis_primary_selector"}
PRIMARY_POLL_S = 0.5


def _ready(pod: Any) -> bool:
    return not pod.metadata.deletion_timestamp and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _unset(value: Any) -> bool:
    """Empty, or still the example's `<PLACEHOLDER>`."""
    return value is None or not str(value).strip() or str(value).startswith("<")


class KubeTarget(FileTarget):
    """A Kubernetes target file as a drill target (provider kubernetes)."""

    def __init__(self, target_file: Any, provider: str = "kubernetes"):
        super().__init__(target_file, provider)
        self._cluster: k8s.Cluster | None = None

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
            from harness.safety import target_safety

            self._cluster = k8s.connect(target_safety(self.target_file), self.context, self.kubeconfig)
        return self._cluster

    def check(self) -> "KubeTarget":
        """Probes and writers parse (FileTarget), the context is allowlisted and in the kubeconfig, the namespace
        the faults act in is allowlisted. No request to the cluster."""
        super().check()
        k8s.check_namespace(self.cluster.safety, self.namespace)
        return self

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
            raise self._lacks(f"Then the {service} cluster has a primary again",
                              f"no configuration {key} (label selector of the primary pod) in the target file")
        return primary_pod(self.cluster, self.namespace, selector)

    def primary(self, service: str) -> str | None:
        """The name of the Ready pod matching db_primary_selector (postgresql) or redis_primary_selector
        (redis); None while none is Ready (the replacement is starting, or an election is running)."""
        pod = self._primary_pod(service)
        return pod.metadata.name if pod is not None else None

    def resolve_params(self, params: dict[str, str]) -> dict[str, str]:
        """@primary-zone / @cache-primary-zone: the vocabulary zone (az-a/b/c, via configuration zone_a/b/c) of
        the node the primary pod runs on; @replica-zone: another configured zone. az-a/b/c stay as they are
        (the activity maps them to the cluster's zone labels)."""
        from harness.drills.target import DYNAMIC_VALUES

        out = {}
        for key, value in params.items():
            if value == "@primary-zone":
                value = self._zone_of("postgresql")
            elif value == "@cache-primary-zone":
                value = self._zone_of("redis")
            elif value == "@replica-zone":
                value = self.other_zones(self._zone_of("postgresql"))[0]
            elif value.startswith("@"):
                raise HarnessError(f"parameter {key}={value}: unknown dynamic value; known: {', '.join(DYNAMIC_VALUES)}")
            out[key] = value
        return out

    def zones(self) -> dict[str, str]:
        """Vocabulary zone → the cluster's topology.kubernetes.io/zone value, for the configured zones."""
        return {vocab: str(self.configuration[key]) for vocab, key in VOCABULARY_ZONES.items()
                if not _unset(self.configuration.get(key))}

    def _zone_of(self, service: str) -> str:
        pod = self._primary_pod(service)
        if pod is None:
            raise HarnessError(f"no Ready {service} primary pod right now in namespace {self.namespace} "
                               "(being replaced?)")
        node = self.cluster.core.read_node(pod.spec.node_name, _request_timeout=k8s.REQUEST_TIMEOUT)
        label = (node.metadata.labels or {}).get(k8s.ZONE_LABEL, "")
        found = [vocab for vocab, real in self.zones().items() if real == label]
        if not found:
            raise HarnessError(f"{self.target_file.path}: the {service} primary pod {pod.metadata.name} runs in zone "
                               f"{label or '(no zone label)'} on node {pod.spec.node_name}, which configuration "
                               f"zone_a/zone_b/zone_c does not name ({self.zones() or 'none set'})")
        return found[0]

    def other_zones(self, zone: str) -> list[str]:
        """The configured vocabulary zones other than `zone` (a vocabulary name or a cluster zone label)."""
        zones = self.zones()
        others = [vocab for vocab, real in zones.items() if zone not in (vocab, real)]
        if not others:
            raise HarnessError(f"{self.target_file.path}: configuration zone_a/zone_b/zone_c name no zone other "
                               f"than {zone}")
        return others

    def versions(self) -> dict[str, str]:
        """What the report's environment shows: provider, environment, context, namespace, the API server's and
        the clients' versions. Never the token, nor anything read from the kubeconfig beyond the context name."""
        out = {"provider": self.provider, "environment": self.environment,
               "kubernetes.context": self.context or "-", "kubernetes.namespace": self.namespace or "-"}
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
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=selector,
                                            _request_timeout=k8s.REQUEST_TIMEOUT).items
    ready = sorted((p for p in pods if _ready(p)), key=lambda p: p.metadata.name)
    return ready[0] if ready else None


def preflight(target_file: Any, approval: str | None = None, approver: str | None = None) -> Any:
    """The check before the first fault on a Kubernetes target: the context and the namespace its
    configuration names are on the allowlist (refused before any request), the approval (production), then the
    API server answers (one GET /version). Returns the clearance, naming the context."""
    from harness.safety import target_safety

    target = KubeTarget(target_file)
    section = target_safety(target_file)
    k8s.check_context(section.safety, target.context)
    k8s.check_namespace(section.safety, target.namespace)
    clearance, _ = k8s.preflight(section, target.context, target.kubeconfig, approval, approver)
    return clearance


# -- Chaos Toolkit probe (targets/k8s-staging.example.yaml, procedure auto-failover) ------------------------------
def chaos_primary_pod_ready(target: str, context: str, ns: str, label_selector: str, kubeconfig: str | None = None,
                            timeout_s: float = 60.0) -> str:
    """Wait until a pod matching the primary's selector is Ready (the operator or its controller brought one
    back); its name. Raises at `timeout_s`, so the procedure fails instead of reporting a bare False."""
    cluster = k8s.cluster_for(target, context, kubeconfig)
    k8s.check_namespace(cluster.safety, ns)
    deadline = time.monotonic() + timeout_s
    while True:
        pod = primary_pod(cluster, ns, label_selector)
        if pod is not None:
            return pod.metadata.name
        if time.monotonic() >= deadline:
            raise HarnessError(f"no Ready pod matches {label_selector} in namespace {ns} after {timeout_s:g} s")
        time.sleep(PRIMARY_POLL_S)
