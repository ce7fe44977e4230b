"""A client-side deadline that returns on time even when the library being cut off does not.

`asyncio.wait_for` waits for the cancelled call to finish unwinding. psycopg, for one, answers a
cancellation by sending the server a cancel request and waiting for it (up to ~10 s): against a frozen
server that would stall a 50 ms probe for seconds. Here the caller gets its TimeoutError at the deadline
and the abandoned call unwinds in the background; `drain_stragglers` collects them at shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

_stragglers: set[asyncio.Task] = set()


def _forget(task: asyncio.Task) -> None:
    _stragglers.discard(task)
    if not task.cancelled():
        task.exception()  # retrieve it so asyncio does not log "exception was never retrieved"


async def within(awaitable: Awaitable[T], timeout: float) -> T:
    """Await `awaitable` for at most `timeout` seconds; raise TimeoutError at the deadline."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:  # our caller is being stopped: take the call down with it
        task.cancel()
        _stragglers.add(task)
        task.add_done_callback(_forget)
        raise
    if task in done:
        return task.result()
    task.cancel()
    _stragglers.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError(f"no answer within {timeout * 1000:.0f} ms")


async def drain_stragglers(timeout: float = 2.0) -> None:
    """Give abandoned calls a moment to unwind (closing their sockets) before the loop stops."""
    pending = [t for t in _stragglers if not t.done() and t.get_loop() is asyncio.get_running_loop()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
