"""What every service module needs to render its config and command line: one `LabContext`."""

from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.lab.network import LabNetwork
from harness.lab.state import LabPaths
from harness.lab.topology import EDGE, SPECS, ComponentSpec

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Launch:
    """How to start one component: argv (without the zone's exec prefix), user, extra env."""

    argv: list[str]
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class LabContext:
    paths: LabPaths
    net: LabNetwork
    replication: str  # "sync" | "async"
    secrets: dict[str, str]

    @property
    def python(self) -> str:
        """The interpreter running the harness (the project venv); Patroni and the apps run on it."""
        return sys.executable

    def host(self, zone: str) -> str:
        """Address a zone's services bind to. The edge (HAProxy, probes) is the root namespace's loopback."""
        if zone == EDGE:
            return self.net.edge_host() if hasattr(self.net, "edge_host") else "127.0.0.1"
        return self.net.host(zone)

    def addr(self, name: str, purpose: str) -> tuple[str, int]:
        spec: ComponentSpec = SPECS[name]
        return self.host(spec.zone), spec.ports[purpose]

    @property
    def postgres_owner(self) -> tuple[int, int]:
        """uid/gid the PostgreSQL processes run as: `postgres` when we are root (it refuses root)."""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            return pw.pw_uid, pw.pw_gid
        return os.geteuid(), os.getegid()

    @property
    def postgres_user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None
