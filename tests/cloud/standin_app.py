"""The stand-in app of the cloud drill tests, on 127.0.0.1: the ground truth a drill's measurement must find.

/health answers 200 while `current()` (what the app is connected to: the RDS cluster writer, the uid of the
Ready primary pod) is what it connected to. When that changes the app 'reconnects' for exactly
`reconnect_s`, answering 503 meanwhile; `current()` None (no primary at all) is 503 until there is one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ReconnectingApp:
    def __init__(self, current: Callable[[], str | None], reconnect_s: float, path: str = ""):
        self.current, self.reconnect_s = current, reconnect_s
        self.connected = current()
        self.pending: str | None = None
        self.reconnect_until: float | None = None
        self.outages: list[float] = []  # when each reconnect began (monotonic), for the test's own record
        self.lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200 if app.healthy() else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def healthy(self) -> bool:
        with self.lock:
            now = time.monotonic()
            if self.reconnect_until is not None:
                if now < self.reconnect_until:
                    return False
                self.connected, self.reconnect_until = self.pending, None
            now_connected_to = self.current()
            if now_connected_to != self.connected:
                if now_connected_to is None:
                    return False  # nothing to connect to: down until there is
                self.pending, self.reconnect_until = now_connected_to, now + self.reconnect_s
                self.outages.append(now)
                return False
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
