"""netns mode: zones are network namespaces; partitions are real packet drops (needs root, skips otherwise)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time

import pytest
from netlab_helpers import ECHO_PORT, HERE, PYTHON, leftovers, reachable, require_netns

from harness.errors import HarnessError
from harness.lab.network import LabNetwork

EDGE: list[str] = []  # the root namespace: no prefix

pytestmark = pytest.mark.timeout(180)


def test_each_zone_has_its_own_loopback_address_and_namespace(lab_net):
    addresses = {zone: lab_net.host(zone) for zone in lab_net.zones}
    assert len(set(addresses.values())) == len(addresses)
    assert all(addr.startswith("127.") for addr in addresses.values())
    assert lab_net.exec_prefix("az-a") == ["ip", "netns", "exec", "drilltest-az-a"]
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert {f"drilltest-{z}" for z in lab_net.zones} <= {line.split()[0] for line in names.splitlines()}
    lab_net.setup()  # idempotent: a second setup changes nothing and breaks nothing
    assert lab_net.partitions() == {"partitions": [], "isolated": []}


def test_zone_service_is_reachable_from_the_edge_and_from_other_zones(lab_net, zone_echo):
    a = lab_net.host("az-a")
    assert reachable(EDGE, a, ECHO_PORT)
    assert reachable(lab_net.exec_prefix("az-b"), a, ECHO_PORT)
    assert reachable(lab_net.exec_prefix("az-c"), a, ECHO_PORT)
    # A zone's address is not the root's 127.0.0.1: nothing listens there inside az-b.
    assert not reachable(lab_net.exec_prefix("az-b"), "127.0.0.1", ECHO_PORT, timeout=0.5)


def test_edge_address_is_reachable_from_a_zone(lab_net, processes):
    _, port = processes.echo_server(EDGE, lab_net.edge_host())
    assert reachable(lab_net.exec_prefix("az-c"), lab_net.edge_host(), port)


def test_exec_prefix_can_drop_privileges_inside_the_zone(lab_net):
    argv = lab_net.exec_prefix("az-b", user="nobody") + ["sh", "-c", "id -un; ip -br addr show dev veth0"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "nobody"
    assert f"{lab_net.host('az-b')}/16" in out


def test_partition_drops_both_directions_between_two_zones_only(lab_net, zone_echo):
    a, b, c = (lab_net.host(z) for z in ("az-a", "az-b", "az-c"))
    # A long-lived connection from az-b to az-a, round-tripping every 2 ms, finds the first dropped packet.
    stream = subprocess.Popen(
        lab_net.exec_prefix("az-b") + [PYTHON, str(HERE / "probe_client.py"), "stream", a, str(ECHO_PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stream.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        called = time.monotonic()
        lab_net.partition("az-a", "az-b")
        returned = time.monotonic()
        first_lost = json.loads(stream.stdout.readline())["first_lost_sent"]
        stream.wait(10)
    finally:
        stream.kill()
        stream.wait()
        stream.stdout.close()
    print(
        f"\npartition(): call took {1000 * (returned - called):.1f} ms; first dropped packet sent "
        f"{1000 * (first_lost - returned):+.1f} ms after it returned ({1000 * (first_lost - called):+.1f} ms after the call)"
    )
    # Caused by partition(): only a message still awaiting its answer (<= 0.3 s, the prober's timeout) when
    # the call began can be lost. Without a working partition the prober reports nothing and this test fails.
    assert first_lost > called - 0.3

    assert lab_net.partitions() == {"partitions": [["az-a", "az-b"]], "isolated": []}
    assert not reachable(lab_net.exec_prefix("az-b"), a, ECHO_PORT, timeout=0.5)
    assert not reachable(lab_net.exec_prefix("az-a"), b, ECHO_PORT, timeout=0.5)
    assert reachable(EDGE, a, ECHO_PORT)
    assert reachable(EDGE, b, ECHO_PORT)
    assert reachable(lab_net.exec_prefix("az-c"), a, ECHO_PORT)
    assert reachable(lab_net.exec_prefix("az-a"), c, ECHO_PORT)

    lab_net.heal("az-b", "az-a")  # order of the pair does not matter
    assert lab_net.partitions() == {"partitions": [], "isolated": []}
    assert reachable(lab_net.exec_prefix("az-b"), a, ECHO_PORT)
    assert reachable(lab_net.exec_prefix("az-a"), b, ECHO_PORT)


def test_isolate_cuts_a_zone_off_from_everything_including_the_edge(lab_net, zone_echo):
    a, b = lab_net.host("az-a"), lab_net.host("az-b")
    lab_net.isolate("az-a")
    try:
        assert lab_net.partitions() == {"partitions": [], "isolated": ["az-a"]}
        assert not reachable(EDGE, a, ECHO_PORT, timeout=0.5)
        assert not reachable(lab_net.exec_prefix("az-b"), a, ECHO_PORT, timeout=0.5)
        assert not reachable(lab_net.exec_prefix("az-a"), b, ECHO_PORT, timeout=0.5)
        assert reachable(lab_net.exec_prefix("az-a"), a, ECHO_PORT)  # its own loopback still works
        assert reachable(EDGE, b, ECHO_PORT)
    finally:
        lab_net.heal_zone("az-a")
    assert lab_net.partitions() == {"partitions": [], "isolated": []}
    assert reachable(EDGE, a, ECHO_PORT)
    assert reachable(lab_net.exec_prefix("az-b"), a, ECHO_PORT)


def test_heal_all_removes_every_fault(lab_net, zone_echo):
    lab_net.partition("az-a", "az-b")
    lab_net.partition("az-b", "az-c")
    lab_net.isolate("az-c")
    assert lab_net.partitions() == {"partitions": [["az-a", "az-b"], ["az-b", "az-c"]], "isolated": ["az-c"]}
    lab_net.heal_all()
    assert lab_net.partitions() == {"partitions": [], "isolated": []}
    assert reachable(lab_net.exec_prefix("az-a"), lab_net.host("az-b"), ECHO_PORT)
    assert reachable(EDGE, lab_net.host("az-c"), ECHO_PORT)


def test_bad_zone_and_self_partition_are_clear_errors(lab_net):
    with pytest.raises(HarnessError, match="unknown zone 'az-x'; known zones: az-a, az-b, az-c"):
        lab_net.partition("az-a", "az-x")
    with pytest.raises(HarnessError, match="from itself"):
        lab_net.partition("az-a", "az-a")
    assert lab_net.partitions() == {"partitions": [], "isolated": []}


def test_teardown_leaves_nothing_behind(tmp_path, processes):
    require_netns()
    net = LabNetwork(tmp_path, "netns", ["az-a", "dr"], prefix="drilltd")
    net.setup()
    net.partition("az-a", "dr")
    # A process still running in a zone would keep the namespace alive: teardown stops it.
    echo, _ = processes.echo_server(net.exec_prefix("dr"), net.host("dr"), ECHO_PORT)
    assert leftovers("drilltd")
    net.teardown()
    assert leftovers("drilltd") == []
    assert echo.wait(5) is not None
    assert not net.state_file.exists()
    net.teardown()  # idempotent
    # Undo paths stay safe on a network that is already gone.
    net.heal("az-a", "dr"), net.heal_zone("dr"), net.heal_all()
    assert net.partitions() == {"partitions": [], "isolated": []}


CRASHING_SETUP = textwrap.dedent(
    """
    import os, signal, sys
    from harness.lab import network
    from harness.lab.network import LabNetwork

    kill_after, state_dir = int(sys.argv[1]), sys.argv[2]
    real_run, calls = network._run, [0]

    def run_then_crash(argv, **kw):
        result = real_run(argv, **kw)
        calls[0] += 1
        if calls[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a harness killed -9 in the middle of setup()
        return result

    network._run = run_then_crash
    net = LabNetwork(state_dir, "netns", ["az-a", "az-b", "az-c", "dr"], prefix="drillkill")
    net.setup()
    net.partition("az-a", "dr")
    os.kill(os.getpid(), signal.SIGKILL)  # or killed -9 while the network and a fault are in force
    """
)

RECOVER = "import sys; from harness.lab.network import teardown_from_state; print(teardown_from_state(sys.argv[1], 'drillkill'))"


# Kill points: right after the bridge, the first namespace, the first veth pair, mid-zone, while rendering
# the rule tables, and (10_000) after setup() and partition() completed.
@pytest.mark.parametrize("kill_after", [4, 13, 25, 40, 89, 10_000])
def test_teardown_in_a_new_process_after_kill_9_uses_only_the_state_file(tmp_path, kill_after):
    require_netns()
    assert leftovers("drillkill") == []
    crashed = subprocess.run([PYTHON, "-c", CRASHING_SETUP, str(kill_after), str(tmp_path)], capture_output=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    left = leftovers("drillkill")
    assert left, "the crash should have left something behind for the recovery to clean"
    print(f"\nkilled after {kill_after} commands, left behind: {len(left)} items ({', '.join(left[:4])} ...)")

    recovered = subprocess.run([PYTHON, "-c", RECOVER, str(tmp_path)], capture_output=True, text=True)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.strip() == "True"
    assert leftovers("drillkill") == []
    assert not (tmp_path / "network-drillkill.json").exists()
    again = subprocess.run([PYTHON, "-c", RECOVER, str(tmp_path)], capture_output=True, text=True)
    assert again.stdout.strip() == "False"  # nothing recorded any more: a no-op


def test_netns_available_reports_a_reason():
    ok, reason = LabNetwork.netns_available()
    assert isinstance(ok, bool) and reason
    if os.geteuid() != 0:
        assert not ok and "root" in reason
