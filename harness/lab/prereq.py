"""Checks before `lab up` starts anything: binaries, free ports, a state folder PostgreSQL can use.

All problems are gathered and reported in one HarnessError that says how to install what is missing.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.lab.context import PG_BIN, LabContext
from harness.lab.monitoring import BINARIES as MONITORING_BINARIES
from harness.lab.topology import COMPONENTS, EDGE

INSTALL_HINT = "`make test` or `make drill` installs them (scripts/bootstrap.sh)"

BINARIES = {
    "etcd": "etcd-server",
    "redis-server": "redis-server",
    "redis-sentinel": "redis-sentinel",
    "haproxy": "haproxy",
    "setpriv": "util-linux",
    str(PG_BIN / "postgres"): "postgresql-15",
    str(PG_BIN / "pg_basebackup"): "postgresql-15",
    str(PG_BIN / "initdb"): "postgresql-15",
    "/usr/bin/pgbackrest": "pgbackrest",  # the lab's backups and WAL archive (harness/lab/backup.py)
    "redis-cli": "redis-tools",  # RDB snapshots (`redis-cli --rdb`)
    "redis-check-rdb": "redis-tools",  # checks a snapshot before a restore test
    **MONITORING_BINARIES,
}


def missing_binaries() -> list[str]:
    out = []
    for binary, package in BINARIES.items():
        found = os.access(binary, os.X_OK) if binary.startswith("/") else shutil.which(binary)
        if not found:
            out.append(f"{binary} (Debian package {package})")
    patroni = Path(sys.executable).parent / "patroni"
    if not patroni.exists():
        out.append(f"patroni in the venv ({patroni.parent}; pip package patroni[etcd3])")
    return out


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def taken_ports(ctx: LabContext) -> list[str]:
    """Ports the lab needs that something else holds. In netns mode only the edge's ports are shared
    with the host; zone ports live in fresh namespaces."""
    out = []
    for spec in COMPONENTS:
        if ctx.net.mode == "netns" and spec.zone != EDGE:
            continue
        host = ctx.host(spec.zone)
        for purpose, port in spec.ports.items():
            if port_in_use(host, port):
                out.append(f"{host}:{port} ({spec.name} {purpose})")
    return out


def postgres_access_problem(ctx: LabContext) -> str | None:
    """Can the PostgreSQL user reach the state folder and run the venv's Python? (Not if either lives
    under a private home directory.)"""
    if ctx.postgres_user is None:
        return None
    prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    probe = subprocess.run(
        [*prefix, "/bin/sh", "-c", 'cd "$1" && test -x "$2"', "sh", str(ctx.paths.root), sys.executable],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return (
            f"the postgres user cannot traverse the lab state folder {ctx.paths.root} or run "
            f"{sys.executable}: make every parent folder world-executable (chmod o+x) or set "
            "DRILL_LAB_DIR to a folder outside a private home"
        )
    return None


def check(ctx: LabContext) -> None:
    problems = []
    missing = missing_binaries()
    if missing:
        problems.append("missing: " + ", ".join(missing) + f" — {INSTALL_HINT}")
    if ctx.postgres_user is not None:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            problems.append(f"no `postgres` user (PostgreSQL refuses to run as root) — {INSTALL_HINT}")
    if not problems:
        access = postgres_access_problem(ctx)
        if access:
            problems.append(access)
    taken = taken_ports(ctx)
    if taken:
        problems.append(
            "ports in use: " + ", ".join(taken) + " — stop what holds them (`drill lab down` if it is an older lab)"
        )
    if problems:
        raise HarnessError("cannot start the lab: " + "; ".join(problems))
