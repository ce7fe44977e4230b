"""Drills: the Gherkin catalog's library side. One scenario = one `DrillScenario` record flowing through
set-up (target, objective, probes, writers) → faults → recovery procedures → measurement → verdict → evidence.

    from harness import targets
    from harness.drills import DrillScenario
    target = targets.load("local").connect()
    with DrillScenario("db failover", target=target, out_dir=Path("reports/x")) as d:
        d.use_objective("postgresql", "primary-instance-failure")
        d.add_writer(20)
        d.inject("db-primary-crash", {})
        checks.recovered_within(d.measure(), d.rto_target())

Steps in `steps/` call this; `drill run` (harness/drills/run.py) runs the catalog through pytest.
"""

from harness.drills.scenario import DrillScenario
from harness.targets.local import LocalTarget

__all__ = ["DrillScenario", "LocalTarget"]
