"""``/data``: a project's own CSV files uploaded into its data folder, checked on arrival by
the CSV reader (nothing kept when it refuses), listed, downloaded, trained on at once, and
not deleted while a job or a registered version names them; another project sees none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.states import COMPLETED
from tests.platform.fixtures import SmallDisk, admin_headers, user_headers

GSPC = Path("/work/shared/data/stocks/GSPC_daily_1927_2023.csv")
MAX_UPLOAD = 200_000
"""The server's max_upload_bytes here."""


def gspc_slice(rows: int) -> bytes:
    """The header and the last ``rows`` days of the S&P 500 (another file than the demos'),
    or made-up days like them where the mirror is not on this machine."""
    if GSPC.is_file():
        lines = GSPC.read_bytes().splitlines(keepends=True)
        return b"".join([lines[0], *lines[-rows:]])
    days = [
        f"2023-{1 + i // 28:02d}-{1 + i % 28:02d},{4000 + (i * 37) % 101}.5\n" for i in range(rows)
    ]
    return ("Date,Close\n" + "".join(days)).encode()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    from tests.platform.fixtures import short_settings

    return short_settings(database_url, tmp_path / "home", max_upload_bytes=MAX_UPLOAD)


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as client:
        yield client


def folder_files(settings: Settings) -> list[str]:
    """Every data file kept: in the data folders on disk, hidden ones too (an upload's
    leftovers), and the bytes in the blob store (``data/<project>/sha256/<digest>/<name>``),
    by name."""
    root = settings.data_dir
    on_disk = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    stored = [key.split("/", 4)[4] for key in open_blobs(settings).list_keys("data")]
    return sorted(on_disk + stored)


def test_an_uploaded_csv_is_listed_and_trains_a_forecaster_at_once(
    client: TestClient, settings: Settings, store: Store
) -> None:
    body = gspc_slice(300)
    put = client.put("/api/v1/data/stocks/gspc.csv", content=body)
    assert put.status_code == 201, put.text
    described = put.json()
    assert described["name"] == "stocks/gspc.csv" and described["rows"] == 300
    assert described["columns"][0] == "Date" and described["bytes"] == len(body)
    assert len(described["sha256"]) == 64 and described["problem"] is None
    assert client.get("/api/v1/data").json() == [described]
    assert client.get("/api/v1/data/stocks/gspc.csv").json() == described
    assert client.get("/api/v1/data/stocks/gspc.csv", params={"download": True}).content == body

    config = {"csv": "stocks/gspc.csv", "time_column": "Date", "target": "Close",
              "missing": "fill", "epochs": 1, "sequence_length": 8, "hidden_size": 8,
              "batch_size": 64}  # fmt: skip
    submitted = client.post("/api/v1/runs", json={"pipeline": "forecaster", "config": config})
    assert submitted.status_code == 201, submitted.text
    run = submitted.json()["data"][0]
    Worker(settings, store).run_until_ended(run["id"])
    assert store.get_experiment(run["id"]).status == COMPLETED, store.get_experiment(
        run["id"]
    ).error

    refused = client.delete("/api/v1/data/stocks/gspc.csv")
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    assert f"run {run['id']} ({run['name']}, completed)" in message
    assert "stocks/gspc.csv" in folder_files(settings)
    assert client.delete(f"/api/v1/runs/{run['id']}").status_code == 204
    assert client.delete("/api/v1/data/stocks/gspc.csv").status_code == 204
    assert client.get("/api/v1/data").json() == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("Datum;Schlusskurs €\n2023-01-02;3,5\n".encode("cp1252"),
         "bad.csv is not a UTF-8 text CSV file: line 1 holds bytes 80"),
        (b"close\n1\n2\n", "bad.csv, line 1: one column ('close')"),
        (b"date,close\n", "bad.csv: no data rows after the header (date,close)"),
        (b"", "bad.csv is empty"),
        (b"date,close\n2023-01-02,1\n2023-01-03,1,2\n", "bad.csv, line 3"),
    ],
)  # fmt: skip
def test_a_file_the_reader_refuses_is_not_kept(
    client: TestClient, settings: Settings, body: bytes, said: str
) -> None:
    refused = client.put("/api/v1/data/bad.csv", content=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"].startswith(said), refused.text
    assert ".upload-" not in refused.text and str(settings.home) not in refused.text
    assert folder_files(settings) == []


def test_a_file_over_the_limit_is_413_and_not_kept(client: TestClient, settings: Settings) -> None:
    big = gspc_slice(3000)
    assert len(big) > MAX_UPLOAD
    refused = client.put("/api/v1/data/big.csv", content=big)
    assert refused.status_code == 413 and "AZURAFORGE_MAX_UPLOAD_BYTES" in refused.text
    chunks = iter([big[i : i + 65536] for i in range(0, len(big), 65536)])  # no length said
    streamed = client.put("/api/v1/data/big.csv", content=chunks)
    assert streamed.status_code == 413, streamed.text
    assert folder_files(settings) == []


@pytest.mark.parametrize(
    "name",
    ["../outside.csv", "sub/../../outside.csv", ".hidden.csv", "sub/.hidden/x.csv", "notes.txt",
     "projects/beta/sales.csv", "london-daily"],
)  # fmt: skip
def test_a_name_out_of_the_folder_is_refused(
    client: TestClient, settings: Settings, store: Store, name: str
) -> None:
    store.create_project("beta")
    refused = client.put(f"/api/v1/data/{name}", content=b"date,close\n2023-01-02,1\n")
    assert refused.status_code in (404, 422), refused.text  # '..' may be resolved by the client
    assert folder_files(settings) == []


def test_a_name_under_a_file_or_too_long_is_refused(
    client: TestClient, settings: Settings
) -> None:
    assert client.put("/api/v1/data/a.csv", content=b"a,b\n1,2\n").status_code == 201
    for name in ("a.csv/b.csv", "x" * 300 + ".csv"):
        refused = client.put(f"/api/v1/data/{name}", content=b"a,b\n1,2\n")
        assert refused.status_code == 422, refused.text
        assert str(settings.home) not in refused.text
    assert folder_files(settings) == ["a.csv"]


def test_an_existing_file_is_replaced_only_when_asked(client: TestClient) -> None:
    first, second = b"date,close\n2023-01-02,1\n", b"date,close\n2023-01-02,1\n2023-01-03,2\n"
    assert client.put("/api/v1/data/s.csv", content=first).status_code == 201
    again = client.put("/api/v1/data/s.csv", content=second)
    assert again.status_code == 409 and "overwrite=true" in again.text
    replaced = client.put("/api/v1/data/s.csv", content=second, params={"overwrite": True})
    assert replaced.status_code == 201 and replaced.json()["rows"] == 2
    assert client.get("/api/v1/data/s.csv", params={"download": True}).content == second


def test_an_uploaded_file_is_a_streams_source_and_it_and_a_version_keep_it(
    client: TestClient, store: Store
) -> None:
    assert client.put("/api/v1/data/prices.csv", content=gspc_slice(50)).status_code == 201
    config = {"source": "prices.csv", "price_column": "Close", "time_column": "Date"}
    started = client.post("/api/v1/streams", json={"config": config, "name": "prices-stream"})
    assert started.status_code == 201, started.text
    stream = store.get_experiment(started.json()["id"])
    store.create_model("m")
    store.create_version(
        "m", pipeline="forecaster", artifact_path="m/1", artifact_digest="0" * 64,
        source_experiment_id=None, source_experiment_name="gone", metrics={},
        config={"csv": "prices.csv", "target": "Close"}, data_fingerprint="0" * 64,
        created_by="admin",
    )  # fmt: skip
    refused = client.delete("/api/v1/data/prices.csv")
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    assert f"stream {stream.id} (prices-stream, queued)" in message
    assert "model version m/1" in message


def test_another_project_sees_none_of_the_files(client: TestClient, store: Store) -> None:
    assert client.put("/api/v1/data/sales.csv", content=gspc_slice(20)).status_code == 201
    store.create_project("beta")
    beta = user_headers(store, "bo", "admin", project="beta")
    assert client.get("/api/v1/data", headers=beta).json() == []
    assert client.get("/api/v1/data/sales.csv", headers=beta).status_code == 404
    assert client.delete("/api/v1/data/sales.csv", headers=beta).status_code == 404
    own = client.put("/api/v1/data/sales.csv", content=b"a,b\n1,2\n", headers=beta)
    assert own.status_code == 201 and own.json()["rows"] == 1  # beta's own, alpha's unchanged
    assert client.get("/api/v1/data/sales.csv").json()["rows"] == 20
    viewer = user_headers(store, "vi", "viewer")
    assert (
        client.put("/api/v1/data/v.csv", content=b"a,b\n1,2\n", headers=viewer).status_code == 403
    )
    assert client.get("/api/v1/data", headers=viewer).status_code == 200


def test_a_row_past_the_readers_head_is_checked_as_it_streams(
    client: TestClient, settings: Settings
) -> None:
    body = gspc_slice(3000)[:150_000]  # past the 64 KiB the reader reads whole
    body = body[: body.rindex(b"\n") + 1]
    lines, width = body.count(b"\n"), body.split(b"\n")[0].count(b",") + 1
    refused = client.put("/api/v1/data/long.csv", content=body + b"2024-01-02\n")
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith(f"long.csv, line {lines + 1}: 1 fields, expected {width} ("), message
    assert folder_files(settings) == []
    kept = client.put("/api/v1/data/long.csv", content=body)
    assert kept.status_code == 201 and kept.json()["rows"] == lines - 1


def test_the_data_files_export_as_csv(client: TestClient) -> None:
    assert (
        client.put("/api/v1/data/s.csv", content=b"date,close\n2023-01-02,1\n").status_code == 201
    )
    listed = client.get("/api/v1/data", params={"format": "csv", "columns": "name,rows,columns"})
    assert listed.text.splitlines() == ["name,rows,columns", 's.csv,1,"[""date"",""close""]"']


def test_an_upload_to_a_full_disk_is_507_saying_so_and_keeps_nothing(
    settings: Settings, store: Store, small_disk: SmallDisk
) -> None:
    """It answered 500 INTERNAL (OSError) while /health said disk.writable false."""
    on_disk = settings.model_copy(update={"data_dir": small_disk.path / "data"})
    (small_disk.path / "data" / "stocks").mkdir(parents=True)
    with TestClient(create_app(on_disk, store=store), headers=admin_headers(store)) as client:
        small_disk.fill()
        put = client.put("/api/v1/data/stocks/gspc.csv", content=gspc_slice(1000))
        elsewhere = client.put("/api/v1/data/new/gspc.csv", content=gspc_slice(30))
        small_disk.free()
        again = client.put("/api/v1/data/stocks/gspc.csv", content=gspc_slice(30))
    for answer in (put, elsewhere):
        assert answer.status_code == 507, answer.text
        assert answer.json()["error"] == {
            "code": "INSUFFICIENT_STORAGE",
            "message": "the server's disk is full: the upload of data file 'stocks/gspc.csv' "
            "was not kept; free space on it, then upload it again"
            if answer is put
            else "the server's disk is full: the upload of data file 'new/gspc.csv' was not "
            "kept; free space on it, then upload it again",
        }
        assert str(small_disk.path) not in answer.text
    assert again.status_code == 201, again.text
    assert folder_files(on_disk) == ["stocks/gspc.csv"]  # no partial upload left


def test_a_name_no_stored_file_may_have_is_refused_before_the_body(
    client: TestClient, settings: Settings
) -> None:
    refused = client.put("/api/v1/data/a%01b.csv", content=b"a,b\n1,2\n")
    assert refused.status_code == 422, refused.text
    assert "holds a control character" in refused.text and "sha256" not in refused.text
    assert folder_files(settings) == []
