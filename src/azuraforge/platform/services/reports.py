"""A run's Markdown report as HTML for the dashboard: CommonMark with tables, raw HTML in the
text escaped, and the report's relative images and links pointed at the run's files."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote

from markdown_it import MarkdownIt
from markdown_it.token import Token

MAX_REPORT_BYTES = 2_000_000
"""A larger report is refused rather than rendered: it would not be read in a browser."""
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def render_report(markdown: str, files_url: str, folder: str = "") -> str:
    """``markdown`` as HTML; a relative ``src`` or ``href`` (``plots/loss.png``) is read from
    ``folder`` (the report's, inside the run's folder) and served from ``files_url``.

    Examples
    --------
    >>> print(render_report("![loss](plots/loss.png) <b>x</b>", "/files/"))
    <p><img src="/files/plots/loss.png" alt="loss" /> &lt;b&gt;x&lt;/b&gt;</p>
    <BLANKLINE>
    """
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(markdown)
    for token in _walk(tokens):
        if token.type == "image":
            token.attrSet("src", _served(str(token.attrGet("src") or ""), files_url, folder))
        elif token.type == "link_open":
            href = str(token.attrGet("href") or "")
            token.attrSet("href", _served(href, files_url, folder))
            if _SCHEME.match(href):
                token.attrSet("rel", "noopener noreferrer")
                token.attrSet("target", "_blank")
    return str(parser.renderer.render(tokens, parser.options, {}))


def _walk(tokens: list[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        found.append(token)
        found += _walk(token.children or [])
    return found


def _served(url: str, files_url: str, folder: str) -> str:
    """A relative ``url`` as the address the run's file is served at; others unchanged.

    >>> _served("plots/a b.png", "/f/", "reports")
    '/f/reports/plots/a%20b.png'
    >>> _served("https://example.org/x", "/f/", ""), _served("#top", "/f/", "")
    ('https://example.org/x', '#top')
    """
    if not url or url.startswith(("/", "#")) or _SCHEME.match(url):
        return url
    path = posixpath.normpath(posixpath.join(folder, url.split("#")[0]))
    return files_url + quote(path)
