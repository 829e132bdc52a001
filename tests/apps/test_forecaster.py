"""forecaster end to end: your own CSV, a slice of London, predict from raw rows, bad input."""

import csv
from dataclasses import replace

import numpy as np
import pytest

from azuraforge.apps.forecaster import CsvForecaster
from azuraforge.errors import DataFormatError, InvalidParameterError, SchemaMismatchError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import fetch
from azuraforge.learn.forecasting import DRIFT, Blend
from azuraforge.learn.timeseries import chronological_split
from azuraforge.testing import check_pipeline

QUICK = {"epochs": 1, "hidden_size": 8, "sequence_length": 12}


def _hourly_csv(path, hours=24 * 60, blank_rows=()):
    """Load with a daily cycle plus noise, and an outdoor temperature column."""
    rng = np.random.default_rng(0)
    times = np.datetime64("2024-01-01T00") + np.arange(hours).astype("timedelta64[h]")
    cycle = np.sin(2 * np.pi * np.arange(hours) / 24)
    load = 50 + 10 * cycle + rng.normal(0, 1, hours)
    temperature = 5 + 3 * cycle + rng.normal(0, 0.5, hours)
    lines = ["timestamp,load,temperature"]
    for i, time in enumerate(times):
        value = "" if i in blank_rows else f"{load[i]:.3f}"
        lines.append(f"{str(time).replace('T', ' ')}:00:00,{value},{temperature[i]:.3f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(tmp_path, **settings):
    pipeline = CsvForecaster()
    config = pipeline.make_config({**QUICK, **settings})
    return pipeline, pipeline.run(config, LocalContext(output_dir=tmp_path / "run"))


def _predictions(result):
    with (result.artifact_dir.parent / "test_predictions.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def hourly(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hourly")
    source = _hourly_csv(folder / "load.csv")
    settings = {"csv": str(source), "time_column": "timestamp", "target": "load",
                "features": ["temperature"]}  # fmt: skip
    pipeline, result = _run(folder, **settings)
    return pipeline, result, source


def test_hourly_series_is_scored_beside_same_hour_yesterday(hourly):
    _, result, _ = hourly
    assert list(result.metrics["MAE"]) == ["model", "persistence", "same hour yesterday"]
    assert "MASE (m=24)" in result.metrics
    artifact = ModelArtifact.load(result.artifact_dir)
    assert artifact.config["frequency"] == "hourly"
    assert artifact.features[:2] == ["load", "temperature"]
    assert artifact.features[2:] == [
        "hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos"
    ]  # fmt: skip
    report = result.report_path.read_text()
    assert "**load** 1 step(s) ahead" in report and "never the target's own row" in report
    assert "Rows are hourly: the seasonal baselines are same hour yesterday." in report


def test_predict_from_the_artifact_on_raw_rows_gives_the_test_predictions(hourly, tmp_path):
    pipeline, result, source = hourly
    rows = _predictions(result)
    artifact = ModelArtifact.load(result.artifact_dir)
    lines = source.read_text().splitlines()
    horizon, anchor = artifact.config["horizon"], artifact.chosen_settings["blend_with"]
    anchor_rows = {DRIFT: 0, "same hour yesterday": 24}[anchor] - horizon + 1
    lookback = max(artifact.config["sequence_length"], anchor_rows) - 1 + horizon
    first_test = len(lines) - 1 - len(rows)
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join([lines[0], *lines[1 + first_test - lookback :]]) + "\n")
    forecasts = pipeline.predict(artifact, recent)
    expected = [float(r["model"]) for r in rows]
    np.testing.assert_array_equal(forecasts["forecast"][: len(expected)], expected)
    assert str(forecasts["last_input_time"][-1]) == rows[-1]["time"]


def _excel(source, path):
    """``source`` as a German or Turkish Excel exports it: ';' between fields, decimal commas,
    no trailing zeros (49,9 for 49.900)."""
    header, *rows = source.read_text().splitlines()
    rows = [[time] + [repr(float(v)).replace(".", ",") for v in values]
            for time, *values in (row.split(",") for row in rows)]  # fmt: skip
    path.write_text("\n".join([header.replace(",", ";")] + [";".join(r) for r in rows]) + "\n")
    return path


def test_an_excel_export_with_decimal_commas_trains_and_predicts_as_the_csv(hourly, tmp_path):
    pipeline, result, source = hourly
    excel = _excel(source, tmp_path / "load.csv")
    assert excel.read_text().splitlines()[1] == "2024-01-01 00:00:00;50,126;5,426"
    _, run = _run(tmp_path, csv=str(excel), time_column="timestamp", target="load",
                  features=["temperature"])  # fmt: skip
    assert _predictions(run) == _predictions(result)
    artifact = ModelArtifact.load(run.artifact_dir)
    assert (artifact.config["delimiter"], artifact.config["decimal"]) == (";", ",")
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join(excel.read_text().splitlines()[-30:-5]) + "\n")
    recent.write_text(excel.read_text().splitlines()[0] + "\n" + recent.read_text())
    forecasts = pipeline.predict(artifact, recent)
    assert str(forecasts["last_input_time"][-1]) == "2024-02-29T18"


def test_a_file_whose_decimal_mark_cannot_be_told_says_which_setting_to_pass(tmp_path):
    source = tmp_path / "counts.csv"
    days = np.arange("2024-01-01", "2024-05-01", dtype="datetime64[D]")
    source.write_text("date;count\n" + "".join(f"{d};{100 + i}.{i * 7 % 1000:03d}\n"
                                               for i, d in enumerate(days)))  # fmt: skip
    settings = {"csv": str(source), "target": "count"}
    with pytest.raises(DataFormatError, match=r"line 2: '100.000' reads as .*set decimal="):
        _run(tmp_path, **settings)
    _, result = _run(tmp_path, **settings, decimal=",")
    assert ModelArtifact.load(result.artifact_dir).config["decimal"] == ","


@pytest.mark.parametrize("column", ["load", "temperature"])
def test_a_number_too_large_to_train_on_is_refused_naming_line_and_column(tmp_path, column):
    source = _hourly_csv(tmp_path / "load.csv", hours=200)
    lines = source.read_text().splitlines()
    fields = lines[150].split(",")
    fields[1 if column == "load" else 2] = "1e308"
    lines[150] = ",".join(fields)
    source.write_text("\n".join(lines) + "\n")
    message = (
        rf"line 151, column \d \('{column}'\): expected a number between -1e\+15 and 1e\+15, "
        r"got '1e308'"
    )
    with pytest.raises(DataFormatError, match=message):
        _run(tmp_path, csv=str(source), time_column="timestamp", target="load",
             features=["temperature"])  # fmt: skip


def test_predict_refuses_a_number_too_large_to_train_on(hourly, tmp_path):
    pipeline, result, source = hourly
    lines = source.read_text().splitlines()[-40:]
    lines[-1] = lines[-1].rsplit(",", 1)[0] + ",-2e20"
    recent = tmp_path / "recent.csv"
    recent.write_text("timestamp,load,temperature\n" + "\n".join(lines) + "\n")
    artifact = ModelArtifact.load(result.artifact_dir)
    with pytest.raises(DataFormatError, match=r"line 41, column 3 \('temperature'\): expected"):
        pipeline.predict(artifact, recent)
    rows = [dict(zip(["timestamp", "load", "temperature"], line.split(","), strict=True))
            for line in lines]  # fmt: skip
    with pytest.raises(DataFormatError, match=r"rows\[39\], column 3 \('temperature'\)"):
        pipeline.predict_rows(artifact, rows)


def test_a_missing_target_is_never_scored(tmp_path):
    source = _hourly_csv(tmp_path / "load.csv", blank_rows={1300, 1301})
    settings = {"csv": str(source), "time_column": "timestamp", "target": "load"}
    with pytest.raises(DataFormatError, match=r"line 1302, column 2 \('load'\): a missing"):
        _run(tmp_path, **settings)
    _, result = _run(tmp_path, **settings, missing="fill")
    times = [r["time"] for r in _predictions(result)]
    assert "2024-02-24T04" not in times and "2024-02-24T06" in times
    assert "2 test rows whose actual value was missing are not scored" in (
        result.report_path.read_text()
    )


def test_what_missing_fill_filled_is_said_in_the_terminal_the_report_and_the_artifact(tmp_path):
    source = _hourly_csv(tmp_path / "load.csv", blank_rows={1300, 1301, 1302})
    lines = source.read_text().splitlines()
    source.write_text("\n".join(lines[:500] + lines[502:]) + "\n")  # two hours missing
    settings = {"csv": str(source), "time_column": "timestamp", "target": "load",
                "features": ["temperature"]}  # fmt: skip
    _, result = _run(tmp_path, **settings, missing="fill")
    said = (
        "missing=fill inserted 2 rows for missing times and filled 7 values (load 5, "
        "temperature 2), at most 3 in a row (load, 2024-02-24T04 to 2024-02-24T06)."
    )
    assert said in result.notes
    assert said in result.report_path.read_text()
    fill = ModelArtifact.load(result.artifact_dir).data["fill"]
    assert fill["inserted_rows"] == 2 and fill["filled"] == {"load": 5, "temperature": 2}


@pytest.fixture(scope="module")
def london(tmp_path_factory, real_data):
    settings = {"csv": "london-daily",
                "target": "mean_temp", "features": ["max_temp", "min_temp", "sunshine"],
                "missing": "fill", "max_rows": 1500}  # fmt: skip
    return _run(tmp_path_factory.mktemp("london"), **settings)


def test_london_daily_is_scored_beside_last_week_and_last_year(london):
    _, result = london
    assert list(result.metrics["MAE"]) == [
        "model", "persistence", "same day last week", "same day last year", "climatology"
    ]  # fmt: skip
    assert result.metrics["MAE"]["model"] < result.metrics["MAE"]["same day last week"]
    rows = _predictions(result)
    assert rows[0]["time"] == "1982-04-15"  # dates, not midnights


def test_london_same_day_maximum_never_reaches_its_own_forecast(london, tmp_path):
    """Changing max_temp on rows changes no forecast of those rows' mean_temp."""
    pipeline, result = london
    artifact = ModelArtifact.load(result.artifact_dir)
    lines = fetch("london-daily")["london_daily_1979_2020.csv"].read_text().splitlines()
    clean, leaky = tmp_path / "clean.csv", tmp_path / "leaky.csv"
    clean.write_text("\n".join(lines[:200]) + "\n")
    changed = [line.split(",") for line in lines[:200]]
    for fields in changed[150:]:
        fields[4] = "45.0"  # max_temp: an impossible heat from row 149 on
    leaky.write_text("\n".join(",".join(f) for f in changed) + "\n")
    before = pipeline.predict(artifact, clean)["forecast"]
    after = pipeline.predict(artifact, leaky)["forecast"]
    # Forecast i is of data row i + sequence_length (windows end at row i + length - 1).
    untouched = 149 - artifact.config["sequence_length"] + 1
    np.testing.assert_array_equal(before[:untouched], after[:untouched])
    assert not np.array_equal(before[untouched:], after[untouched:])


def test_too_few_rows_to_predict_counts_the_file(london, tmp_path):
    pipeline, result = london
    lines = fetch("london-daily")["london_daily_1979_2020.csv"].read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:11]) + "\n")
    with pytest.raises(
        InvalidParameterError, match="has 10 data rows; the model needs at least 12"
    ):
        pipeline.predict(ModelArtifact.load(result.artifact_dir), short)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"target": "lod"}, DataFormatError, r"no column 'lod' .* columns are timestamp, load"),
        ({"target": "load", "time_column": "when"}, DataFormatError, "set time_column=NAME"),
        ({"target": "load", "frequency": "daily"}, DataFormatError,
         r"line 3, .*2024-01-01T01:00:00 follows 2024-01-01T00:00:00, but daily rows"),
    ],
)  # fmt: skip
def test_bad_input_is_explained(tmp_path, settings, error, message):
    source = _hourly_csv(tmp_path / "load.csv", hours=100)
    with pytest.raises(error, match=message):
        _run(tmp_path, **{"csv": str(source), "time_column": "timestamp", **settings})


def test_the_file_and_target_are_required():
    with pytest.raises(InvalidParameterError, match=r"csv is required \(--set csv=\.\.\.\)"):
        CsvForecaster.make_config({"target": "load"})
    schema = CsvForecaster.Config.model_json_schema()
    assert schema["required"] == ["csv", "target"]  # the launch form asks for both


def test_an_unknown_frequency_is_refused():
    with pytest.raises(InvalidParameterError, match="frequency"):
        CsvForecaster.make_config({"frequency": "fortnightly"})


def test_a_short_daily_series_is_scored_without_same_day_last_year(tmp_path):
    days = np.arange("2024-01-01", "2025-01-01", dtype="datetime64[D]")
    values = 10 + np.sin(2 * np.pi * np.arange(len(days)) / 7)
    values += np.random.default_rng(0).normal(0, 0.1, len(days))
    lines = [f"{day},{value:.4f}" for day, value in zip(days, values, strict=True)]
    source = tmp_path / "short.csv"
    source.write_text("\n".join(["date,y", *lines]) + "\n")
    _, result = _run(tmp_path, csv=str(source), target="y")
    assert list(result.metrics["MAE"]) == ["model", "persistence", "same day last week"]
    assert "'same day last year' baseline is left out" in result.report_path.read_text()


def test_irregular_and_gappy_timestamps_are_refused(tmp_path):
    irregular = tmp_path / "irregular.csv"
    minutes = [0, 90, 125, 215, 250, 340, 400]
    times = np.datetime64("2024-01-01T00:00") + np.array(minutes).astype("timedelta64[m]")
    irregular.write_text("time,y\n" + "".join(f"{t},{i}\n" for i, t in enumerate(times)))
    settings = {"csv": str(irregular), "time_column": "time", "target": "y"}
    with pytest.raises(InvalidParameterError, match="cannot infer the frequency"):
        _run(tmp_path, **settings)
    gappy = tmp_path / "gappy.csv"
    days = np.delete(np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]"), 20)
    gappy.write_text("date,y\n" + "".join(f"{d},{i}\n" for i, d in enumerate(days)))
    with pytest.raises(DataFormatError, match=r"line 22, .*2024-01-22 follows 2024-01-20"):
        _run(tmp_path, csv=str(gappy), target="y")


def test_forecaster_keeps_the_pipeline_contract(tmp_path):
    source = _hourly_csv(tmp_path / "load.csv", hours=24 * 30)
    recent = tmp_path / "recent.csv"
    recent.write_text("\n".join(source.read_text().splitlines()[:60]) + "\n")
    settings = {**QUICK, "csv": str(source), "time_column": "timestamp", "target": "load"}
    check_pipeline(CsvForecaster, settings, inputs=recent, workdir=tmp_path / "runs")


def test_a_file_listed_newest_first_is_read_in_time_order(tmp_path):
    source = _hourly_csv(tmp_path / "load.csv", hours=24 * 20)
    header, *rows = source.read_text().splitlines()
    newest_first = tmp_path / "newest_first.csv"
    newest_first.write_text("\n".join([header, *reversed(rows)]) + "\n")
    settings = {"time_column": "timestamp", "target": "load"}
    _, expected = _run(tmp_path / "a", csv=str(source), **settings)
    _, result = _run(tmp_path / "b", csv=str(newest_first), **settings)
    assert result.metrics == expected.metrics
    rows[5] = rows[5].split(",")[0] + ",," + rows[5].split(",")[2]  # a blank load on line 7
    newest_first.write_text("\n".join([header, *reversed(rows)]) + "\n")
    line = len(rows) + 1 - 5  # where that row lands once the file is reversed
    with pytest.raises(DataFormatError, match=rf"line {line}, column 2 \('load'\)"):
        _run(tmp_path / "c", csv=str(newest_first), **settings)


def _weekday_csv(path, weeks=80):
    """A random walk on weekdays only (a trading-day series: no Saturday, no Sunday rows)."""
    days = np.arange("2024-01-01", np.datetime64("2024-01-01") + 7 * weeks, dtype="datetime64[D]")
    weekdays = days[(days.astype(int) + 3) % 7 < 5]  # 1970-01-01 was a Thursday
    values = np.round(100 + np.random.default_rng(1).normal(size=len(weekdays)).cumsum(), 4)
    lines = [f"{day},{value:.4f}" for day, value in zip(weekdays, values, strict=True)]
    path.write_text("\n".join(["date,close", *lines]) + "\n")
    return path, values


def test_mase_is_scaled_by_the_observed_days_of_a_filled_weekend_series(tmp_path):
    source, values = _weekday_csv(tmp_path / "weekdays.csv")
    _, result = _run(tmp_path, csv=str(source), target="close", missing="fill")
    train_days = chronological_split(80 * 7, 0.7, 0.1).train.stop  # calendar days, filled
    train_weekdays = train_days // 7 * 5  # the split falls on a Monday: whole weeks
    changes = np.abs(np.diff(values[:train_weekdays]))
    observed_scale = np.delete(changes, np.arange(4, len(changes), 5)).mean()  # Fri → Mon
    metrics = result.metrics
    assert metrics["MASE"]["model"] == pytest.approx(metrics["MAE"]["model"] / observed_scale)


def test_a_constant_training_target_is_scored_without_mase(tmp_path):
    source = tmp_path / "flat.csv"
    days = np.arange("2024-01-01", "2025-01-01", dtype="datetime64[D]")
    values = np.where(np.arange(len(days)) < 300, 5.0, np.arange(len(days)) % 3)
    source.write_text(
        "date,y\n" + "".join(f"{d},{v}\n" for d, v in zip(days, values, strict=True))
    )
    _, result = _run(tmp_path, csv=str(source), target="y")
    assert "MASE" not in result.metrics and "MAE" in result.metrics
    assert "MASE is left out: the training part's target never changes" in (
        result.report_path.read_text()
    )


def test_the_artifact_records_who_chose_the_blend_and_a_rerun_keeps_it(hourly, tmp_path):
    pipeline, result, _ = hourly
    artifact = ModelArtifact.load(result.artifact_dir)
    saved, weight = artifact.config, artifact.chosen_settings["blend"]
    assert saved["blend"] is None  # the user's setting: chosen on validation
    rerun = pipeline.run(pipeline.make_config(saved), LocalContext(output_dir=tmp_path / "re"))
    assert rerun.metrics == result.metrics
    chosen = Blend(weight, "validation", artifact.chosen_settings["blend_with"])
    assert chosen.describe() in rerun.notes[0]
    _, fixed = _run(tmp_path / "fixed", **{**saved, "blend": 0.5})
    refit = ModelArtifact.load(fixed.artifact_dir)
    assert refit.config["blend"] == 0.5 and refit.chosen_settings == {}
    assert "blend 0.50 (set by the user)" in fixed.notes[0]


def test_predict_reads_an_older_artifact_whose_config_holds_the_chosen_blend(hourly, tmp_path):
    pipeline, result, source = hourly
    artifact = ModelArtifact.load(result.artifact_dir)
    artifact.chosen_settings["blend_with"] = DRIFT  # what artifacts before it blended with
    expected = pipeline.predict(artifact, source)["forecast"]
    weight = artifact.chosen_settings.pop("blend")
    artifact.chosen_settings.pop("blend_with")
    artifact.config.update(blend=weight, blend_chosen_by="validation")
    older = ModelArtifact.load(artifact.save(tmp_path / "older"))
    np.testing.assert_array_equal(pipeline.predict(older, source)["forecast"], expected)


def test_predict_refuses_an_artifact_without_a_blend_weight(hourly, tmp_path):
    pipeline, result, source = hourly
    artifact = ModelArtifact.load(result.artifact_dir)
    artifact.chosen_settings = {}
    with pytest.raises(SchemaMismatchError, match=r"records no blend weight.*run the pipeline"):
        pipeline.predict(artifact, source)


def test_predict_counts_the_files_rows_not_the_inserted_ones(tmp_path):
    source, _ = _weekday_csv(tmp_path / "weekdays.csv", weeks=40)
    pipeline, result = _run(tmp_path, csv=str(source), target="close", missing="fill")
    short = tmp_path / "short.csv"
    short.write_text("\n".join(source.read_text().splitlines()[:9]) + "\n")  # Mon .. next Wed
    with pytest.raises(
        InvalidParameterError,
        match=r"has 8 data rows \(and 2 inserted for gaps\); the model needs at least 12",
    ):
        pipeline.predict(ModelArtifact.load(result.artifact_dir), short)


def test_predict_with_a_missing_column_says_the_file_must_have_it(hourly, tmp_path):
    pipeline, result, source = hourly
    renamed = tmp_path / "renamed.csv"
    header, *rows = source.read_text().splitlines()
    renamed.write_text("\n".join([header.replace("temperature", "temp"), *rows]) + "\n")
    with pytest.raises(DataFormatError) as refused:
        pipeline.predict(ModelArtifact.load(result.artifact_dir), renamed)
    message = str(refused.value)
    assert message.endswith(
        "the model was trained with column 'temperature' (features); the file must have it"
    )
    assert "set features" not in message


def test_the_history_of_rows_is_the_target_read_with_gaps_missing(tmp_path):
    source, values = _weekday_csv(tmp_path / "weekdays.csv", weeks=40)
    pipeline, result = _run(tmp_path, csv=str(source), target="close", missing="fill")
    artifact = ModelArtifact.load(result.artifact_dir)
    with source.open() as handle:
        rows = list(csv.DictReader(handle))[-30:]  # six weeks of weekdays: Mon .. Fri
    columns, history = pipeline.predict_rows_with_history(artifact, rows, horizon=1)
    for name, column in pipeline.predict_rows(artifact, rows, horizon=1).items():
        np.testing.assert_array_equal(columns[name], column)
    assert history.name == "close"
    days = [np.datetime64(row["date"]) for row in rows]
    np.testing.assert_array_equal(history.times, np.arange(days[0], days[-1] + 1))
    weekend = np.isin(history.times, days, invert=True)
    assert weekend.sum() == 10 and np.isnan(history.values[weekend]).all()
    np.testing.assert_array_equal(history.values[~weekend], values[-30:])
    assert columns["time"][0] == days[-1] + 1  # the forecast continues the history


def _monthly_sales_csv(path, years=9):
    """A strong yearly season over a trend with noise, as monthly sales often are."""
    rng = np.random.default_rng(3)
    months = np.arange("2010-01", f"{2010 + years}-01", dtype="datetime64[M]")
    season = np.tile([-3, -2, 0, 1, 2, 4, 5, 4, 1, 0, -2, 6], years) * 1000.0
    sales = 20000 + 30 * np.arange(len(months)) + season + rng.normal(0, 300, len(months))
    lines = ["month,sales"] + [f"{m},{v:.0f}" for m, v in zip(months, sales, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_model_worse_than_a_seasonal_forecast_is_replaced_by_it_on_validation(tmp_path):
    source = _monthly_sales_csv(tmp_path / "sales.csv")
    settings = {"csv": str(source), "time_column": "month", "target": "sales"}
    pipeline, result = _run(tmp_path, **settings, sequence_length=6)
    mae = result.metrics["MAE"]
    assert mae["model"] <= 1.05 * mae["same month last year"]  # it was 3x with drift only
    artifact = ModelArtifact.load(result.artifact_dir)
    assert artifact.chosen_settings["blend_with"] == "same month last year"
    selection = artifact.selection
    assert set(selection["validation_mae"]) == {
        "chosen", "the model alone", "drift", "same month last year", "climatology"
    }  # fmt: skip
    assert selection["validation_mae"]["chosen"] <= min(selection["validation_mae"].values())
    report = result.report_path.read_text()
    said = [selection["reason"], "Test MAE: the model"]
    assert all(sentence in report for sentence in said)
    assert all(any(sentence in note for note in result.notes) for sentence in said)
    rows = _predictions(result)
    recent = tmp_path / "recent.csv"
    lines = source.read_text().splitlines()
    recent.write_text("\n".join([lines[0], *lines[-len(rows) - 12 :]]) + "\n")
    forecasts = pipeline.predict(artifact, recent)["forecast"]
    np.testing.assert_array_equal(forecasts[: len(rows)], [float(r["model"]) for r in rows])
    too_short = tmp_path / "short.csv"
    too_short.write_text("\n".join(lines[:12]) + "\n")  # 11 months: last year unreached
    with pytest.raises(
        InvalidParameterError, match="the 'same month last year' forecast it is blended"
    ):
        pipeline.predict(artifact, too_short)


def test_a_blend_anchor_the_series_does_not_have_is_refused_naming_those_it_has(tmp_path):
    source = _monthly_sales_csv(tmp_path / "sales.csv", years=4)
    with pytest.raises(InvalidParameterError, match="blend_with='same day last week' is not a"):
        _run(tmp_path, csv=str(source), time_column="month", target="sales",
             blend_with="same day last week")  # fmt: skip
    _, result = _run(
        tmp_path, csv=str(source), time_column="month", target="sales", blend=0.0,
        blend_with="same month last year",
    )  # fmt: skip
    mae = result.metrics["MAE"]
    assert mae["model"] == mae["same month last year"]
    assert any(
        "the 'model' column is the 'same month last year' forecast" in n for n in result.notes
    )


class Overflowing(CsvForecaster):
    """A table whose values reach float64's range: their changes overflow in training."""

    def load_frame(self, config, source=None):
        frame = super().load_frame(config, source)
        target = frame.target.copy()
        target[5:7] = 1e308, -1e308
        return replace(frame, target=target)


@pytest.mark.filterwarnings(
    "ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning"
)
def test_forecasts_that_are_not_finite_blame_the_datas_scale(tmp_path):
    source = _monthly_sales_csv(tmp_path / "sales.csv", years=4)
    pipeline = Overflowing()
    config = pipeline.make_config({**QUICK, "csv": str(source), "time_column": "month",
                                   "target": "sales", "sequence_length": 6})  # fmt: skip
    with pytest.raises(DataFormatError, match=r"not finite numbers: the data's values are too"):
        pipeline.run(config, LocalContext(output_dir=tmp_path / "run"))


def test_a_model_blended_with_climatology_predicts_from_the_table_it_saved(tmp_path):
    source = _monthly_sales_csv(tmp_path / "sales.csv", years=5)
    settings = {"csv": str(source), "time_column": "month", "target": "sales"}
    pipeline, result = _run(tmp_path, **settings, blend=0.0, blend_with="climatology")
    assert result.metrics["MAE"]["model"] == result.metrics["MAE"]["climatology"]
    artifact = ModelArtifact.load(result.artifact_dir)
    assert len(artifact.selection["anchor_tables"]["climatology"]) == 12
    rows = _predictions(result)
    lines = source.read_text().splitlines()
    recent = tmp_path / "recent.csv"  # the test part and one window before it: no training rows
    recent.write_text("\n".join([lines[0], *lines[-len(rows) - 12 :]]) + "\n")
    forecasts = pipeline.predict(artifact, recent)
    expected = [float(r["climatology"]) for r in rows]
    np.testing.assert_allclose(forecasts["forecast"][: len(rows)], expected, rtol=1e-12)
    assert len(forecasts["forecast"]) == len(rows) + 1  # and the month after the last


def test_a_blend_with_reaching_before_the_first_row_is_refused_before_training(tmp_path):
    """A set 'same day last year' on 400 days read row -45 (the end of the test part)."""
    days = np.arange("2020-01-01", "2021-02-04", dtype="datetime64[D]")
    values = 10 + np.sin(np.arange(len(days)) / 58.0)
    source = tmp_path / "days.csv"
    source.write_text(
        "date,y\n" + "".join(f"{d},{v:.3f}\n" for d, v in zip(days, values, strict=True))
    )
    settings = {
        "csv": str(source),
        "target": "y",
        "blend": 0.0,
        "blend_with": "same day last year",
    }
    with pytest.raises(InvalidParameterError, match=r"reads 365 rows back, before the validation"):
        _run(tmp_path, **settings)
    assert not (tmp_path / "run").exists()  # refused before training


def test_quarterly_rows_may_be_blended_with_climatology(tmp_path):
    quarters = np.arange("2000-01", "2020-01", 3, dtype="datetime64[M]")
    season = np.tile([5.0, -3.0, 1.0, -2.0], len(quarters) // 4)
    rng = np.random.default_rng(1)
    lines = [
        f"{q},{100 + s + rng.normal(0, 0.3):.3f}" for q, s in zip(quarters, season, strict=True)
    ]
    source = tmp_path / "quarters.csv"
    source.write_text("quarter,y\n" + "\n".join(lines) + "\n")
    _, result = _run(
        tmp_path, csv=str(source), time_column="quarter", target="y", sequence_length=4
    )
    chosen = ModelArtifact.load(result.artifact_dir).selection["validation_mae"]
    assert "climatology" in chosen and "same quarter last year" in chosen


def test_predict_refuses_an_artifact_blended_with_a_table_it_lacks(tmp_path):
    source = _monthly_sales_csv(tmp_path / "sales.csv", years=5)
    settings = {"csv": str(source), "time_column": "month", "target": "sales"}
    pipeline, result = _run(tmp_path, **settings, blend=0.0, blend_with="climatology")
    artifact = ModelArtifact.load(result.artifact_dir)
    artifact.selection = {}
    with pytest.raises(SchemaMismatchError, match=r"blends its forecasts with 'climatology' but"):
        pipeline.predict(artifact, source)
