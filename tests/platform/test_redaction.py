"""Redaction: what the API tells of a text written for the server's user."""

from __future__ import annotations

from pathlib import Path

import pytest

from azuraforge.learn.datasets import MIRROR_VARIABLE
from azuraforge.platform.redaction import Redaction
from azuraforge.platform.settings import Settings

POSTGRES = "postgresql://af:pa%40ss@db.internal:5433/tenants"


@pytest.mark.parametrize(
    "written",
    [
        POSTGRES,
        "postgresql+psycopg://af:pa%40ss@db.internal:5433/tenants",
        "postgresql://af:***@db.internal:5433/tenants",
        "postgresql+psycopg://af:***@db.internal:5433/tenants",
    ],
)
def test_the_store_url_is_taken_out_in_every_form(tmp_path: Path, written: str):
    redact = Redaction(Settings(home=tmp_path, database_url=POSTGRES))
    assert redact(f"experiment 7 not found in {written}; retry") == (
        "experiment 7 not found in <store>; retry"
    )


def test_a_file_in_the_data_folder_is_named_relative_to_it_through_a_link(tmp_path: Path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    settings = Settings(home=tmp_path / "home", data_dir=tmp_path / "link", database_url="")
    redact = Redaction(settings, inside=[tmp_path / "run"])
    text = f"{tmp_path}/real/s.csv, line 3; {tmp_path}/link; {tmp_path}/run/inputs.csv"
    assert redact(text) == "s.csv, line 3; $AZURAFORGE_DATA_DIR; inputs.csv"
    assert redact(f"{settings.home}/azuraforge.db-wal") == "<store>-wal"
    assert redact(f"{settings.home}/runs/7") == "$AZURAFORGE_HOME/runs/7"


def test_words_and_other_folders_stay(tmp_path: Path):
    settings = Settings(home=tmp_path / "af", data_dir=Path("data"), database_url="")
    text = f"the data folder; data/x.csv; the database refused; {tmp_path}/afx/y"
    assert Redaction(settings)(text) == text


def test_a_dataset_file_of_a_mirror_is_named_by_the_mirror_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A stream of ``london-daily`` with a wrong column failed "/srv/shared/data/weather/
    london_daily_1979_2020.csv: no column 'actual' ...": the mirror's folder, on the page."""
    mirror = tmp_path / "shared" / "data"
    monkeypatch.setenv(MIRROR_VARIABLE, str(mirror))
    redact = Redaction(Settings(home=tmp_path / "home", database_url=""))
    text = f"{mirror}/weather/london.csv: no column 'actual'"
    assert redact(text) == "$AZURAFORGE_DATA_MIRROR/weather/london.csv: no column 'actual'"
