"""``azuraforge tag RUN key=value ...``: set a run's tags, or delete some (``--delete key``),
any run's, whatever its status (a client of the REST API of a running ``azuraforge serve``).
The run list keeps runs with a tag: ``GET /api/v1/runs?tag=key:value``."""

from __future__ import annotations

from typing import Annotated

import typer

from azuraforge.cli.common import ApiUrl, ProjectName, Verbose, arguments, console, user_errors
from azuraforge.client import Client
from azuraforge.errors import InvalidParameterError


def tag(
    run: Annotated[int, typer.Argument(help="The run's id.")],
    tags: Annotated[
        list[str] | None,
        typer.Argument(
            help="key=value to set (a key it has gets the new value).", show_default=False
        ),
    ] = None,
    delete: Annotated[
        list[str] | None,
        typer.Option("--delete", "-d", help="A key to delete; repeat for several."),
    ] = None,
    api: ApiUrl = None,
    project: ProjectName = None,
    verbose: Verbose = False,
) -> None:
    """Tag a run: set tags (key=value), delete some (--delete key); prints its tags then."""
    with user_errors(verbose), arguments():
        pairs = dict(_pair(item) for item in tags or ())
        if not pairs and not delete:
            raise InvalidParameterError("give key=value to set, or --delete key")
        runs = Client.from_environment(api, project).runs
        now = runs.tag(run, pairs) if pairs else {}
        for key in delete or ():
            now = runs.untag(run, key)
        shown = ", ".join(f"{k}={v}" for k, v in now.items()) or "none"
        console.print(f"experiment {run} tags: {shown}", markup=False, highlight=False)


def _pair(item: str) -> tuple[str, str]:
    """``key=value`` as ``(key, value)`` (the value after the first ``=``, maybe empty)."""
    key, equals, value = item.partition("=")
    if not equals or not key:
        raise InvalidParameterError(f"a tag is key=value, got {item!r}")
    return key, value
