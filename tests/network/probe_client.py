"""Clients the network tests run inside a zone (or at the edge) through LabNetwork.exec_prefix().

python probe_client.py once HOST PORT TIMEOUT     exit 0 if a connect + echo round trip succeeds, else 1
python probe_client.py stream HOST PORT           keep one connection open, round-trip a message every
                                                  2 ms; print "ready", then on the first message without
                                                  an answer print {"first_lost_sent": <monotonic time>}
"""

import json
import socket
import sys
import time


def once(host: str, port: int, timeout: float) -> int:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"ping\n")
            return 0 if sock.recv(16) == b"ping\n" else 1
    except OSError:
        return 1


def stream(host: str, port: int) -> int:
    sock = socket.create_connection((host, port), timeout=2)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(0.3)  # far above a loopback round trip, so a missing answer means a dropped packet
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sent = time.monotonic()  # CLOCK_MONOTONIC is shared by every process on the machine
        sock.sendall(b"x")
        try:
            if sock.recv(1) != b"x":
                return 1
        except TimeoutError:
            print(json.dumps({"first_lost_sent": sent}), flush=True)
            return 0
        time.sleep(0.002)
    return 1


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.exit(once(host, port, float(sys.argv[4])) if mode == "once" else stream(host, port))
