"""Abort guards in the measurement control: a real `chaos run` against a real HTTP service on 127.0.0.1 that
the experiment breaks. The guard must stop the method long before its 60 s pause ends, the rollback must
still run (the service is fixed), and the journal must say which guard aborted and why."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from chaos_helpers import ROOT, chaos

# Measures durations against ground truth: runs alone, never beside another test worker (Makefile).
pytestmark = pytest.mark.timing

METHOD_PAUSE_S = 60  # what the method would wait without the guard


class _Service(BaseHTTPRequestHandler):
    broken = False
    calls: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's names
        self._answer(503 if _Service.broken else 200)

    def do_POST(self):  # noqa: N802
        _Service.calls.append(self.path)
        _Service.broken = self.path == "/break"
        self._answer(200)

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def service():
    _Service.broken, _Service.calls = False, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _experiment(url: str) -> dict:
    return {
        "version": "1.0.0",
        "title": "the service breaks and the method would wait a minute",
        "description": "an abort guard on the service's error rate stops it early",
        "extensions": [
            {
                "name": "drill",
                "probes": [f"svc@http={url}/health"],
                "writers": [],
                "interval": 0.1,
                "stable": 0.5,
                "targets": {"rto_s": 60},
                "guards": [{"probe": "svc", "max_error_rate": 0.5, "window_s": 1, "grace_s": 1}],
            }
        ],
        "controls": [{"name": "drill-measure", "provider": {"type": "python", "module": "harness.chaos.control"}}],
        "steady-state-hypothesis": {
            "title": "up",
            "probes": [
                {
                    "type": "probe",
                    "name": "svc up",
                    "tolerance": 200,
                    "provider": {"type": "http", "url": f"{url}/health", "timeout": 2},
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "break the service",
                "provider": {"type": "http", "url": f"{url}/break", "method": "POST", "timeout": 2},
                "pauses": {"after": METHOD_PAUSE_S},
            }
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "fix the service",
                "provider": {"type": "http", "url": f"{url}/fix", "method": "POST", "timeout": 2},
            }
        ],
        "runtime": {"rollbacks": {"strategy": "always"}},
    }


def test_a_breached_guard_stops_the_method_runs_the_rollback_and_says_who_aborted(service, tmp_path: Path):
    experiment = tmp_path / "guarded.json"
    experiment.write_text(json.dumps(_experiment(service)))
    journal_path = tmp_path / "journal.json"
    t0 = time.monotonic()
    proc = chaos("run", "--journal-path", str(journal_path), str(experiment), cwd=ROOT, timeout=300)
    took = time.monotonic() - t0
    journal = json.loads(journal_path.read_text())
    drill = journal["drill_measurement"]

    assert drill["aborted"] is not None, proc.stderr[-2000:]
    assert drill["aborted"]["by"] == "guard:svc"
    assert "svc: " in drill["aborted"]["reason"] and "grace 1 s" in drill["aborted"]["reason"]
    assert took < METHOD_PAUSE_S, f"the method was not stopped: {took:.0f} s"
    assert _Service.calls == ["/break", "/fix"], "the rollback must run after an abort"
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert journal["status"] in ("interrupted", "failed") and proc.returncode != 0
    assert drill["failed_because"].startswith("aborted by guard:svc")
    assert drill["recovered"] is True and drill["rto_s"] > 1.0  # broken ≥ the 1 s grace, then fixed
