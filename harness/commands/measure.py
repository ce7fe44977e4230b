"""`drill measure` (owned by the measurement room; filled in by issue 2)."""


def measure() -> None:
    """Measure RTO/RPO of any system around any fault."""
    raise NotImplementedError
