"""s3-version-restore and s3-cross-region-restore (plan 4.3.4): restore a harness-owned S3 object.

On the lab they run against the lab's own S3 endpoint (harness/lab/s3.py: moto's server mode, a versioned
primary bucket and its DR bucket filled by the lab's replicator); on an AWS target they are the target file's
activities (harness.chaos.aws:s3_version_restore / s3_cross_region_restore). Both run the same logic,
harness/faults/aws_s3.py, each of its steps timed. The object RPO the restore measured is kept in the report's
facts (`object_rpo_s`): what `Then the object's data loss is within ...` judges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.faults import aws_s3
from harness.recovery.procedure import Context, Procedure, Step

PARAMS = {
    "key": f"the object under the drill prefix (default: the latest object fault's, else {aws_s3.DEFAULT_KEY})",
    "old_key": "learned from the scenario's latest fault (its detail's key)",
}


def _restore(run: Callable[[aws_s3.S3Setup, str], dict[str, Any]]) -> Callable[[Context], str]:
    def step(ctx: Context) -> str:
        if ctx.lab is None or not hasattr(ctx.lab, "ctx"):
            raise HarnessError(
                "this procedure needs the running lab (or an AWS target file's activity); nothing was done"
            )
        key = ctx.param("key") or ctx.param("old_key") or aws_s3.DEFAULT_KEY
        out = run(aws_s3.lab_setup(ctx.lab), key)
        ctx.facts["restore"] = out
        ctx.facts["object_rpo_s"] = out["rpo_s"]
        steps = "; ".join(f"{s['step']} {s['seconds']:.3f} s" for s in out["steps"])
        rpo = "-" if out["rpo_s"] is None else f"{out['rpo_s']:g} s"
        return f"s3://{out['bucket']}/{out['key']} restored from {out.get('restored_from')}; object RPO {rpo} ({steps})"

    return step


S3_VERSION_RESTORE = Procedure(
    "s3-version-restore",
    "4.3.4",
    "restore an S3 object: copy its last good version over as the newest",
    steps=(
        Step("restore the last good version (list versions, copy over, verify)", _restore(aws_s3.version_restore_on)),
    ),
    params=PARAMS,
)
S3_CROSS_REGION_RESTORE = Procedure(
    "s3-cross-region-restore",
    "4.3.4, 3.3",
    "restore an S3 object by copying it back from the DR bucket",
    steps=(
        Step(
            "copy back the DR bucket's newest good copy (read it, write it back, verify)",
            _restore(aws_s3.cross_region_restore_on),
        ),
    ),
    params=PARAMS,
)
