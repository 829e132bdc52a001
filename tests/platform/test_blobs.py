"""BlobStoreContract on both backends: a folder (LocalBlobs) and a real S3-compatible server
(SeaweedFS's weed, tests/platform/s3_server.py) through S3Blobs. Then what each does besides
(the folder's links and leftovers, the object store's refusals) and the URLs and settings
that pick one."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azuraforge.errors import BlobStoreUnavailableError, ConflictError, InvalidParameterError
from azuraforge.platform.blobs import LocalBlobs, blobs_from_url, open_blobs
from azuraforge.platform.blobs.s3 import S3Blobs
from azuraforge.platform.settings import Settings
from azuraforge.testing.blobs import BlobStoreContract
from tests.platform.s3_server import BUCKET, S3Server
from tests.platform.servers import free_port


class TestLocalBlobs(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> LocalBlobs:
        return LocalBlobs(tmp_path / "blobs")

    def test_a_failed_write_leaves_no_file(self, blobs: LocalBlobs) -> None:
        blobs.put_bytes("runs/1/kept", b"")
        with pytest.raises(RuntimeError), blobs.open_writer("runs/1/model.bin") as out:
            out.write(b"half a model")
            raise RuntimeError("interrupted")
        assert sorted(path.name for path in blobs.root.rglob("*")) == ["1", "kept", "runs"]

    def test_a_write_its_writer_left_is_dropped_once_old_enough(self, blobs: LocalBlobs) -> None:
        blobs.put_bytes("runs/1/kept", b"")
        left = blobs.root / "runs" / "1" / ".model.bin.0a1b2c.part"  # a killed writer's
        left.write_bytes(b"half a model")
        assert blobs.abort_unfinished(older_than=3600) == 0
        os.utime(left, (time.time() - 7200, time.time() - 7200))
        assert blobs.abort_unfinished(older_than=3600) == 1
        assert not left.exists() and list(blobs.list_keys()) == ["runs/1/kept"]

    def test_a_link_out_of_the_folder_is_refused_at_open(
        self, blobs: LocalBlobs, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "secret").write_bytes(b"not the store's")
        blobs.put_bytes("runs/1/report.md", b"")
        (blobs.root / "runs" / "2").symlink_to(outside)
        calls: list[Callable[[], Any]] = [
            lambda: blobs.get_bytes("runs/2/secret"),
            lambda: blobs.size("runs/2/secret"),
            lambda: blobs.put_bytes("runs/2/planted", b"x"),
            lambda: blobs.copy("runs/1/report.md", "runs/2/planted"),
        ]
        for call in calls:
            with pytest.raises(
                InvalidParameterError, match=r"'runs/2/\w+' leads out of"
            ) as caught:
                call()
            assert str(tmp_path) not in caught.value.public
        assert [path.name for path in outside.iterdir()] == ["secret"]

    def test_deleting_a_folders_last_blob_removes_the_empty_folders(
        self, blobs: LocalBlobs
    ) -> None:
        blobs.put_bytes("runs/1/artifact/model.npz", b"")
        blobs.put_bytes("models/m/1", b"")
        blobs.delete("runs/1/artifact/model.npz")
        assert sorted(path.name for path in blobs.root.iterdir()) == ["models"]
        assert blobs.delete_prefix("") == 1
        assert list(blobs.root.iterdir()) == []

    def test_a_key_and_a_prefix_of_keys_clash(self, blobs: LocalBlobs) -> None:
        blobs.put_bytes("runs/1", b"a blob")
        blobs.put_bytes("runs/2/report.md", b"")
        with pytest.raises(ConflictError, match=r"'runs/1/report\.md' cannot be written"):
            blobs.put_bytes("runs/1/report.md", b"")
        with pytest.raises(ConflictError, match="'runs/2' cannot be written"):
            blobs.put_bytes("runs/2", b"")
        assert list(blobs.list_keys()) == ["runs/1", "runs/2/report.md"]


class TestS3Blobs(BlobStoreContract):
    @pytest.fixture
    def blobs(self, s3_server: S3Server) -> Iterator[S3Blobs]:
        blobs = s3_server.blobs(f"contract/{uuid.uuid4().hex}")
        yield blobs
        blobs.delete_prefix("")

    def test_an_upload_its_writer_left_open_is_aborted_once_old_enough(
        self, blobs: S3Blobs
    ) -> None:
        """A killed upload left its multipart upload open in the bucket, kept (and billed)."""
        client, name = blobs._client, f"{blobs.prefix}/runs/1/model.bin"
        started = client.create_multipart_upload(Bucket=blobs.bucket, Key=name)
        client.upload_part(Bucket=blobs.bucket, Key=name, UploadId=started["UploadId"],
                           PartNumber=1, Body=b"half a model")  # fmt: skip
        other = f"{blobs.prefix}-beside"  # another store's prefix: not ours to drop
        theirs = client.create_multipart_upload(Bucket=blobs.bucket, Key=f"{other}/x")

        def open_uploads() -> list[str]:
            listed = client.list_multipart_uploads(Bucket=blobs.bucket, Prefix=f"{blobs.prefix}/")
            return [upload["Key"] for upload in listed.get("Uploads", ())]

        assert blobs.abort_unfinished(older_than=3600) == 0  # a write that may still go on
        assert open_uploads() == [name]
        assert blobs.abort_unfinished(older_than=0) == 1
        assert open_uploads() == []
        client.abort_multipart_upload(Bucket=blobs.bucket, Key=f"{other}/x",
                                      UploadId=theirs["UploadId"])  # fmt: skip

    def test_refused_credentials_say_what_to_check(self, s3_server: S3Server) -> None:
        wrong = S3Blobs(
            f"s3://{BUCKET}/refused",
            endpoint=s3_server.endpoint,
            access_key_id=s3_server.access_key_id,
            secret_access_key="not-the-key",
        )
        with pytest.raises(BlobStoreUnavailableError, match="AWS_SECRET_ACCESS_KEY") as caught:
            wrong.put_bytes("report.md", b"")
        assert s3_server.endpoint not in caught.value.public
        assert BUCKET not in caught.value.public

    def test_a_missing_bucket_says_to_create_it(self, s3_server: S3Server) -> None:
        blobs = S3Blobs(
            "s3://no-such-bucket/af",
            endpoint=s3_server.endpoint,
            access_key_id=s3_server.access_key_id,
            secret_access_key=s3_server.secret_access_key,
        )
        with pytest.raises(BlobStoreUnavailableError, match="bucket 'no-such-bucket' does not"):
            blobs.get_bytes("report.md")

    def test_a_server_that_is_down_is_unavailable_within_seconds(self) -> None:
        endpoint = f"http://127.0.0.1:{free_port()}"
        blobs = S3Blobs("s3://bucket", endpoint=endpoint, access_key_id="a", secret_access_key="b")
        started = time.monotonic()
        with pytest.raises(
            BlobStoreUnavailableError, match=f"cannot use s3://bucket at {endpoint}"
        ):
            blobs.exists("report.md")
        assert time.monotonic() - started < 5


def test_the_settings_default_to_a_folder_in_the_home(tmp_path: Path) -> None:
    blobs = open_blobs(Settings(home=tmp_path, database_url=""))
    assert isinstance(blobs, LocalBlobs)
    assert blobs.root == tmp_path / "blobs"


def test_the_settings_open_a_bucket_with_the_aws_variables(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"settings/{uuid.uuid4().hex}"
    for name, value in s3_server.environment(prefix).items():
        monkeypatch.setenv(name, value)
    blobs = open_blobs(Settings())
    assert blobs.url == f"s3://{BUCKET}/{prefix}"
    blobs.put_bytes("runs/1/report.md", b"# report")
    assert s3_server.blobs(prefix).get_bytes("runs/1/report.md") == b"# report"
    assert blobs.delete_prefix("") == 1


def test_urls_pick_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert blobs_from_url(f"file://{tmp_path}/b").url == f"file://{tmp_path}/b"
    assert blobs_from_url("~/b").url == f"file://{tmp_path}/b"
    assert blobs_from_url("s3://bucket/af/", s3_endpoint="http://127.0.0.1:1").url == (
        "s3://bucket/af"
    )
    refused = {
        "gs://bucket/af": "of scheme 'gs'",
        "": "is empty",
        "file://otherhost/srv/af": "names host 'otherhost'",
        "s3:///af": "not an S3 URL",
        "s3://bucket/af/../etc": "'..' name",
    }
    for url, problem in refused.items():
        with pytest.raises(InvalidParameterError, match=problem):
            blobs_from_url(url)
