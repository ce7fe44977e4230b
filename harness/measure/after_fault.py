"""Words for the lost writes that the RPO does not count: acknowledged at or after the fault.

RPO = t_fault − t_last_durable measures the data lost from *before* the fault. A point-in-time restore goes
back to a recovery point just before the bad change and so gives up every write acknowledged after it: those
are lost too, but they are the price of the restore, not a breach of the RPO. Shown beside "RPO 0.00 s |
lost 31 / 115" they keep the line from reading as a contradiction."""

from __future__ import annotations

from typing import Any

# Recovery procedures that restore the data to a recovery point (writes after it are given up).
RESTORE_PROCEDURES = ("pitr",)


def text(count: int | None, window: Any, restored: bool) -> str | None:
    """ "31 writes after the recovery point given up, 1.6 s" (restored), or for any other recovery "31 writes
    acknowledged after the fault lost, 1.6 s (not in the RPO)"; None when there are none. `window` is the
    LostWindow (or its JSON form) of those writes, seconds after the fault; the span shown is to the last."""
    if not count:
        return None
    last = window.get("last_s") if isinstance(window, dict) else getattr(window, "last_s", None)
    span = f", {last:.1f} s" if last is not None else ""
    writes = f"{count} write{'s' if count != 1 else ''}"
    if restored:
        return f"{writes} after the recovery point given up{span}"
    return f"{writes} acknowledged after the fault lost{span} (not in the RPO)"
