"""Where a stream's events come from, checked where a config enters and again where its
worker opens it: a registered dataset or a data-folder CSV (replayed, or followed as it
grows), a url at or below the server's ``stream_urls`` (polled), or a plugin source the
server's ``stream_sources`` allow."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azuraforge.errors import (
    ConflictError,
    DataFormatError,
    InvalidParameterError,
    NotFoundError,
    PluginError,
)
from azuraforge.learn.datasets import DATASETS, dataset_file
from azuraforge.learn.datasets.csvfiles import column_key
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.validation import ConfigError
from azuraforge.platform.settings import Settings
from azuraforge.stream import CsvReplay
from azuraforge.stream.base import Source, SourceReport
from azuraforge.stream.live import LiveSource
from azuraforge.stream.polling import HttpPoller
from azuraforge.stream.registry import get_source
from azuraforge.stream.sources import header_of
from azuraforge.stream.tail import FileTail

BUILT_IN_SOURCES = ("csv-replay", "file-tail", "http-poller")
"""The sources a stream names by its source, follow and url (with their checks), never as a
plugin."""
STOP_CHECK = 0.2
"""Seconds a paced stream sleeps between two looks for a stop."""


def check_url(url: str, allowed: Sequence[str]) -> None:
    """Refuse ``url`` unless it is one of the ``allowed`` addresses or below one: the same
    scheme, host and port (a default port as written or not), its path theirs or under it
    (with no ``..``, ``;`` or ``%`` that a server could read as another path), and their
    query when they give one.

    Raises
    ------
    InvalidParameterError
        Saying so, without listing the allowed addresses.

    >>> check_url("https://api.example.org/v1/candles?pair=BTC", ["https://api.example.org/v1"])
    >>> check_url("https://api.example.org.evil.net/v1", ["https://api.example.org/v1"])
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: https://api.example.org.evil.net/v1 is not at or below one of the server's stream_urls
    """  # noqa: E501
    wanted = _address(url)
    bases = filter(None, map(_address, allowed))
    if wanted is not None and _plain(wanted[2]) and any(_under(wanted, b) for b in bases):
        return
    none = "" if allowed else " (it sets none: no stream may poll)"
    raise InvalidParameterError(f"{url} is not at or below one of the server's stream_urls{none}")


def _plain(path: str) -> bool:
    """Whether ``path`` has no ``..`` part and no ``;``, ``%`` or backslash, which a server
    could read as another path."""
    return not re.search(r"[;%\\]", path) and ".." not in path.split("/")


def _under(wanted: tuple[str, str, str, str], base: tuple[str, str, str, str]) -> bool:
    """Whether the address ``wanted`` is ``base`` or below it (both as :func:`_address`
    gives them): the same scheme, host and port, its path or under it, its query if any."""
    root = base[2].rstrip("/")
    same = wanted[:2] == base[:2] and (not base[3] or wanted[3] == base[3])
    return same and (wanted[2] == root or wanted[2].startswith(root + "/"))


def _allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether :func:`check_url` lets ``url`` through (a redirect's target, say)."""
    try:
        check_url(url, allowed)
    except InvalidParameterError:
        return False
    return True


def _address(url: str) -> tuple[str, str, str, str] | None:
    """``url``'s scheme, host and port (``host:443``), path and query; None when it does not
    parse as an http or https address without user info."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a bad port or IPv6 address
        return None
    if port is None or not parts.hostname or parts.username is not None:
        return None
    return parts.scheme, f"{parts.hostname}:{port}", parts.path, parts.query


def plugin_source(config: StreamConfig, allowed: Sequence[str]) -> Source:
    """The plugin source ``config`` names, made with its options (a source's constructor
    starts no I/O: its iteration does), if the server's ``allowed`` names it.

    Raises
    ------
    InvalidParameterError
        For a built-in source (a stream's source, follow and url keep their own checks), one
        not allowed or not installed, or options it refuses.
    """
    name = str(config.plugin)
    if name in BUILT_IN_SOURCES:
        raise InvalidParameterError(
            f"{name} is built in: give a source (and follow) or a url, which keep their checks"
        )
    if name not in allowed:
        none = "" if allowed else " (it sets none)"
        raise InvalidParameterError(f"{name!r} is not one of the server's stream_sources{none}")
    try:
        kind = get_source(name)
    except (NotFoundError, PluginError):
        raise InvalidParameterError(f"source {name!r} is not installed or does not load") from None
    if issubclass(kind, (CsvReplay, FileTail, HttpPoller)):  # their checks go around otherwise
        raise InvalidParameterError(f"{name} is a built-in source under another name")
    try:
        return kind(**config.plugin_options)
    except Exception as e:  # a package's code, given a request's options: any refusal is a 4xx
        raise InvalidParameterError(f"plugin_options: {name} refused them: {e}") from None


def check_follow(config: StreamConfig) -> None:
    """Refuse ``follow`` on a registered dataset (a file that does not grow) or with a
    ``speed`` (a followed file comes at its own pace)."""
    if not config.follow:
        return
    if str(config.source) in DATASETS:
        problem = "a registered dataset does not grow: follow a CSV of the data folder"
        raise ConfigError("stream config", [(("follow",), problem)])
    if config.speed is not None:
        problem = "speed paces a replay; a followed file's rows come when they are written"
        raise ConfigError("stream config", [(("speed",), problem)])


def check_columns(config: StreamConfig, data_folder: DataFolder) -> StreamConfig:
    """``config``, refused for a data-folder CSV whose header has no ``price_column`` (or no
    ``time_column``, when one is named), naming the columns it has; one it has in another
    case or spacing (``close`` for ``Close``) is set to the header's spelling, the name its
    events carry. One that is not UTF-8, or (replayed, not followed) has no row under its
    header, is refused as its worker would refuse it. A registered dataset is not read here
    (it may need fetching): a wrong column fails its job, whose error names the columns."""
    source = str(config.source)
    if config.source is None or source in DATASETS:
        return config
    names = _header(config, data_folder.file(source))
    spelled = {column_key(name): name for name in names}
    columns = {"price_column": config.price_column, "time_column": config.time_column}
    for setting, column in columns.items():
        if column is not None and column_key(column) not in spelled:
            message = f"{source} has no column {column!r}; its columns: {', '.join(names)}"
            raise ConfigError("stream config", [((setting,), message)])
    named = {setting: spelled[column_key(c)] for setting, c in columns.items() if c is not None}
    return config.model_copy(update=named)


def _header(config: StreamConfig, path: Path) -> list[str]:
    """The column names of the data-folder CSV ``path``, ``config``'s source, found as its
    replay finds them: by its time column when named (else as they are, to name them).

    Raises
    ------
    ConfigError
        On the source, for a file whose header cannot be read (or, replayed, with no row).
    """
    source, replayed = str(config.source), not config.follow
    try:
        try:
            return header_of(path, source, config.time_column, needs_rows=replayed)
        except DataFormatError:
            if config.time_column is None:
                raise
            return header_of(path, source, needs_rows=replayed)  # to name the columns it has
    except DataFormatError as e:
        raise ConfigError("stream config", [(("source",), str(e))]) from None


BAD_ROWS_FIX = (
    "Mend the source, name the columns it reads (price_column, time_column), or raise "
    "max_bad_rows to learn from the rest"
)


@dataclass
class SourceRows:
    """What a stream's source made of its rows so far (its growing ``report``: skipped rows
    with their lines and reasons, repeated times, gaps, banners, time formats), the source's
    ``name`` in messages, and the share of its rows that may be unusable (``max_bad_rows``)."""

    report: SourceReport
    name: str
    max_bad_rows: float

    @classmethod
    def of(cls, config: StreamConfig, source: Source) -> SourceRows:
        """The rows of ``source``, the source of a stream of ``config``."""
        name = str(config.source or config.url or f"plugin {config.plugin}")
        return cls(source.report, name, config.max_bad_rows)

    def check(self) -> None:
        """Fail the stream once more than its ``max_bad_rows`` of the rows could not be used.

        Raises
        ------
        DataFormatError
            Naming the count of each reason and its first line.
        """
        self.report.refuse_unusable(self.name, self.max_bad_rows, BAD_ROWS_FIX)

    def check_so_far(self) -> None:
        """:meth:`check` for a source whose rows still grow, once it has read enough of them
        that one bad row alone stays within the share (``1 / max_bad_rows`` rows): one text
        value among a feed's first 40 rows (2.5 %) failed the stream for good."""
        enough = math.ceil(1 / self.max_bad_rows) if self.max_bad_rows else 0
        if self.report.rows >= enough:
            self.check()

    def found(self) -> dict[str, Any]:
        """The report as a checkpoint keeps it: its fields, and its readable ``lines``."""
        return {**asdict(self.report), "lines": self.report.lines()}


def source_path(
    config: StreamConfig,
    open_files: Callable[..., dict[str, Any]],
) -> Path:
    """The file of the stream's source: a registered dataset's, or the data folder's CSV
    (``open_files``: :meth:`DataFolder.open` or the job's, told whether the file is followed
    as it grows)."""
    if config.source is None:
        raise ConflictError(
            f"a stream of a {'url' if config.url else 'plugin'} keeps none of its past rows to "
            "read again: this needs a stream of a dataset or a data-folder CSV"
        )
    source = str(config.source)
    if source in DATASETS:
        return dataset_file(source)
    return Path(open_files(StreamConfig, {"source": source}, growing=config.follow)["source"])


def open_source(
    config: StreamConfig, ctx: StoreContext, settings: Settings, idle: Callable[[], None]
) -> tuple[Source, bool]:
    """The stream's source (replayed, followed as the file grows, polled from the url, or a
    plugin's), and whether its events are live: gone once taken. A polled or followed
    source calls ``idle`` while it waits for rows."""
    price = config.price_column
    if config.plugin is not None:
        made = plugin_source(config, settings.stream_sources)
        if isinstance(made, LiveSource):
            threading.Thread(target=_stop_when_asked, args=(made, ctx), daemon=True).start()
        return made, isinstance(made, LiveSource)
    if config.url is not None:
        check_url(config.url, settings.stream_urls)
        live: LiveSource = HttpPoller(
            config.url, interval=config.poll_interval, time_column=config.time_column,
            columns=[price], price_column=price,
            sleep=lambda seconds: _nap(seconds, live, ctx, idle),
            allow_redirect=lambda target: _allowed(target, settings.stream_urls),
        )  # fmt: skip
        return live, True
    path = source_path(config, ctx.open_files)
    if not config.follow:
        return config.replay(path), False
    live = FileTail(path, columns=[price], price_column=price, time_column=config.time_column,
                    poll_interval=STOP_CHECK,
                    sleep=lambda seconds: _nap(seconds, live, ctx, idle))  # fmt: skip
    return live, False  # read again from its start by a restart


def _stop_when_asked(source: LiveSource, ctx: StoreContext) -> None:
    """Stop a live plugin source once the job is asked to stop (seen within
    :data:`STOP_CHECK`), or once it stopped by itself."""
    while not source.stopped:
        if ctx.should_stop():
            source.stop()
            return
        time.sleep(STOP_CHECK)


def _nap(seconds: float, source: LiveSource, ctx: StoreContext, idle: Callable[[], None]) -> None:
    """Wait ``seconds`` for a live source's next look, calling ``idle`` meanwhile (the
    stream takes its triggers), stopping the source once the job is asked to stop (seen within
    :data:`STOP_CHECK`)."""
    due = time.monotonic() + seconds
    while not ctx.should_stop():
        idle()
        left = due - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, STOP_CHECK))
    source.stop()
