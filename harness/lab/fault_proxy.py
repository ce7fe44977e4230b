"""A user-space TCP fault proxy: latency, blackhole and reset faults without tc netem.

Sits between clients and one upstream (both on 127.0.0.0/8) and forwards bytes; its mode is switched at
runtime, from this process or another one:

    pass       forward as is
    latency    delay every chunk by latency_ms (+ uniform jitter in [-jitter_ms, +jitter_ms]) in the chosen
               direction(s): "both" (default; a request/response round trip grows by 2 x latency_ms),
               "upstream" (client -> server only) or "downstream" (server -> client only). Order is kept.
    blackhole  keep accepting and holding connections, forward nothing; data in flight or queued is dropped
               (a client's connect succeeds, its reads time out). New connections reach the upstream only
               once the blackhole ends.
    reset      abort every open connection with a TCP RST, and reset new ones as soon as they are accepted.

Control channel: a Unix socket (mode 0600) at the --control path. One JSON object per line in, one per line
out: {"op": "set", "mode": "latency", "latency_ms": 200, "jitter_ms": 20, "direction": "both"} replies
{"ok": true, "state": {...}}; {"op": "get"} replies the state (mode, settings, connection and byte counters);
bad input replies {"ok": false, "error": "..."} and changes nothing. A mode change is in force when the
reply arrives.

Run it:  python -m harness.lab.fault_proxy --listen 127.0.0.1:15401 --upstream 127.100.1.2:5432 --control PATH
(prints one JSON line {"listen": ..., "upstream": ..., "control": ..., "pid": ...} once ready; SIGTERM stops it)

Python API:
    with FaultProxy("127.0.0.1:0", "127.0.0.1:5432", control_path=p) as proxy:   # start() / stop()
        proxy.set_mode("latency", latency_ms=200)
    ProxyControl(p).set(mode="blackhole"); ProxyControl(p).get()
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError

Mode = Literal["pass", "latency", "blackhole", "reset"]
Direction = Literal["both", "upstream", "downstream"]
CHUNK = 65536
QUEUE_CHUNKS = 256  # per direction: bounds memory while latency holds data back
UPSTREAM_CONNECT_TIMEOUT = 5.0
_UNIX_PATH_MAX = 107


class ProxySettings(BaseModel):
    """The proxy's mode; validated the same way for the API, the CLI and the control channel."""

    model_config = ConfigDict(extra="forbid")
    mode: Mode = "pass"
    latency_ms: float = Field(0.0, ge=0, le=600_000)
    jitter_ms: float = Field(0.0, ge=0, le=600_000)
    direction: Direction = "both"

    @model_validator(mode="after")
    def _latency_needs_a_delay(self) -> ProxySettings:
        if self.mode == "latency" and self.latency_ms == 0 and self.jitter_ms == 0:
            raise ValueError("latency mode needs latency_ms > 0 (or jitter_ms > 0)")
        return self


def _settings(**fields: Any) -> ProxySettings:
    try:
        return ProxySettings(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise HarnessError(f"fault proxy: {problems}") from None


def parse_address(text: str | tuple[str, int], what: str) -> tuple[str, int]:
    """'H:P' or (H, P) -> (H, P); only loopback hosts, so the proxy never carries traffic off the machine."""
    if isinstance(text, tuple):
        host, port = text
    else:
        host, sep, port_s = str(text).rpartition(":")
        if not sep or not port_s.isdigit():
            raise HarnessError(f"fault proxy: {what} must be HOST:PORT, got {text!r}")
        port = int(port_s)
    host = "127.0.0.1" if host == "localhost" else host
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HarnessError(f"fault proxy: {what} host must be an address in 127.0.0.0/8, got {host!r}")
    if not 0 <= int(port) <= 65535:
        raise HarnessError(f"fault proxy: {what} port must be 0..65535, got {port}")
    return host, int(port)


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with a RST (SO_LINGER 0) rather than a FIN: what a crashed peer or a firewall reject looks like."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class _Connection:
    def __init__(self, client: asyncio.StreamWriter):
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task] = []
        self.handler = asyncio.current_task()

    def reset(self) -> None:
        _reset(self.client)
        _reset(self.upstream)
        for task in self.tasks:
            task.cancel()


class ProxyServer:
    """The asyncio proxy itself. Use FaultProxy from synchronous code, or `python -m` from another process."""

    def __init__(
        self,
        listen: str | tuple[str, int],
        upstream: str | tuple[str, int],
        control_path: str | Path | None = None,
        settings: ProxySettings | None = None,
    ):
        self.listen = parse_address(listen, "listen")
        self.upstream = parse_address(upstream, "upstream")
        self.control_path = Path(control_path) if control_path else None
        if self.control_path and len(str(self.control_path.absolute())) > _UNIX_PATH_MAX:
            raise HarnessError(f"fault proxy: control socket path too long for a Unix socket: {self.control_path}")
        self.settings = settings or ProxySettings()
        self._conns: set[_Connection] = set()
        self._blackhole_epoch = 0  # data queued before a blackhole began is dropped, even if it already ended
        self._changed = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self._control: asyncio.base_events.Server | None = None
        self.stats = {"connections_total": 0, "bytes_upstream": 0, "bytes_downstream": 0, "chunks_dropped": 0}

    @property
    def address(self) -> tuple[str, int]:
        """Where the proxy listens (the real port when 0 was asked for)."""
        if self._server is None:
            return self.listen
        return self._server.sockets[0].getsockname()[:2]

    def state(self) -> dict[str, Any]:
        host, port = self.address
        return {
            **self.settings.model_dump(),
            "listen": f"{host}:{port}",
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "connections_open": len(self._conns),
            **self.stats,
            "pid": os.getpid(),
        }

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle_client, *self.listen, reuse_address=True)
        if self.control_path:
            await self._start_control()

    async def _start_control(self) -> None:
        path = self.control_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:  # refuse to steal the socket of a live proxy; remove a stale one
                _, w = await asyncio.open_unix_connection(str(path))
                w.close()
                raise HarnessError(f"fault proxy: another proxy is already controlled through {path}")
            except (ConnectionRefusedError, FileNotFoundError):
                path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)
        try:
            self._control = await asyncio.start_unix_server(self._handle_control, str(path))
        finally:
            os.umask(old_umask)

    async def stop(self) -> None:
        for server in (self._server, self._control):
            if server is not None:
                server.close()
        handlers = [conn.handler for conn in self._conns if conn.handler is not None]
        for conn in list(self._conns):
            conn.reset()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        for server in (self._server, self._control):
            if server is not None:
                await server.wait_closed()
        if self._control is not None and self.control_path:
            self.control_path.unlink(missing_ok=True)

    def apply(self, settings: ProxySettings) -> dict[str, Any]:
        """Switch mode; in force for every open connection when this returns."""
        previous = self.settings.mode
        self.settings = settings
        if settings.mode == "blackhole" and previous != "blackhole":
            self._blackhole_epoch += 1
        if settings.mode == "reset":
            for conn in list(self._conns):
                conn.reset()
        self._changed.set()
        self._changed = asyncio.Event()
        return self.state()

    # ---- data path -------------------------------------------------------------------------------------
    async def _handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        self._conns.add(conn)
        self.stats["connections_total"] += 1
        try:
            if not await self._wait_out_blackhole(conn, reader):
                return
            try:
                up_reader, conn.upstream = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream), UPSTREAM_CONNECT_TIMEOUT
                )
            except (TimeoutError, OSError):
                _reset(writer)  # upstream down: the client sees what it would see without the proxy
                return
            conn.tasks = [
                asyncio.create_task(self._pipe(reader, conn.upstream, "upstream")),
                asyncio.create_task(self._pipe(up_reader, writer, "downstream")),
            ]
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        finally:
            self._conns.discard(conn)
            for w in (writer, conn.upstream):
                if w is not None and not w.transport.is_closing():
                    w.close()

    async def _wait_out_blackhole(self, conn: _Connection, reader: asyncio.StreamReader) -> bool:
        """Hold a new connection while blackholed (discarding what the client sends). False: drop it."""
        while True:
            if self.settings.mode == "reset":
                _reset(conn.client)
                return False
            if self.settings.mode != "blackhole":
                return True
            changed = asyncio.create_task(self._changed.wait())
            read = asyncio.create_task(reader.read(CHUNK))
            done, _ = await asyncio.wait({changed, read}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if read in done:
                data = read.result()
                if not data:
                    return False  # client gave up
                self.stats["chunks_dropped"] += 1
            else:
                read.cancel()  # StreamReader keeps unread bytes, but they arrived during the blackhole
                try:
                    await read
                except asyncio.CancelledError:
                    pass

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, direction: str) -> None:
        """Read from src, hand chunks to a delivering task that applies the mode at delivery time."""
        queue: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)
        deliver = asyncio.create_task(self._deliver(queue, dst, direction))
        loop = asyncio.get_running_loop()
        last_due = 0.0
        try:
            while True:
                try:
                    data = await src.read(CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                s = self.settings
                if data and s.mode == "blackhole":
                    self.stats["chunks_dropped"] += 1
                    continue
                delay = 0.0
                if data and s.mode == "latency" and s.direction in ("both", direction):
                    delay = max(0.0, s.latency_ms + random.uniform(-s.jitter_ms, s.jitter_ms)) / 1000.0
                last_due = max(loop.time() + delay, last_due)  # jitter never reorders a byte stream
                await queue.put((last_due, self._blackhole_epoch, data))
                if not data:
                    break
            await deliver
        finally:
            deliver.cancel()

    async def _deliver(self, queue: asyncio.Queue, dst: asyncio.StreamWriter, direction: str) -> None:
        loop = asyncio.get_running_loop()
        counter = f"bytes_{direction}"
        while True:
            due, epoch, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:  # EOF from the source: pass the half-close on
                if dst.can_write_eof() and not dst.transport.is_closing():
                    try:
                        dst.write_eof()
                    except OSError:
                        pass
                return
            if self.settings.mode in ("blackhole", "reset") or epoch != self._blackhole_epoch:
                self.stats["chunks_dropped"] += 1
                continue
            try:
                dst.write(data)
                await dst.drain()
            except (ConnectionError, OSError):
                return
            self.stats[counter] += len(data)

    # ---- control channel -------------------------------------------------------------------------------
    async def _handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self._control_reply(line)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def _control_reply(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        op = request.pop("op", "get")
        if op == "get":
            return {"ok": True, "state": self.state()}
        if op != "set":
            return {"ok": False, "error": f"unknown op {op!r}; use 'set' or 'get'"}
        try:
            return {"ok": True, "state": self.apply(_settings(**request))}
        except HarnessError as exc:
            return {"ok": False, "error": str(exc)}


class FaultProxy:
    """The proxy on its own event loop in a background thread, for synchronous callers (tests, faults)."""

    def __init__(
        self,
        listen: str | tuple[str, int],
        upstream: str | tuple[str, int],
        control_path: str | Path | None = None,
        mode: Mode = "pass",
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        direction: Direction = "both",
    ):
        settings = _settings(mode=mode, latency_ms=latency_ms, jitter_ms=jitter_ms, direction=direction)
        self._server_args = (listen, upstream, control_path, settings)
        parse_address(listen, "listen"), parse_address(upstream, "upstream")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ProxyServer | None = None

    def start(self) -> FaultProxy:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._server = ProxyServer(*self._server_args)
                self._loop.run_until_complete(self._server.start())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._server.stop())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            exc = failure[0]
            raise exc if isinstance(exc, HarnessError) else HarnessError(f"fault proxy could not start: {exc}")
        return self

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise HarnessError("fault proxy is not started")
        return self._server.address

    def _call(self, fn, *args):  # run fn on the proxy's loop and wait for it
        if self._loop is None or self._server is None:
            raise HarnessError("fault proxy is not started")

        async def call():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def set_mode(
        self,
        mode: Mode,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        direction: Direction = "both",
    ) -> dict[str, Any]:
        settings = _settings(mode=mode, latency_ms=latency_ms, jitter_ms=jitter_ms, direction=direction)
        return self._call(self._server.apply, settings)

    def state(self) -> dict[str, Any]:
        return self._call(self._server.state)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProxyControl:
    """Client of a proxy's control socket, usable from any process."""

    def __init__(self, path: str | Path, timeout: float = 5.0):
        self.path = Path(path)
        self.timeout = timeout

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
        except (TimeoutError, OSError) as exc:
            raise HarnessError(f"fault proxy at {self.path} is not answering: {exc}") from None
        try:
            answer = json.loads(reply)
        except ValueError:
            raise HarnessError(f"fault proxy at {self.path} gave a malformed reply") from None
        if not answer.get("ok"):
            raise HarnessError(answer.get("error", "fault proxy refused the request"))
        return answer["state"]

    def set(
        self,
        mode: Mode,
        latency_ms: float | None = None,
        jitter_ms: float | None = None,
        direction: Direction | None = None,
    ) -> dict[str, Any]:
        """Switch the proxy's mode; returns its state once the mode is in force."""
        request = {"op": "set", "mode": mode, "latency_ms": latency_ms, "jitter_ms": jitter_ms, "direction": direction}
        return self._request({k: v for k, v in request.items() if v is not None})

    def get(self) -> dict[str, Any]:
        return self._request({"op": "get"})


# ---- python -m harness.lab.fault_proxy ---------------------------------------------------------------------
async def _serve(args: argparse.Namespace) -> None:
    settings = _settings(mode=args.mode, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, direction=args.direction)
    server = ProxyServer(args.listen, args.upstream, args.control, settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host, port = server.address
    print(
        json.dumps(
            {"listen": f"{host}:{port}", "upstream": args.upstream, "control": str(args.control), "pid": os.getpid()}
        ),
        flush=True,
    )
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.lab.fault_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept clients on (127.0.0.0/8; port 0 = any)")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to (127.0.0.0/8)")
    parser.add_argument("--control", required=True, type=Path, help="path of the Unix control socket")
    parser.add_argument("--mode", default="pass", choices=["pass", "latency", "blackhole", "reset"])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--direction", default="both", choices=["both", "upstream", "downstream"])
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: fault proxy could not listen on {args.listen}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
