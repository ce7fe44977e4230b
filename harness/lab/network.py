"""Where each lab zone lives on the network: loopback (everything on 127.0.0.1) or one network namespace
per zone, so a partition is a real packet drop.

Contract used by the rest of the lab and by the faults (keep it stable):

    net = LabNetwork(state_dir, mode="netns" | "loopback", zones=["az-a", "az-b", "az-c", "dr"])
    net.setup()                    # idempotent; creates namespaces/links/addresses (netns) or nothing
    net.host(zone) -> str          # address a service in `zone` binds to and is reached at
    net.exec_prefix(zone) -> list  # argv prefix that runs a command inside the zone ([] in loopback)
    net.partition(a, b) / net.heal(a, b) / net.isolate(zone) / net.heal_all()
    net.teardown()                 # idempotent; removes everything setup() made
    LabNetwork.netns_available() -> (bool, reason)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

NetworkMode = Literal["netns", "loopback"]


class LabNetwork:
    def __init__(self, state_dir: Path, mode: NetworkMode, zones: list[str]):
        self.state_dir = Path(state_dir)
        self.mode = mode
        self.zones = list(zones)

    @staticmethod
    def netns_available() -> tuple[bool, str]:
        return False, "netns mode not implemented yet"

    def setup(self) -> None:
        if self.mode == "netns":
            raise NotImplementedError("netns mode")

    def host(self, zone: str) -> str:
        return "127.0.0.1"

    def exec_prefix(self, zone: str) -> list[str]:
        return []

    def teardown(self) -> None:
        pass
