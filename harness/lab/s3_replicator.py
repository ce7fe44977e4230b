"""The lab's stand-in for S3 cross-region replication, one process per lab (`python -m harness.lab.s3_replicator
ROOT ENDPOINT LAG_S POLL_S`, started by `drill lab up` as the component `s3-replicator`, stopped with the lab).
It first creates the lab's two buckets (harness/lab/s3.py create_buckets), then replicates.

moto stores the primary bucket's replication configuration but never replicates, so this does what that rule
says, with a known lag: every POLL_S it lists the versions under the drill prefix of the primary bucket; a
version it has seen for LAG_S is copied (bytes and metadata) as the newest version of the same key in the DR
bucket, oldest first, with the metadata `drill-source-version` naming the version it copies. A replica thus
lands LAG_S to LAG_S + POLL_S (+ one copy) after the write. Delete markers are not replicated (S3 CRR's
default: DeleteMarkerReplication Disabled), so a delete on the primary leaves the DR copy in place.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from harness.lab import s3 as lab_s3

SOURCE_META = lab_s3.SOURCE_META


class ReplicaSchedule:
    """Which source versions are due: first seen at `now`, due LAG_S later, each once. Pure (a clock passed in)."""

    def __init__(self, lag_s: float, done: set[str] | None = None):
        self.lag_s = lag_s
        self.first_seen: dict[str, float] = {}
        self.done: set[str] = set(done or ())

    def observe(self, version_ids: list[str], now: float) -> None:
        for vid in version_ids:
            if vid not in self.done:
                self.first_seen.setdefault(vid, now)

    def due(self, now: float) -> list[str]:
        """Due version ids, in the order they were first seen (oldest first)."""
        ready = [v for v, seen in self.first_seen.items() if now - seen >= self.lag_s]
        return sorted(ready, key=lambda v: self.first_seen[v])

    def copied(self, vid: str, now: float) -> float:
        """Mark a version replicated; returns how long after it was first seen."""
        self.done.add(vid)
        return now - self.first_seen.pop(vid, now)


def _replicated_sources(dr: Any) -> set[str]:
    """Source versions the DR bucket already holds (a restarted replicator does not copy them twice)."""
    listing = dr.list_object_versions(Bucket=lab_s3.DR_BUCKET, Prefix=lab_s3.DRILL_PREFIX)
    out = set()
    for v in listing.get("Versions", []):
        meta = dr.head_object(Bucket=lab_s3.DR_BUCKET, Key=v["Key"], VersionId=v["VersionId"]).get("Metadata", {})
        if meta.get(SOURCE_META):
            out.add(meta[SOURCE_META])
    return out


def replicate_once(
    src: Any, dr: Any, schedule: ReplicaSchedule, clock: Callable[[], float], say: Callable[[str], None]
) -> int:
    """One round: observe the primary's versions, copy the due ones. Returns how many were copied."""
    listing = src.list_object_versions(Bucket=lab_s3.BUCKET, Prefix=lab_s3.DRILL_PREFIX)
    # The clock is read once the listing is in: a version written while it was under way is never "seen" before
    # its write, so no replica lands earlier than LAG_S after its write.
    now = clock()
    versions = {v["VersionId"]: v for v in listing.get("Versions", [])}
    # The listing is newest first and LastModified has one-second resolution: reversed, then a stable sort keeps
    # versions written within the same second in their write order.
    ordered = sorted(reversed(listing.get("Versions", [])), key=lambda v: v["LastModified"])
    schedule.observe([v["VersionId"] for v in ordered], now)
    copied = 0
    for vid in schedule.due(now):
        v = versions.get(vid)
        if v is None:  # gone from the primary before it was due (a version deleted): nothing to copy
            schedule.copied(vid, now)
            continue
        got = src.get_object(Bucket=lab_s3.BUCKET, Key=v["Key"], VersionId=vid)
        meta = {**got.get("Metadata", {}), SOURCE_META: vid}
        dr.put_object(Bucket=lab_s3.DR_BUCKET, Key=v["Key"], Body=got["Body"].read(), Metadata=meta)
        after = schedule.copied(vid, time.monotonic())
        say(f"replicated {v['Key']} version {vid} to {lab_s3.DR_BUCKET} {after:.2f} s after it was first seen")
        copied += 1
    return copied


def run(endpoint: str, lag_s: float, poll_s: float) -> None:
    src = lab_s3.client(endpoint, lab_s3.PRIMARY_REGION)
    dr = lab_s3.client(endpoint, lab_s3.DR_REGION)
    schedule: ReplicaSchedule | None = None

    def say(line: str) -> None:
        print(line, flush=True)

    while True:
        try:
            if schedule is None:  # first: the lab's buckets (the server may still be starting)
                lab_s3.create_buckets(endpoint, timeout=60.0)
                say(
                    f"buckets {lab_s3.BUCKET} ({lab_s3.PRIMARY_REGION}) and {lab_s3.DR_BUCKET} ({lab_s3.DR_REGION}) ready"
                )
                schedule = ReplicaSchedule(lag_s, _replicated_sources(dr))
                say(f"replicating {lab_s3.BUCKET}/{lab_s3.DRILL_PREFIX} -> {lab_s3.DR_BUCKET}, lag {lag_s:g} s")
            replicate_once(src, dr, schedule, time.monotonic, say)
        except Exception as err:  # noqa: BLE001 - the endpoint restarting or not up yet: try again next round
            code = getattr(err, "response", {}).get("Error", {}).get("Code")
            if code == "NoSuchBucket":  # moto restarted (it keeps nothing): make the buckets again, start over
                schedule = None
            say(f"round skipped: {type(err).__name__}: {str(err)[:200]}")
            time.sleep(1.0)
        time.sleep(poll_s)


if __name__ == "__main__":
    # argv: ROOT (the lab's state folder, so the lab's teardown sweep finds this process), ENDPOINT, LAG_S, POLL_S
    run(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
