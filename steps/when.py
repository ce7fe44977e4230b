"""When: a fault of the vocabulary (harness/faults), a recovery procedure (harness/recovery), or time passing.

Every step that injects a fault or runs a procedure declares it with `@needs` (kind, name, parameters): the
preflight skips what a target cannot run, and `drill plan` shows what the step would do, from that alone.

The friendly phrases are fixed names for the commonest faults; every fault is reachable through
`the fault "NAME" is injected [with key=value ...]`.
"""

from __future__ import annotations

from pytest_bdd import parsers, when

from harness.drills import phrases
from harness.drills.phrases import checked_by, needs


@when(parsers.parse('the fault "{fault}" is injected'))
@checked_by(phrases.validate_fault)
@needs(lambda fault: [("fault", fault)])
def inject(drill, fault: str):
    drill.inject(fault)


@when(parsers.parse('the fault "{fault}" is injected with {params}'))
@checked_by(phrases.validate_fault)
@needs(lambda fault, params: [("fault", fault, phrases.params(params))])
def inject_with(drill, fault: str, params: str):
    drill.inject(fault, phrases.params(params))


@when("the database primary crashes")
@needs(lambda: [("fault", "db-primary-crash")])
def db_primary_crashes(drill):
    drill.inject("db-primary-crash")


@when(parsers.parse("the database primary freezes for {seconds:g} seconds"))
@checked_by(lambda seconds: phrases.validate_fault("db-primary-freeze", f"seconds={seconds:g}"))
@needs(lambda seconds: [("fault", "db-primary-freeze", {"seconds": f"{seconds:g}"})])
def db_primary_freezes(drill, seconds: float):
    drill.inject("db-primary-freeze", {"seconds": f"{seconds:g}"})


@when(parsers.parse("replication is held back for {seconds:g} seconds"))
@checked_by(lambda seconds: phrases.validate_fault("db-replication-lag", f"seconds={seconds:g}"))
@needs(lambda seconds: [("fault", "db-replication-lag", {"seconds": f"{seconds:g}"})])
def replication_held_back(drill, seconds: float):
    drill.inject("db-replication-lag", {"seconds": f"{seconds:g}"})


@when("the availability zone of the database primary fails")
@needs(lambda: [("fault", "az-outage", {"zone": "@primary-zone"})])
def primary_zone_fails(drill):
    drill.inject("az-outage", {"zone": "@primary-zone"})


@when("the cache primary crashes")
@needs(lambda: [("fault", "cache-primary-crash")])
def cache_primary_crashes(drill):
    drill.inject("cache-primary-crash")


@when(parsers.parse('the recovery procedure "{procedure}" runs'))
@checked_by(phrases.validate_procedure)
@needs(lambda procedure: [("procedure", procedure)])
def procedure(drill, procedure: str):
    drill.run_procedure(procedure)


@when(parsers.parse('the recovery procedure "{procedure}" runs with {params}'))
@checked_by(phrases.validate_procedure)
@needs(lambda procedure, params: [("procedure", procedure, phrases.params(params))])
def procedure_with(drill, procedure: str, params: str):
    drill.run_procedure(procedure, phrases.params(params))


@when("the faults are undone")
def undo(drill):
    drill.undo_faults()


@when(parsers.parse("{seconds:g} seconds pass"))
@checked_by(lambda seconds: phrases.validate_positive(seconds=seconds))
def seconds_pass(drill, seconds: float):
    drill.wait(seconds)


@when("the availability zone of the database primary is cut off from the other zones")
@needs(lambda: [("fault", "network-partition", {"a": "@primary-zone"})])  # b: each other zone in turn
def primary_zone_cut_off(drill):
    drill.cut_off_zone("@primary-zone")
