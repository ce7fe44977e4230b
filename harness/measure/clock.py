"""One clock for a measurement: monotonic for every interval, anchored once to wall time for reports."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """`now()` is time.monotonic(); `wall(t)` maps a monotonic reading to epoch seconds.

    Anchoring once (instead of reading time.time() per sample) keeps intervals immune to NTP steps while
    still letting a report say when, in calendar time, each sample was taken.
    """

    def __init__(self) -> None:
        self.mono0 = time.monotonic()
        self.wall0 = time.time()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def wall(self, t: float) -> float:
        return self.wall0 + (t - self.mono0)

    def iso(self, t: float) -> str:
        return datetime.fromtimestamp(self.wall(t), tz=UTC).isoformat(timespec="milliseconds")
