"""The plan's 4.1 backup table as the lab keeps it (scaled down: see harness/lab/backup.py), with the limits
each store is judged against. RPO and RTO come from objectives.yaml, never restated here."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from harness import objectives
from harness.lab import backup as lab_backup


@functools.cache
def _catalog() -> objectives.Catalog:
    """objectives.yaml, parsed once per process (a status reads it for every store)."""
    return objectives.load()


# A scheduled backup may run late by this much before its age is a finding (a job in flight, a slow box).
SCHEDULE_GRACE = 1.5


@dataclass(frozen=True)
class StorePolicy:
    store: str  # postgres | redis
    plan_row: str  # the plan's 4.1 row(s), verbatim
    lab_policy: str  # what the lab does instead, stated
    frequency_s: float  # scheduled backups: one per lab day
    retention: int  # backups (PostgreSQL: full sets) kept
    component: str  # objectives.yaml component
    restore_scenario: str  # the objectives.yaml scenario whose RTO a restore is judged against
    continuous: bool  # restorable to any point (WAL archive): its age is judged against the RPO

    def rpo_s(self) -> float | None:
        return _catalog().lookup(self.component).rpo.judged_s

    def rto(self) -> objectives.Objective:
        return _catalog().lookup(self.component, self.restore_scenario)

    def age_limit(self) -> tuple[float, str]:
        """(seconds, why): a continuous store's restorable point must be younger than the RPO; a snapshot
        store's newest snapshot younger than its schedule (plus grace)."""
        if self.continuous and (rpo := self.rpo_s()) is not None:
            obj = _catalog().lookup(self.component)
            return rpo, f"RPO {obj.rpo.text} ({obj.source}, {obj.component})"
        return self.frequency_s * SCHEDULE_GRACE, f"schedule: one per lab day ({self.frequency_s:.0f} s) + 50%"


POLICIES: dict[str, StorePolicy] = {
    "postgres": StorePolicy(
        store="postgres",
        plan_row="RDS PostgreSQL: Automated Snapshots, Daily, 30 days; Transaction Logs, Continuous, 7 days",
        lab_policy=(
            f"pgBackRest: full at lab start, incremental every lab day ({lab_backup.LAB_DAY_S:.0f} s), "
            f"{lab_backup.PG_RETENTION_FULL} full sets kept; WAL archive-push continuous"
        ),
        frequency_s=lab_backup.LAB_DAY_S,
        retention=lab_backup.PG_RETENTION_FULL,
        component="postgresql",
        restore_scenario="data-corruption",
        continuous=True,
    ),
    "redis": StorePolicy(
        store="redis",
        plan_row="ElastiCache: Manual Snapshots, Daily, 7 days",
        lab_policy=(
            f"RDB snapshot at lab start and every lab day ({lab_backup.LAB_DAY_S:.0f} s), "
            f"{lab_backup.REDIS_RETENTION} kept"
        ),
        frequency_s=lab_backup.LAB_DAY_S,
        retention=lab_backup.REDIS_RETENTION,
        component="redis",
        restore_scenario="region-failure",
        continuous=False,
    ),
}
