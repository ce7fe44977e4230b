"""The TCP fault proxy against a real echo server: latency, blackhole, reset, back to pass, remote control."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest
from netlab_helpers import PYTHON

from harness.errors import HarnessError
from harness.lab.fault_proxy import FaultProxy, ProxyControl

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def upstream(processes) -> tuple[str, int]:
    _, port = processes.echo_server([], "127.0.0.1")
    return "127.0.0.1", port


@pytest.fixture
def proxy(upstream, tmp_path):
    with FaultProxy("127.0.0.1:0", upstream, control_path=tmp_path / "proxy.sock") as running:
        yield running


def connect(address: tuple[str, int], timeout: float = 2.0) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip(sock: socket.socket, payload: bytes = b"ping\n") -> float:
    """Seconds for one request/response through the proxy; raises socket.timeout if no answer comes."""
    start = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the proxy")
        got += chunk
    assert got == payload
    return time.monotonic() - start


def test_pass_forwards_both_ways(proxy):
    with connect(proxy.address) as sock:
        assert round_trip(sock, b"hello through the proxy\n") < 2
        big = bytes(range(256)) * 4096  # 1 MiB: several chunks, order kept
        sock.sendall(big)
        got = b""
        while len(got) < len(big):
            got += sock.recv(1 << 20)
        assert got == big
    assert proxy.state()["mode"] == "pass"


def test_latency_adds_the_configured_delay_per_direction(proxy):
    with connect(proxy.address) as sock:
        baseline = min(round_trip(sock) for _ in range(5))
        state = proxy.set_mode("latency", latency_ms=150)
        assert state["mode"] == "latency" and state["latency_ms"] == 150
        delayed = [round_trip(sock) for _ in range(3)]  # the same connection slows down at once
        print(
            f"\nround trip: {1000 * baseline:.1f} ms in pass, {[round(1000 * d, 1) for d in delayed]} ms with 150 ms/direction"
        )
        assert min(delayed) >= 0.300  # 150 ms on the way there + 150 ms on the way back
        assert max(delayed) < 3.0
        proxy.set_mode("latency", latency_ms=150, direction="downstream")
        one_way = round_trip(sock)
        assert 0.150 <= one_way < 0.300 + 1.0  # only the answer is held back
        proxy.set_mode("latency", latency_ms=100, jitter_ms=50)
        jittered = [round_trip(sock) for _ in range(3)]
        assert min(jittered) >= 0.100  # two directions of at least 50 ms each
        proxy.set_mode("pass")
        assert round_trip(sock) < 0.300  # below the latency floor: pass is back


def test_blackhole_keeps_connecting_but_answers_nothing_then_pass_recovers(proxy):
    proxy.set_mode("blackhole")
    with connect(proxy.address) as sock:  # connect succeeds: the proxy still accepts
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            round_trip(sock)
    proxy.set_mode("pass")
    with connect(proxy.address) as sock:
        assert round_trip(sock) < 2
        proxy.set_mode("blackhole")  # an established connection goes silent too
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            round_trip(sock)
    assert proxy.state()["chunks_dropped"] >= 2
    proxy.set_mode("pass")
    with connect(proxy.address) as sock:
        assert round_trip(sock) < 2


def test_reset_closes_open_and_new_connections(proxy):
    with connect(proxy.address) as sock:
        assert round_trip(sock) < 2
        proxy.set_mode("reset")
        with pytest.raises((ConnectionError, OSError)):
            round_trip(sock)
    with pytest.raises((ConnectionError, OSError)):  # accepted, then reset at once (maybe before connect returns)
        with connect(proxy.address) as sock:
            round_trip(sock)
            round_trip(sock)
    assert proxy.state()["connections_open"] == 0
    proxy.set_mode("pass")
    with connect(proxy.address) as sock:
        assert round_trip(sock) < 2


def test_bad_settings_are_refused_and_change_nothing(proxy, tmp_path):
    control = ProxyControl(tmp_path / "proxy.sock")
    with pytest.raises(HarnessError, match="latency mode needs latency_ms > 0"):
        control.set(mode="latency")
    with pytest.raises(HarnessError, match="mode"):
        control.set(mode="slow")
    with pytest.raises(HarnessError, match="latency_ms"):
        control.set(mode="latency", latency_ms=-5)
    assert control.get()["mode"] == "pass"
    with pytest.raises(HarnessError, match="127.0.0.0/8"):
        FaultProxy("127.0.0.1:0", "192.0.2.1:80")
    with pytest.raises(HarnessError, match="HOST:PORT"):
        FaultProxy("127.0.0.1", "127.0.0.1:80")
    with pytest.raises(HarnessError, match="not answering"):
        ProxyControl(tmp_path / "nobody.sock").get()


def test_proxy_process_is_controlled_from_other_processes(upstream, processes, tmp_path):
    control_path = tmp_path / "ctl.sock"
    argv = [
        PYTHON,
        "-m",
        "harness.lab.fault_proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        f"{upstream[0]}:{upstream[1]}",
        "--control",
        str(control_path),
    ]
    proxy = processes.spawn(argv)
    ready = json.loads(proxy.stdout.readline())
    host, port = ready["listen"].rsplit(":", 1)
    address = (host, int(port))
    assert ready["pid"] == proxy.pid

    with connect(address) as sock:
        assert round_trip(sock) < 2
        # A third process (neither the proxy nor this test) switches the mode through the control socket.
        switch = f"from harness.lab.fault_proxy import ProxyControl; print(ProxyControl({str(control_path)!r}).set(mode='blackhole')['mode'])"
        assert (
            subprocess.run([PYTHON, "-c", switch], capture_output=True, text=True, check=True).stdout.strip()
            == "blackhole"
        )
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            round_trip(sock)
    control = ProxyControl(control_path)
    assert control.get()["mode"] == "blackhole"
    state = control.set(mode="latency", latency_ms=120)
    assert state["latency_ms"] == 120
    with connect(address) as sock:
        assert round_trip(sock) >= 0.240
    control.set(mode="pass")
    with connect(address) as sock:
        assert round_trip(sock) < 2

    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait(10) == 0
    assert not control_path.exists()  # the control socket is removed on a clean stop


def test_cli_bad_address_is_one_clear_error(tmp_path):
    argv = [
        PYTHON,
        "-m",
        "harness.lab.fault_proxy",
        "--listen",
        "0.0.0.0:0",
        "--upstream",
        "127.0.0.1:1",
        "--control",
        str(tmp_path / "c.sock"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "listen host must be an address in 127.0.0.0/8" in done.stderr
