"""Backup validation phrases (dr-plan.md §4.4; docs/backup.md). Each calls harness.backup; the Gherkin run's
own record holds the restore test's checks (the test writes no second record here)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from harness.backup import lab_status, verify_postgres, verify_redis
from harness.drills.scenario import Checked
from harness.errors import HarnessError

_STORES = ("postgres", "redis")
_VERIFY = {"postgres": verify_postgres, "redis": verify_redis}


def _store(store: str) -> str:
    if store not in _STORES:
        raise HarnessError(f"backup store {store!r} is not one of {', '.join(_STORES)}")
    return store


def _lab(drill):
    lab = getattr(drill.target, "lab", None)
    if lab is None:
        raise HarnessError(f"target {drill.target.name!r}: backup phrases need the local lab (docs/backup.md)")
    return lab


@given(parsers.parse("the newest backup of {store} is younger than the plan's RPO"))
def newest_backup_younger_than_rpo(drill, store: str):
    st = lab_status(_lab(drill).ctx, stores=[_store(store)])[0]
    ok = st.age_s is not None and st.age_s <= st.age_limit_s
    drill.judged(Checked("backup_age", st.age_limit_s, st.age_s, ok, st.age_limit_source, None if ok else "too old"))
    if not ok:
        raise AssertionError(f"{store}: " + "; ".join(st.findings or ["no backup"]))


@when(parsers.parse("the newest backup of {store} is restored into a scratch instance"), target_fixture="restore_test")
def restore_newest_backup(drill, store: str):
    result = _VERIFY[_store(store)](_lab(drill), out_dir=drill.out_dir / f"backup-verify-{store}", record=False)
    if result.restore_s is None:
        raise AssertionError(f"{store}: the restore test did not get a usable instance: {result.failure}")
    return result


@then("the restore is complete within the plan's RTO")
def restore_within_rto(drill, restore_test):
    ok = restore_test.restore_s is not None and restore_test.restore_s <= restore_test.rto_s
    drill.judged(Checked("restore_s", restore_test.rto_s, restore_test.restore_s, ok, restore_test.rto_source))
    if not ok:
        raise AssertionError(f"restore took {restore_test.restore_s} s, RTO {restore_test.rto_s} s")


@then("the restored data holds every write acknowledged before the backup")
def restored_holds_every_write(drill, restore_test):
    drill.judged(Checked("restore_validated", None, None, restore_test.ok, "harness.backup.verify"))
    if not restore_test.ok:
        raise AssertionError(f"the restore test failed: {restore_test.failure}")
    if not restore_test.scratch_removed:
        raise AssertionError("the scratch instance was not removed")
