"""What the server tells an API client of its own text: its folders and its store taken out.

A message is written for the user who runs AzuraForge and may name the server's files
(``/home/ana/.azuraforge/data/sales.csv, line 3: ...``) or its store's URL. Through the API
the same text reaches whoever can reach the port, so what the API answers, and what a worker
records of a failed run (its ``error``, shown by the API, its events and the studies' trial
notes), is told in two steps:

1. the error's :attr:`~azuraforge.errors.AzuraForgeError.public` form, where its raiser left
   out what it knows to be private (the store's URL, the names of other models);
2. a :class:`Redaction` of that text: the net for any path or URL the raiser did not know it
   held (a data file named by the learn layer, an import error of a plugin).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from azuraforge.learn.datasets import MIRROR_VARIABLE, mirror_folders
from azuraforge.platform.settings import Settings

DATA_DIR, HOME, USER_HOME, PYTHON, STORE, MIRROR = (
    "$AZURAFORGE_DATA_DIR", "$AZURAFORGE_HOME", "~", "<python>", "<store>",
    f"${MIRROR_VARIABLE}",
)  # fmt: skip
"""What stands for each: the data folder, the home folder, the home of the server's user, the
Python installation, the store's URL, a folder of the registered datasets' mirror."""
_BOUNDARY = r"(?![\w.-])"
"""After a folder: ``/srv/af`` is not the start of ``/srv/afx``."""


class Redaction:
    """A function of a text: the text with the server's places taken out.

    - A path inside the data folder (or one of the ``inside`` folders, such as a run's own
      folder) becomes relative to it: how a client names a file there (``sales.csv``).
    - The data folder itself, the home folder, the home of the server's user, the Python
      installation and each mirror of the registered datasets become
      ``$AZURAFORGE_DATA_DIR``, ``$AZURAFORGE_HOME``, ``~``, ``<python>``,
      ``$AZURAFORGE_DATA_MIRROR``.
    - The store's URL in each form it may be written in (as configured, with its driver,
      its password shown or as ``***``) and its SQLite file become ``<store>``.

    Each place is matched as written and as resolved (symbolic links followed), the longest
    first, so a path inside the data folder under the home folder becomes relative.

    Examples
    --------
    >>> settings = Settings(home=Path("/srv/af"), database_url="postgresql://af:pw42@db/af")
    >>> redact = Redaction(settings)
    >>> redact("/srv/af/data/sales.csv, line 3: 'x' is not a number")
    "sales.csv, line 3: 'x' is not a number"
    >>> redact("run 7 not found in postgresql://af:***@db/af; files at /srv/af/runs/7")
    'run 7 not found in <store>; files at $AZURAFORGE_HOME/runs/7'
    >>> redact("/srv/afx/y stays: the server has no such folder")
    '/srv/afx/y stays: the server has no such folder'
    """

    def __init__(self, settings: Settings, *, inside: Iterable[Path] = ()) -> None:
        self.settings, self.inside = settings, tuple(inside)

    @functools.cached_property
    def _rules(self) -> tuple[re.Pattern[str], dict[str, str]]:
        """The pattern of every place and what replaces each, made at the first text: a
        run's end makes a redaction and uses it only when the run failed."""
        settings = self.settings
        rules: dict[str, tuple[str, bool]] = {}  # text: (what replaces it, only whole?)
        for text in _store_forms(settings.database_url):
            rules.setdefault(text, (STORE, False))
        for folder in (*self.inside, settings.data_dir):
            for text in _folder_forms(folder):
                rules.setdefault(f"{text}/", ("", False))
        named = [
            (settings.data_dir, DATA_DIR),
            (settings.home, HOME),
            (Path.home(), USER_HOME),
            *((Path(prefix), PYTHON) for prefix in (sys.prefix, sys.base_prefix)),
            *((folder, MIRROR) for folder in mirror_folders()),
        ]
        for folder, name in named:
            for text in _folder_forms(folder):
                rules.setdefault(text, (name, True))
        replacements = {text: name for text, (name, _) in rules.items()}
        longest_first = sorted(rules.items(), key=lambda rule: -len(rule[0]))
        alternatives = (re.escape(text) + _BOUNDARY * whole for text, (_, whole) in longest_first)
        return re.compile("|".join(alternatives)), replacements

    def __call__(self, text: str) -> str:
        """``text`` with the server's places taken out."""
        pattern, replacements = self._rules
        return pattern.sub(lambda match: replacements[match[0]], text)

    def json(self, value: Any) -> Any:
        """``value`` (JSON: dicts, lists, texts...) with every text in it redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(item) for item in value]
        return value


def _folder_forms(folder: Path) -> set[str]:
    """``folder`` as configured and resolved, absolute only (a relative ``data`` would match
    the word); never the root, which every path starts with.

    >>> sorted(_folder_forms(Path("/")) | _folder_forms(Path("/srv/af/")))
    ['/srv/af']
    """
    forms = {folder, folder.resolve()}
    return {str(form).rstrip("/") for form in forms if form.is_absolute() and str(form) != "/"}


def _store_forms(url: str) -> set[str]:
    """Every way a message may write the store's URL, and its SQLite file."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return {url}
    backend = parsed.get_backend_name()
    drivers = {parsed.drivername, backend, f"{backend}+psycopg"}
    forms = {url}
    for driver in drivers:
        for hidden in (False, True):
            forms.add(parsed.set(drivername=driver).render_as_string(hide_password=hidden))
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        forms |= _folder_forms(Path(parsed.database).expanduser())
    return forms
