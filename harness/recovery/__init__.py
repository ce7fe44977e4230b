"""Recovery procedures (the plan's runbooks) as named, timed, logged steps. See harness/recovery/procedure.py.

from harness.recovery import get, PROCEDURES
report = get("auto-failover").run(lab, {"old_leader": "pg-a"})
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.faults.registry import unknown as _unknown
from harness.recovery.app import APP_ROLLBACK
from harness.recovery.cache import CACHE_REBUILD
from harness.recovery.failover import AUTO_FAILOVER
from harness.recovery.pitr import PITR
from harness.recovery.procedure import Confirmer, Procedure, RunReport, Step, StepResult
from harness.recovery.region import REGION_FAILBACK, REGION_FAILOVER
from harness.recovery.s3 import S3_CROSS_REGION_RESTORE, S3_VERSION_RESTORE
from harness.recovery.velero import VELERO_RESTORE

PROCEDURES: dict[str, Procedure] = {
    p.name: p
    for p in (
        AUTO_FAILOVER,
        PITR,
        REGION_FAILOVER,
        REGION_FAILBACK,
        APP_ROLLBACK,
        CACHE_REBUILD,
        VELERO_RESTORE,
        S3_VERSION_RESTORE,
        S3_CROSS_REGION_RESTORE,
    )
}


def get(name: str) -> Procedure:
    """A runnable procedure; HarnessError for an unknown one, or one the plan names but is not built yet."""
    if name in PROCEDURES:
        return PROCEDURES[name]
    from harness.faults.registry import PROCEDURES as PLANNED

    if name in PLANNED:
        raise HarnessError(f"procedure '{name}' is planned ({PLANNED[name].plan_section}) but not implemented yet")
    raise HarnessError(_unknown("procedure", name, sorted({*PROCEDURES, *PLANNED})))


__all__ = ["PROCEDURES", "get", "Procedure", "Step", "StepResult", "RunReport", "Confirmer"]
