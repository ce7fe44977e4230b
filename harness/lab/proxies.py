"""Fault proxies in the lab's real traffic paths: where `network-latency` and `network-blackhole` act.

The kernel here has no tc netem, so latency and blackholes come from the user-space TCP proxy of
harness/lab/fault_proxy.py, run as a lab component at the edge (root namespace) in the path of one client
class to one dependency. Each proxy normally runs in `pass` mode; a fault switches its mode through the
proxy's Unix control socket and its undo switches it back.

    target  component   path
    db      proxy-db    app replicas (az-a/b/c) -> HAProxy pg_primary -> the PostgreSQL leader

The harness's own probes and writers keep going straight to HAProxy, so a fault on `db` is a fault in
the app's network path only (what a client of the app sees), measured from outside it.

Not proxied: the app's path to Redis. The app finds the Redis primary through Sentinel, which hands out
the primary's real address, so a proxy with one fixed upstream cannot sit in that path without changing
how the app discovers Redis (and with it every cache drill's behaviour).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.lab.context import LabContext, Launch
from harness.lab.fault_proxy import ProxyControl
from harness.lab.state import ensure_dir
from harness.lab.topology import EDGE, SPECS, ComponentSpec, of_kind


@dataclass(frozen=True)
class ProxiedPath:
    """One fault target: the proxy component that carries it and where that proxy forwards to."""

    target: str  # the name faults use: target=db
    component: str  # lab component name of its proxy
    path: str  # what traffic it carries, for blast radii and `lab status`
    upstream: Callable[[LabContext], tuple[str, int]]


PATHS: dict[str, ProxiedPath] = {
    "db": ProxiedPath(
        target="db",
        component="proxy-db",
        path="app replicas -> PostgreSQL primary (HAProxy pg_primary)",
        upstream=lambda ctx: (ctx.host(EDGE), SPECS["haproxy"].ports["pg_primary"]),
    ),
}
_BY_COMPONENT = {p.component: p for p in PATHS.values()}


def targets() -> list[str]:
    """The names `network-latency` / `network-blackhole` accept as `target` on the lab."""
    return sorted(PATHS)


def path_for(target: str) -> ProxiedPath:
    """The proxied path called `target`; one HarnessError listing the known targets otherwise."""
    try:
        return PATHS[target]
    except KeyError:
        raise HarnessError(
            f"parameter 'target': unknown target {target!r} on the lab; known targets: "
            f"{', '.join(targets())} (each is a fault proxy in one of the lab's paths)"
        ) from None


def control_path(ctx: LabContext, component: str) -> Path:
    """The proxy's Unix control socket (mode 0600, created by the proxy)."""
    return ctx.paths.component_dir(component) / "control.sock"


def listen_address(ctx: LabContext, component: str) -> tuple[str, int]:
    """Where clients of the path connect: the edge address, the component's fixed port."""
    return ctx.host(EDGE), SPECS[component].ports["listen"]


def launch(ctx: LabContext, spec: ComponentSpec) -> Launch:
    path = _BY_COMPONENT[spec.name]
    ensure_dir(ctx.paths.component_dir(spec.name), 0o700)
    host, port = listen_address(ctx, spec.name)
    up_host, up_port = path.upstream(ctx)
    # The control path names the state folder, so `lab down`'s sweep recognises the process as the lab's.
    return Launch(
        argv=[
            ctx.python,
            "-m",
            "harness.lab.fault_proxy",
            "--listen",
            f"{host}:{port}",
            "--upstream",
            f"{up_host}:{up_port}",
            "--control",
            str(control_path(ctx, spec.name)),
            "--mode",
            "pass",
        ]
    )


def app_db_address(ctx: LabContext) -> tuple[str, int]:
    """Where the AZ app replicas reach PostgreSQL: through the `db` proxy."""
    return listen_address(ctx, PATHS["db"].component)


def control(ctx: LabContext, target: str, timeout: float = 2.0):
    """A ProxyControl for the proxy of `target` (its mode: `.get()`, `.set(mode=...)`)."""
    return ProxyControl(control_path(ctx, path_for(target).component), timeout=timeout)


def describe_mode(state: dict[str, Any]) -> str:
    """'pass', 'latency 300 ms ± 20 (downstream)', 'blackhole' — short, for status and blast radii."""
    mode = state.get("mode", "?")
    if mode == "latency":
        jitter = f" ± {state.get('jitter_ms', 0):g}" if state.get("jitter_ms") else ""
        return f"latency {state.get('latency_ms', 0):g} ms{jitter} ({state.get('direction', 'both')})"
    return str(mode)


def health_rows(ctx: LabContext) -> list[dict[str, Any]]:
    """One status row per proxy: healthy = its control socket answers and it is in `pass` mode (any other
    mode is a fault in force; the fault's undo or `drill recover` puts it back)."""
    rows = []
    for spec in of_kind("proxy"):
        role = f"fault proxy {_BY_COMPONENT[spec.name].target}"
        try:
            state = ProxyControl(control_path(ctx, spec.name), timeout=1.0).get()
        except HarnessError:
            rows.append({"name": spec.name, "ok": False, "role": role, "health": "control socket not answering"})
            continue
        ok = state.get("mode") == "pass"
        fault = "" if ok else " (fault in force)"
        rows.append(
            {
                "name": spec.name,
                "ok": ok,
                "role": role,
                "health": f"{describe_mode(state)}{fault} -> {state.get('upstream')}, "
                f"{state.get('connections_open', 0)} open",
            }
        )
    return rows
