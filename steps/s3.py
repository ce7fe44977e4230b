"""S3 object phrases (dr-plan.md §4.3.4; docs/aws-region.md#s3-objects): the harness's own drill object on the
lab's S3 endpoint (harness/lab/s3.py), and the object RPO the restore measured. Faults and restores use the
common phrases (`the fault "object-delete" is injected with key=...`, `the recovery procedure ... runs`)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from harness.drills.checks import RPO_BREACHED
from harness.drills.scenario import Checked
from harness.errors import HarnessError
from harness.faults import aws_s3

REPLICA_WAIT_S = 30.0


def _setup(drill) -> aws_s3.S3Setup:
    lab = getattr(drill.target, "lab", None)
    if lab is None:
        raise HarnessError(
            f"target {drill.target.name!r}: the drill-object phrases need the local lab's S3 endpoint; on AWS the "
            "target file's s3_prepare_objects activity writes the object (docs/aws-region.md#s3-objects)"
        )
    return aws_s3.lab_setup(lab)


@given(parsers.parse('the drill object "{key}" is written to S3'))
def drill_object_written(drill, key: str):
    aws_s3.write_objects(_setup(drill), key, 1)


@given(parsers.parse('the drill object "{key}" is written to S3 in {versions:d} versions'))
def drill_object_written_versions(drill, key: str, versions: int):
    aws_s3.write_objects(_setup(drill), key, versions)


@given(parsers.parse('the DR bucket holds a replica of the drill object "{key}"'))
def dr_bucket_holds_replica(drill, key: str):
    waited = aws_s3.wait_replicated(_setup(drill), key, timeout=REPLICA_WAIT_S)
    drill.judged(Checked("s3_replica_s", REPLICA_WAIT_S, waited, True, "the DR bucket's copy of the current version"))


def _object_rpo(drill) -> float:
    for report in reversed(drill.procedures):
        if "object_rpo_s" in report.facts:
            rpo = report.facts["object_rpo_s"]
            if rpo is None:
                raise HarnessError(f"{report.procedure} found no version lost to measure an object RPO from")
            return float(rpo)
    raise HarnessError(
        "no object RPO to judge: run an S3 restore first ('the recovery procedure \"s3-version-restore\" runs')"
    )


def _judge_object_rpo(drill, seconds: float | None) -> Checked:
    if seconds is None:
        target, source = drill.rpo_target()
        if target is None:
            raise HarnessError("cannot judge the object RPO: no objective with a numeric RPO; say 'within N seconds'")
    else:
        target, source = seconds, "inline"
    measured = _object_rpo(drill)
    ok = measured <= target
    check = drill.judged(Checked("object_rpo", target, measured, ok, source, None if ok else RPO_BREACHED))
    if not ok:
        raise AssertionError(
            f"RPO breached: object RPO {measured:g} s (newest version lost minus the version restored, S3's "
            f"one-second LastModified) > target {target:g} s ({source}); margin {target - measured:+g} s"
        )
    return check


@then("the object's data loss is within the plan's RPO")
def object_rpo_within_plan(drill):
    _judge_object_rpo(drill, None)


@then(parsers.parse("the object's data loss is within {seconds:g} seconds"))
def object_rpo_within(drill, seconds: float):
    _judge_object_rpo(drill, seconds)
