"""What `drill run` hands its pytest child, kept free of pytest so the CLI starts without importing it:
the environment variables the plugin reads and the tag expression of `--tags`."""

from __future__ import annotations

import re

from harness.errors import HarnessError
from harness.evidence.plan import TagExpression

AUTO_CONFIRM_ENV = "DRILL_AUTO_CONFIRM"  # set by `drill run --yes`
UNATTENDED_ENV = "DRILL_UNATTENDED"  # set by `drill run` with no terminal, no --yes and no CI=true
APPROVAL_ENV, APPROVER_ENV = "DRILL_APPROVAL", "DRILL_APPROVER"  # set by `drill run --approval/--approver`


def normalise_tags(expr: str) -> str:
    """Accept `smoke and not region` as well as `@smoke and not @region`; raise HarnessError if malformed."""
    out = re.sub(r"(?<![@\w-])(?!(?:and|or|not)\b)([A-Za-z_][\w:.-]*)", r"@\1", expr)
    try:
        return TagExpression.checked(out)
    except ValueError as err:
        raise HarnessError(f"--tags {expr!r}: {err}") from None
