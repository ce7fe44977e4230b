"""The lab's S3 pieces that need no lab: the replicator's lag (a pure schedule on a given clock) and the
lifecycle rule parsing `drill backup status` judges the 90 days with."""

from __future__ import annotations

from harness.backup.status import lifecycle_days
from harness.lab import s3 as lab_s3
from harness.lab.s3_replicator import ReplicaSchedule


def test_a_version_is_due_exactly_lag_seconds_after_it_was_first_seen_and_copied_once():
    schedule = ReplicaSchedule(lag_s=5.0)
    schedule.observe(["v1"], now=100.0)
    schedule.observe(["v1", "v2"], now=102.0)  # v1 seen again: its first sighting counts
    assert schedule.due(104.99) == []
    assert schedule.due(105.0) == ["v1"]
    assert schedule.due(107.0) == ["v1", "v2"]  # oldest first: the DR bucket's newest is the newest copied
    assert schedule.copied("v1", now=105.25) == 5.25
    schedule.observe(["v1", "v2"], now=108.0)
    assert schedule.due(108.0) == ["v2"]  # v1 is done: never copied twice


def test_a_restarted_replicator_skips_what_the_dr_bucket_already_holds():
    schedule = ReplicaSchedule(lag_s=5.0, done={"v1"})
    schedule.observe(["v1", "v2"], now=0.0)
    assert schedule.due(10.0) == ["v2"]


def test_the_lab_lag_outlasts_a_drills_healthy_baseline():
    """A fault right after a write must still find the DR bucket one version behind (the 2 s baseline)."""
    from harness.drills.scenario import DEFAULT_BASELINE_S

    assert lab_s3.REPLICATION_LAG_S > DEFAULT_BASELINE_S + 1.0


def test_lifecycle_days_is_the_shortest_enabled_expiry():
    rules = [
        {"ID": "a", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 90}},
        {"ID": "b", "Status": "Disabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "c", "Status": "Enabled", "Expiration": {"Days": 365}},
    ]
    assert lifecycle_days(rules) == 90
    assert lifecycle_days(rules[1:2]) is None  # a disabled rule expires nothing
    assert lifecycle_days([{"ID": "t", "Status": "Enabled", "Transitions": [{"Days": 30}]}]) is None
    assert lifecycle_days([]) is None
