"""Binds the drill catalog's scenarios to pytest: pytest-bdd collects features through a Python module.

`drill run` passes the selected feature files in DRILL_FEATURES (os.pathsep-separated); without it, every
`*.feature` under this folder is bound. Run it through `drill run`, or `pytest features/catalog.py`.
"""

import os
from pathlib import Path

from pytest_bdd import scenarios

_here = Path(__file__).parent
_selected = [p for p in os.environ.get("DRILL_FEATURES", "").split(os.pathsep) if p]
scenarios(*(_selected or [str(_here)]), features_base_dir=str(_here))
