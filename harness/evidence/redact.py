"""Secrets never reach a record: passwords in URLs/DSNs and values of secret-looking keys are masked."""

from __future__ import annotations

import math
import re
from typing import Any

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd|token|secret)=(\S+)")
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|signing[_-]?key)")


def mask_text(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m[1]}=***", text)


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
        return mask_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if hasattr(value, "model_dump"):
        return clean(value.model_dump(mode="json"))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return mask_text(str(value))
