"""Then: the verdicts. Each is one call into harness/drills/checks.py."""

from __future__ import annotations

from pytest_bdd import parsers, then

from harness.drills import checks, phrases
from harness.drills.phrases import checked_by


@then("the service recovers within the plan's RTO")
def recovers_within_plan(drill):
    checks.recovered_within(drill)


@then(parsers.parse("the service recovers within {seconds:g} seconds"))
@checked_by(lambda seconds: phrases.validate_positive(seconds=seconds))
def recovers_within(drill, seconds: float):
    checks.recovered_within(drill, seconds)


@then(parsers.parse("the outage lasts at least {seconds:g} seconds"))
@checked_by(lambda seconds: phrases.validate_positive(seconds=seconds))
def outage_at_least(drill, seconds: float):
    checks.outage_at_least(drill, seconds)


@then(parsers.parse("the service stays up, degraded at most {seconds:g} seconds"))
@checked_by(lambda seconds: phrases.validate_positive(seconds=seconds))
def stays_up_degraded_at_most(drill, seconds: float):
    checks.stays_up(drill, seconds)


@then(parsers.parse("the service is degraded for at least {seconds:g} seconds"))
@checked_by(lambda seconds: phrases.validate_positive(seconds=seconds))
def degraded_at_least(drill, seconds: float):
    checks.degraded_at_least(drill, seconds)


@then(parsers.parse("the p99 latency during the fault is below {ms:g} ms"))
@checked_by(lambda ms: phrases.validate_positive(ms=ms))
def p99_during_below(drill, ms: float):
    checks.p99_during_below(drill, ms)


@then("no acknowledged writes are lost")
def no_writes_lost(drill):
    checks.no_acknowledged_writes_lost(drill)


@then("the data loss is within the plan's RPO")
def rpo_within_plan(drill):
    checks.rpo_within(drill)


@then(parsers.parse("the data loss is within {seconds:g} seconds"))
def rpo_within(drill, seconds: float):
    checks.rpo_within(drill, seconds)


@then(parsers.parse("the error rate during the fault is below {percent:g} %"))
@checked_by(lambda percent: phrases.validate_positive(percent=percent))
def error_rate_below(drill, percent: float):
    checks.error_rate_below(drill, percent)


@then(parsers.parse("the {service} cluster has a primary again"))
@checked_by(lambda service: phrases.validate_service(service))
def has_primary(drill, service: str):
    checks.has_primary(drill, service)


@then(parsers.parse('the component "{component}" is healthy again'))
def component_healthy(drill, component: str):
    checks.component_healthy(drill, component)


@then("the target is healthy again")
def target_healthy_again(drill):
    checks.target_healthy(drill)
