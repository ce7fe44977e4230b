"""Helpers for the network layer and fault proxy tests: real namespaces, real sockets, real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.network import LabNetwork

HERE = Path(__file__).parent
PYTHON = sys.executable
ZONES = ["az-a", "az-b", "az-c"]
ECHO_PORT = 17000  # every zone has its own address, so the same port everywhere


def require_netns() -> None:
    """Skip only where namespaces are impossible (not root, no ip/nft); CI runs as root, so they run there."""
    ok, reason = LabNetwork.netns_available()
    if not ok:
        pytest.skip(reason)


class Processes:
    """Processes a test starts; each is stopped by its own PID at the end, nothing by name."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        self.started.append(proc)
        return proc

    def echo_server(self, exec_prefix: list[str], host: str, port: int = 0) -> tuple[subprocess.Popen, int]:
        proc = self.spawn(exec_prefix + [PYTHON, str(HERE / "echo_server.py"), host, str(port)])
        line = proc.stdout.readline()
        if not line.startswith("ready"):
            proc.kill()
            raise RuntimeError(f"echo server did not start: {line!r} {proc.stderr.read()!r}")
        return proc, int(line.split()[1])

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()


def reachable(exec_prefix: list[str], host: str, port: int, timeout: float = 1.0) -> bool:
    """Does a connect + echo round trip to host:port succeed from where exec_prefix runs?"""
    argv = exec_prefix + [PYTHON, str(HERE / "probe_client.py"), "once", host, str(port), str(timeout)]
    return subprocess.run(argv, capture_output=True, timeout=timeout * 3 + 10).returncode == 0


def leftovers(prefix: str) -> list[str]:
    """Every namespace, link, nft table or root route a network with `prefix` could have left behind."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {line.split()[0]}" for line in netns.splitlines() if line.startswith(f"{prefix}-")]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    found += [f"link {line.split()[0]}" for line in links.splitlines() if line.startswith(f"{prefix}-")]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    found += [f"nft {line}" for line in tables.splitlines() if f"{prefix}_lab" in line]
    routes = subprocess.run(["ip", "route", "show", "table", "local"], capture_output=True, text=True).stdout
    found += [f"route {line}" for line in routes.splitlines() if f"dev {prefix}-br" in line]
    return found
