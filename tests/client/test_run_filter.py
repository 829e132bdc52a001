"""The run list's filters have one set of names: the fields of the server's ``RunFilter``,
the filters of the client's ``Runs.list`` and the options of ``azuraforge runs list``;
the client sends each under the query parameter ``RunFilter`` reads it from (its alias). The
client imports no pydantic, so the names are shared, not the class."""

from __future__ import annotations

import inspect

from azuraforge.cli.runs import list_
from azuraforge.client.runs import QUERY_NAMES, Runs
from azuraforge.platform.api.schemas.runs import RunFilter

ORDER_AND_PAGE = {"sort", "ascending", "limit", "offset"}
"""What the client and the CLI take beside the filters: the order and the page."""


def test_the_client_lists_runs_by_the_run_filter() -> None:
    parameters = set(inspect.signature(Runs.list).parameters) - {"self"}
    assert parameters - ORDER_AND_PAGE == set(RunFilter.model_fields)


def test_the_client_sends_each_filter_as_the_query_parameter_the_server_reads() -> None:
    aliases = {name: field.alias for name, field in RunFilter.model_fields.items() if field.alias}
    assert aliases == QUERY_NAMES


def test_the_cli_lists_runs_by_the_run_filter() -> None:
    shown_as = {"columns", "as_csv", "api", "project", "verbose"}
    options = set(inspect.signature(list_).parameters) - ORDER_AND_PAGE - shown_as
    assert options == set(RunFilter.model_fields)
