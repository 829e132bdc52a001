"""The kinds name themselves what the run list shows: each kind's ``listed`` flag, read from
every distribution's kinds, built-in or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from azuraforge.platform.jobs.kinds import KIND_GROUP, listed_kinds
from tests.helpers import write_pipeline_plugin


@pytest.fixture
def fresh_kinds() -> Iterator[None]:
    """The listed kinds read again in the test, and after it (they are read once a process)."""
    listed_kinds.cache_clear()
    yield
    listed_kinds.cache_clear()


def test_the_run_list_shows_the_kinds_that_say_they_are_runs(
    fresh_kinds: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = "from azuraforge.platform.jobs.kinds import JobKind\n" + (
        "class Kind(JobKind):\n    name = 'distill'\n    listed = True\n"
        "    def run(self, *args):\n        return 'completed', {}\n"
    )
    write_pipeline_plugin(
        tmp_path,
        "tune_kinds",
        source,
        {},
        other_groups={KIND_GROUP: {"distill": "tune_kinds:Kind"}},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert listed_kinds() == (
        "assist-night",
        "distill",
        "external",
        "fine-tune",
        "retrain",
        "run",
        "trial",
    )
