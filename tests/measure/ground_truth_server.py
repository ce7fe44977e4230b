"""A controllable HTTP server that goes down for exactly D seconds: the ground truth for RTO accuracy.

Run as a process:  python ground_truth_server.py   -> prints "HTTP_PORT CONTROL_PORT" and serves.
Control port, one line per command:
    down MODE SECONDS   MODE = refuse (listener closed: connection refused) | 503 (answers 503) |
                        hang (accepts, never answers) | slow:L (answers 200 ok exactly L seconds after each
                        request: slow, not down); SECONDS may be "inf". Replies "ok T_DOWN T_UP".
    up                  back up now
    log                 JSON list of [mode, monotonic time] transitions
Times are time.monotonic(), which is system-wide on Linux, so tests can compare them with their own.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


class GroundTruth:
    def __init__(self) -> None:
        self.mode = "up"
        self.port = 0
        self.http = None
        self.log: list[tuple[str, float]] = []
        self._up_timer = None

    async def serve_http(self, port: int = 0) -> None:
        self.http = await asyncio.start_server(self.handle, "127.0.0.1", port, reuse_address=True, backlog=256)
        self.port = self.http.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "hang":
                await reader.read()  # hold the connection until the client gives up
                return
            if self.mode.startswith("slow:"):
                await asyncio.sleep(float(self.mode.partition(":")[2]))
            if self.mode == "503":
                body, status = b"down", "503 Service Unavailable"
            else:
                body, status = b"ok", "200 OK"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def set_mode(self, mode: str) -> float:
        if mode == "refuse" and self.http is not None:
            self.http.close()  # stop listening now; new connections are refused by the kernel
            self.http = None
        elif mode != "refuse" and self.http is None:
            await self.serve_http(self.port)
        self.mode = mode
        t = time.monotonic()
        self.log.append((mode, t))
        return t

    async def down(self, mode: str, seconds: float) -> tuple[float, float]:
        if self._up_timer is not None:
            self._up_timer.cancel()
        t_down = await self.set_mode(mode)
        t_up = float("inf")
        if seconds != float("inf"):
            t_up = t_down + seconds

            async def come_back() -> None:
                await asyncio.sleep(max(0.0, t_up - time.monotonic()))
                await self.set_mode("up")

            self._up_timer = asyncio.create_task(come_back())
        return t_down, t_up

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            words = (await reader.readline()).decode().split()
            if words[:1] == ["down"]:
                t_down, t_up = await self.down(words[1], float(words[2]))
                writer.write(f"ok {t_down} {t_up}\n".encode())
            elif words[:1] == ["up"]:
                if self._up_timer is not None:
                    self._up_timer.cancel()
                writer.write(f"ok {await self.set_mode('up')}\n".encode())
            elif words[:1] == ["log"]:
                writer.write((json.dumps(self.log) + "\n").encode())
            else:
                writer.write(b"error unknown command\n")
            await writer.drain()
        finally:
            writer.close()


async def main() -> None:
    gt = GroundTruth()
    await gt.serve_http()
    ctl = await asyncio.start_server(gt.control, "127.0.0.1", 0)
    print(gt.port, ctl.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
