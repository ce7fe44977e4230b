"""Measurement engine: probes, sampler, write ledger, RTO/RPO analysis, timeline chart.

Public API (used by the CLI, Gherkin steps and the Chaos Toolkit control):

    from harness.measure import Measurement, parse_probe_spec, parse_writer_spec, Targets
"""

from harness.measure.judgement import Targets
from harness.measure.ledger import WriterSpec, parse_writer_spec
from harness.measure.probes import ProbeSpec, parse_probe_spec
from harness.measure.result import MeasurementResult
from harness.measure.session import Measurement

__all__ = [
    "Measurement",
    "MeasurementResult",
    "ProbeSpec",
    "Targets",
    "WriterSpec",
    "parse_probe_spec",
    "parse_writer_spec",
]
