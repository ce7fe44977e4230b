"""loopback mode: everything on 127.0.0.1, no namespaces; partitions are refused with the fallback named."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.lab.network import LabNetwork


def test_loopback_mode_hosts_and_prefixes(tmp_path):
    net = LabNetwork(tmp_path, "loopback", ["az-a", "az-b", "dr"])
    net.setup()
    assert [net.host(z) for z in net.zones] == ["127.0.0.1"] * 3
    assert net.edge_host() == "127.0.0.1"
    assert net.exec_prefix("dr") == []
    assert net.partitions() == {"partitions": [], "isolated": []}
    assert list(tmp_path.iterdir()) == []  # loopback creates nothing
    net.heal_all()
    net.teardown()


@pytest.mark.parametrize("fault", [lambda n: n.partition("az-a", "az-b"), lambda n: n.isolate("az-a")])
def test_loopback_partition_names_the_fallback(tmp_path, fault):
    net = LabNetwork(tmp_path, "loopback", ["az-a", "az-b"])
    with pytest.raises(HarnessError, match="process freeze or the TCP fault proxy"):
        fault(net)


def test_bad_construction_is_one_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="network mode must be 'netns' or 'loopback'"):
        LabNetwork(tmp_path, "bridge", ["az-a"])
    with pytest.raises(HarnessError, match="prefix"):
        LabNetwork(tmp_path, "netns", ["az-a"], prefix="Bad_Prefix")
    with pytest.raises(HarnessError, match="distinct"):
        LabNetwork(tmp_path, "netns", ["az-a", "az-a"])
    with pytest.raises(HarnessError, match="unknown zone 'x'"):
        LabNetwork(tmp_path, "loopback", ["az-a"]).host("x")


def test_test_prefixes_get_their_own_subnet(tmp_path):
    lab = LabNetwork(tmp_path, "netns", ["az-a"], prefix="drill")
    test = LabNetwork(tmp_path, "netns", ["az-a"], prefix="drilltest")
    assert lab.host("az-a") == "127.100.1.2"
    assert test.host("az-a") != lab.host("az-a")
    assert lab.state_file != test.state_file
