"""Backup validation (dr-plan.md §4.4): what the backups of each store are (`status`) and whether the newest
one restores into something the application can use (`verify`, the automated restore test).

    rows = status.lab_status(lab.ctx)                 # one StoreStatus per store of the plan's 4.1 table
    result = verify.verify_postgres(lab, reports="reports")   # scratch restore + checks + chained record
"""

from harness.backup.policy import POLICIES, StorePolicy
from harness.backup.status import StoreStatus, lab_rows, lab_s3_rows, lab_status
from harness.backup.verify import VerifyResult, verify_postgres, verify_redis

__all__ = [
    "POLICIES",
    "StorePolicy",
    "StoreStatus",
    "VerifyResult",
    "lab_rows",
    "lab_s3_rows",
    "lab_status",
    "verify_postgres",
    "verify_redis",
]
