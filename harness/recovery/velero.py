"""velero-restore (plan 4.3.3): restore Kubernetes namespaces from a Velero backup.

It runs only on a Kubernetes target, as the target file's activity (harness.chaos.k8s:chaos_velero_restore over
harness/faults/k8s_velero.py: a velero.io/v1 Restore with the plan's options, waited for and timed). It is
declared here so the drill catalog knows the procedure; on the lab, which has no Kubernetes, its one step
refuses before doing anything.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.recovery.procedure import Context, Procedure, Step


def refuse_on_the_lab(ctx: Context) -> str:
    raise HarnessError(
        "velero-restore restores Kubernetes namespaces from a Velero backup: run it on a Kubernetes target "
        "(targets/k8s-staging.example.yaml, procedure velero-restore); the lab has no Kubernetes; nothing was done"
    )


VELERO_RESTORE = Procedure(
    "velero-restore",
    "4.3.3",
    "restore Kubernetes namespaces from a Velero backup",
    steps=(Step("restore from the Velero backup (Kubernetes targets only)", refuse_on_the_lab),),
)
