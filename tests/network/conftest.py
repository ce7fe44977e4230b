"""Fixtures for the network layer and fault proxy tests: real namespaces, real sockets, real processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from netlab_helpers import ECHO_PORT, ZONES, Processes, leftovers, require_netns

from harness.lab.network import LabNetwork


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.stop_all()


@pytest.fixture(scope="module")
def lab_net(tmp_path_factory) -> Iterator[LabNetwork]:
    """Three zones under the test prefix, set up once for the module and always torn down."""
    require_netns()
    net = LabNetwork(tmp_path_factory.mktemp("net"), "netns", ZONES, prefix="drilltest")
    net.teardown()  # a previous run that died hard may have left it
    net.setup()
    try:
        yield net
    finally:
        net.teardown()
        assert leftovers("drilltest") == []


@pytest.fixture(scope="module")
def zone_echo(lab_net) -> Iterator[dict[str, int]]:
    """An echo server in every zone, bound to the zone's address (started with the zone's exec_prefix)."""
    procs = Processes()
    try:
        for zone in ZONES:
            procs.echo_server(lab_net.exec_prefix(zone), lab_net.host(zone), ECHO_PORT)
        yield {zone: ECHO_PORT for zone in ZONES}
    finally:
        procs.stop_all()
