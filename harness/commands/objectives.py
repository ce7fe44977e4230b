"""`drill objectives` (owned by the objectives room; filled in by issue 2)."""


def objectives() -> None:
    """Print the DR plan's recovery objectives."""
    raise NotImplementedError
