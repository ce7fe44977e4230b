"""s3-version-restore and s3-cross-region-restore (plan 4.3.4): restore a harness-owned S3 object.

They run only on an AWS target, as the target file's activities (harness.chaos.aws:s3_version_restore and
s3_cross_region_restore over harness/faults/aws_s3.py: each step timed, the object RPO reported). They are
declared here so the drill catalog knows them; the lab has no S3 endpoint yet, so their one step refuses
before doing anything.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.recovery.procedure import Context, Procedure, Step


def _refuse_on_the_lab(name: str):
    def refuse(ctx: Context) -> str:
        raise HarnessError(
            f"{name} restores an S3 object of a versioned bucket: run it on an AWS target "
            f"(targets/aws-staging.example.yaml, procedure {name}); the lab has no S3 endpoint yet; nothing was done"
        )

    return refuse


S3_VERSION_RESTORE = Procedure(
    "s3-version-restore",
    "4.3.4",
    "restore an S3 object: copy its last good version over as the newest",
    steps=(Step("restore the last good version (AWS targets only)", _refuse_on_the_lab("s3-version-restore")),),
)
S3_CROSS_REGION_RESTORE = Procedure(
    "s3-cross-region-restore",
    "4.3.4, 3.3",
    "restore an S3 object by copying it back from the DR bucket",
    steps=(Step("copy back from the DR bucket (AWS targets only)", _refuse_on_the_lab("s3-cross-region-restore")),),
)
