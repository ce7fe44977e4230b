"""tests/chaos: helpers live in chaos_helpers.py (imported by path, like tests/faultlab's)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
