"""Given: the target, the objective, what to observe, and the set-up the scenario needs."""

from __future__ import annotations

from pytest_bdd import given, parsers

from harness.drills import phrases
from harness.drills.phrases import checked_by


@given("the target is healthy")
def target_is_healthy(drill):
    drill.target.wait_healthy(120)


@given(parsers.parse('the objective for component "{component}" and scenario "{scenario}"'))
@checked_by(phrases.validate_objective)
def objective_for(drill, component: str, scenario: str):
    drill.use_objective(component, scenario)


@given(parsers.parse('the objective for component "{component}"'))
@checked_by(phrases.validate_objective)
def objective_for_class(drill, component: str):
    drill.use_objective(component, None)


def _inline(rto: float, rpo: float) -> None:
    phrases.validate_positive(rto=rto)


@given(parsers.parse("the objective is an RTO of {rto:g} seconds and an RPO of {rpo:g} seconds"))
@checked_by(_inline)
def inline_objective(drill, rto: float, rpo: float):
    drill.set_inline(rto_s=rto, rpo_s=rpo)


def _endpoints(text: str) -> str:
    return text


# "probes on X" must not swallow the longer phrases below: a list of endpoints stops before "answering".
_endpoints.pattern = r"(?:(?!\s+answering within\s).)+"
_TYPES = {"Endpoints": _endpoints}


@given(parsers.parse("probes on {endpoints:Endpoints}", extra_types=_TYPES))
@checked_by(lambda endpoints: phrases.names(endpoints) and None)
def probes_on(drill, endpoints: str):
    drill.add_probes(phrases.names(endpoints))


@given(parsers.parse("probes on {endpoints:Endpoints} answering within {budget:g} second", extra_types=_TYPES))
@given(parsers.parse("probes on {endpoints:Endpoints} answering within {budget:g} seconds", extra_types=_TYPES))
@checked_by(lambda endpoints, budget: phrases.validate_timing(endpoints, budget))
def probes_on_within(drill, endpoints: str, budget: float):
    drill.add_probes(phrases.names(endpoints), budget=budget)


@given(
    parsers.parse(
        "probes on {endpoints:Endpoints} answering within {budget:g} seconds, degraded above {ms:g} ms",
        extra_types=_TYPES,
    )
)
@checked_by(lambda endpoints, budget, ms: phrases.validate_timing(endpoints, budget, ms))
def probes_on_within_degraded(drill, endpoints: str, budget: float, ms: float):
    drill.add_probes(phrases.names(endpoints), budget=budget, degraded=ms / 1000)


@given(parsers.parse("{count:d} loads are booked through the app"))
@checked_by(lambda count: phrases.validate_positive(count=count))
def loads_booked(drill, count: int):
    drill.target.book_loads(count)


@given(parsers.parse("a writer at {rate:g} writes/s"))
@checked_by(lambda rate: phrases.validate_positive(rate=rate))
def writer(drill, rate: float):
    drill.add_writer(rate, "postgres")


@given(parsers.parse("a writer at {rate:g} writes/s to {store}"))
@checked_by(lambda rate, store: phrases.validate_positive(rate=rate))
def writer_to(drill, rate: float, store: str):
    drill.add_writer(rate, store)


@given(parsers.parse("the drill aborts when {probe} fails more than {percent:g}% of probes for {grace:g} seconds"))
@checked_by(phrases.validate_guard)
def abort_guard(drill, probe: str, percent: float, grace: float):
    drill.add_guard(probe, percent / 100, grace)


@given(parsers.parse("the database replication mode is {mode}"))
@checked_by(phrases.validate_replication)
def replication_mode(drill, mode: str):
    drill.set_replication(mode)
