"""Masking of secrets in anything the harness shows or stores: DSNs, URLs, shell commands, records.

One place for every room, so a secret pattern learned once is masked everywhere."""

from __future__ import annotations

import math
import re
from typing import Any

# scheme://user:password@host  ->  scheme://user:***@host  (also ":password@" with an empty user)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)(?P<secret>[^\s/]+)(?=@[^@\s/]*(?:[/?#\s]|$))"
)
# key=value DSNs and query strings: password=..., PGPASSWORD=..., token=...
_KV_SECRET = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd|pgpassword|token|secret)\s*=\s*)(?P<secret>'[^']*'|[^\s&;]+)"
)
# keys of structured data whose values are secrets
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|signing[_-]?key)")


def mask(text: str | None) -> str | None:
    """Return `text` with every password-like value replaced by `***`."""
    if text is None:
        return None
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return _KV_SECRET.sub(lambda m: m.group("head") + "***", text)


def clean(value: Any) -> Any:
    """A JSON-safe copy: secrets masked, NaN/inf (not JSON) turned into null, tuples into lists."""
    if isinstance(value, dict):
        return {
            str(k): ("***" if _SECRET_KEY.search(str(k)) and v not in (None, "") else clean(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set)):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return mask(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if hasattr(value, "model_dump"):
        return clean(value.model_dump(mode="json"))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return mask(str(value))
