"""Blob keys: relative, ``/``-separated names, checked in one place before any store sees them.

A key names one blob (``runs/12/report.md``); a prefix names the folder-like group of the keys
below it (``runs/12`` holds ``runs/12/report.md``, not ``runs/123/...``). Both are checked
here, so that no backend ever receives a key that could leave its folder or its bucket
prefix, or that one backend would store and another refuse.
"""

from __future__ import annotations

import re

from azuraforge.errors import InvalidParameterError, shorten

KEY_BYTES = 900
"""Most UTF-8 bytes of a key (S3 allows 1,024 for the whole object name, bucket prefix
included)."""

NAME_BYTES = 255
"""Most UTF-8 bytes of one name between slashes (the longest file name of most file systems)."""

EXAMPLE = "a key is a relative path of names separated by '/', such as 'runs/12/report.md'"

UNFINISHED_NAME = re.compile(r"^\..*\.part$")
"""Names a key never holds: ``.<name>.part``, the unfinished writes of a folder store."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def blob_key(key: str) -> str:
    """``key``, checked: the one gate every key passes before a store uses it.

    Parameters
    ----------
    key
        A relative path of names separated by ``/``.

    Returns
    -------
    str
        The same key.

    Raises
    ------
    InvalidParameterError
        Naming the key and the rule it breaks: not text, empty, absolute (``/`` first), a
        ``.`` or ``..`` name, an empty name (``//`` or a ``/`` last), a backslash, a control
        character (NUL included), a name of the form ``.<name>.part`` (unfinished writes of
        a folder store), a name over 255 bytes or a key over 900 bytes of UTF-8.

    Examples
    --------
    >>> blob_key("runs/12/report.md")
    'runs/12/report.md'
    >>> blob_key("runs/../secrets")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: blob key 'runs/../secrets' is refused: it has a '..' name; a key is a relative path of names separated by '/', such as 'runs/12/report.md'
    """  # noqa: E501
    problem = _key_problem(key)
    if problem:
        shown = shorten(key, 100, quoted=True) if isinstance(key, str) else repr(key)
        raise InvalidParameterError(f"blob key {shown} is refused: {problem}; {EXAMPLE}")
    return key


def blob_prefix(prefix: str) -> str:
    """``prefix`` checked as a key, without the one ``/`` it may end with; ``""`` names
    every key.

    Examples
    --------
    >>> blob_prefix("runs/12/"), blob_prefix("")
    ('runs/12', '')
    """
    if prefix in ("", "/"):
        return ""
    return blob_key(prefix.removesuffix("/") if isinstance(prefix, str) else prefix)


def _key_problem(key: object) -> str:
    """What is wrong with ``key`` as a key, or ``""``."""
    if not isinstance(key, str):
        return f"it is a {type(key).__name__}, not text"
    if not key:
        return "it is empty"
    if key.startswith("/"):
        return "it is absolute (it starts with '/')"
    if "\\" in key:
        return "it holds a backslash"
    if _CONTROL.search(key):
        return "it holds a control character (NUL, a line break...)"
    if len(key.encode()) > KEY_BYTES:
        return f"it is {len(key.encode())} bytes long in UTF-8, more than {KEY_BYTES}"
    return next(filter(None, map(_name_problem, key.split("/"))), "")


def _name_problem(name: str) -> str:
    """What is wrong with one name between slashes, or ``""``."""
    if not name:
        return "it has an empty name ('//', or a '/' at its end)"
    if name in (".", ".."):
        return f"it has a {name!r} name"
    if UNFINISHED_NAME.match(name):
        return f"its name {name!r} has the form '.<name>.part' kept for unfinished writes"
    if len(name.encode()) > NAME_BYTES:
        return f"a name in it is {len(name.encode())} bytes long in UTF-8, more than {NAME_BYTES}"
    return ""
