"""etcd: Patroni's DCS. Three members (one per AZ) for the primary region, one of its own for DR."""

from __future__ import annotations

import httpx

from harness.lab.context import LabContext, Launch
from harness.lab.state import ensure_dir
from harness.lab.topology import ComponentSpec, of_kind


def cluster_of(spec: ComponentSpec) -> list[ComponentSpec]:
    """The members `spec` forms a cluster with: the three AZ members, or DR alone."""
    return [spec] if spec.zone == "dr" else of_kind("etcd", ["az-a", "az-b", "az-c"])


def client_urls(ctx: LabContext, zones: list[str]) -> list[str]:
    return [f"http://{ctx.host(m.zone)}:{m.ports['client']}" for m in of_kind("etcd", zones)]


def launch(ctx: LabContext, spec: ComponentSpec) -> Launch:
    host = ctx.host(spec.zone)
    peers = ",".join(f"{m.name}=http://{ctx.host(m.zone)}:{m.ports['peer']}" for m in cluster_of(spec))
    data = ensure_dir(ctx.paths.component_dir(spec.name), 0o700) / "data"
    return Launch(
        argv=[
            "etcd",
            "--name",
            spec.name,
            "--data-dir",
            str(data),
            "--listen-client-urls",
            f"http://{host}:{spec.ports['client']}",
            "--advertise-client-urls",
            f"http://{host}:{spec.ports['client']}",
            "--listen-peer-urls",
            f"http://{host}:{spec.ports['peer']}",
            "--initial-advertise-peer-urls",
            f"http://{host}:{spec.ports['peer']}",
            "--initial-cluster",
            peers,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            f"drill-lab-{'dr' if spec.zone == 'dr' else 'primary'}",
            # Fast elections on a local network; a 2-core box still keeps up with 100 ms heartbeats.
            "--heartbeat-interval",
            "100",
            "--election-timeout",
            "1000",
            "--quota-backend-bytes",
            str(256 * 1024 * 1024),
            "--logger",
            "zap",
            "--log-level",
            "warn",
        ]
    )


def healthy(ctx: LabContext, spec: ComponentSpec, timeout: float = 0.5) -> tuple[bool, str]:
    host = ctx.host(spec.zone)
    try:
        r = httpx.get(f"http://{host}:{spec.ports['client']}/health", timeout=timeout)
        ok = r.status_code == 200 and r.json().get("health") == "true"
        return ok, "healthy" if ok else f"unhealthy ({r.text.strip()[:80]})"
    except (httpx.HTTPError, ValueError) as err:
        return False, f"unreachable ({type(err).__name__})"
