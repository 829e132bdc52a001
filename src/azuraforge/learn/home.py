"""``$AZURAFORGE_HOME``: the folder of a user's datasets, runs, models and assistant files.

>>> import os
>>> from unittest import mock
>>> with mock.patch.dict(os.environ, {HOME_VARIABLE: "/srv/azuraforge"}):
...     str(default_home())
'/srv/azuraforge'
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "AZURAFORGE_HOME"


def default_home() -> Path:
    """``$AZURAFORGE_HOME``, by default ``~/.azuraforge``."""
    return Path(os.environ.get(HOME_VARIABLE) or "~/.azuraforge").expanduser()
