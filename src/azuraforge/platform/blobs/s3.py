"""`S3Blobs`: blobs as the objects of an S3-compatible object store, through boto3.

AWS S3, SeaweedFS, MinIO, Ceph's gateway...: boto3 signs every request and runs the
multipart transfers (its managed ``upload_file``, ``download_file`` and ``copy``); a read
streams ``get_object``'s body. Imported on demand (by
:func:`~azuraforge.platform.blobs.blobs_from_url` for an ``s3://`` URL), so that a platform
on its local folder never loads boto3.
"""

from __future__ import annotations

import functools
import io
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from azuraforge.errors import BlobStoreUnavailableError, InvalidParameterError, NotFoundError
from azuraforge.platform.blobs.base import CHUNK_BYTES, BlobStore
from azuraforge.platform.blobs.keys import blob_prefix

PART_BYTES = 8 << 20
"""Bytes of one part of a multipart upload, download or copy (S3's least is 5 MiB)."""

DELETE_BATCH = 1000
"""Most keys one DeleteObjects request may name (S3's limit)."""

_MISSING = {"NoSuchKey", "NotFound", "404"}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
_PUBLIC = "the server's file store is unavailable; try again later, or tell its operator"


class S3Blobs(BlobStore):
    """Blobs as the objects ``<prefix>/<key>`` of one bucket of an S3-compatible store.

    A write is spooled to a temporary file (in ``tempfile``'s folder: ``TMPDIR``), then
    uploaded by boto3's managed transfer, in parts when large; the object appears only when
    the upload completes (S3 makes a PUT and a completed multipart upload visible at once),
    and a failed upload is aborted. Reads stream the object's body; a copy runs on the server.
    Memory stays within about ``part_size * max_concurrency`` whatever the blob's size.

    Parameters
    ----------
    url
        ``s3://bucket`` or ``s3://bucket/prefix``: the bucket (which must exist) and the
        folder-like prefix below which the keys go.
    endpoint
        The address of an S3-compatible server (``http://127.0.0.1:8333``); ``""`` for AWS
        itself (or boto3's ``AWS_ENDPOINT_URL``). A server of our own is addressed by path
        (``endpoint/bucket/key``), as SeaweedFS and MinIO expect.
    access_key_id, secret_access_key
        The credentials; ``None`` leaves them to boto3's usual chain (``AWS_ACCESS_KEY_ID``
        and ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and ``~/.aws``, an instance role).
        There is no default key.
    region
        The region to sign for; ``None``: boto3's (``AWS_REGION``...), else ``us-east-1``.
    part_size, max_concurrency
        Bytes of one part of a multipart transfer (5 MiB at least), and how many parts move at
        once.

    Raises
    ------
    InvalidParameterError
        If ``url`` is not ``s3://bucket[/prefix]`` with a valid prefix.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint: str = "",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        part_size: int = PART_BYTES,
        max_concurrency: int = 4,
    ) -> None:
        self.bucket, self.prefix = _bucket_and_prefix(url)
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint = endpoint
        config = Config(
            s3={"addressing_style": "path"} if endpoint else {},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            # NOTE: S3-compatible servers do not all check the CRC checksums boto3 adds to
            # every upload since 1.36; send them only where S3 requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = self._session = _session(with_keys=access_key_id is not None)
        self._keys_given = (access_key_id, secret_access_key)
        with _CLIENTS_LOCK:
            self._client = session.client(
                "s3",
                endpoint_url=endpoint or None,
                region_name=region or session.region_name or "us-east-1",
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=config,
            )
        self._transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=max_concurrency,
            max_io_queue=16,
        )

    def check(self) -> None:
        """Whether the bucket answers, asked once with short timeouts (``/health``)."""
        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchBucket", "404"):
                reason = f"bucket {self.bucket!r} does not exist: create it, or name another"
            elif code in _REFUSED:
                reason = f"the object store refused the credentials ({code})"
            else:
                reason = f"the object store answered {code or 'an error'}"
            raise BlobStoreUnavailableError(f"{self._where()}: {e}", public=reason) from e
        except NoCredentialsError:
            raise BlobStoreUnavailableError(
                f"no credentials for {self._where()}",
                public="no credentials for the object store: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
            ) from None
        except (BotoCoreError, Boto3Error) as e:
            raise BlobStoreUnavailableError(
                f"cannot use {self._where()}: {e}",
                public="the object store does not answer: start it, or check s3_endpoint",
            ) from e

    @functools.cached_property
    def _probe(self) -> Any:
        """A client that asks once and waits little, for :meth:`check`: at most 4 s in all,
        under the 5 s a load balancer's health check commonly waits, so a store that hangs
        makes ``/health`` say degraded rather than time out."""
        config = Config(
            s3={"addressing_style": "path"} if self.endpoint else {},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=2,
        )
        with _CLIENTS_LOCK:
            return self._session.client(
                "s3",
                endpoint_url=self.endpoint or None,
                region_name=self._client.meta.region_name,
                aws_access_key_id=self._keys_given[0],
                aws_secret_access_key=self._keys_given[1],
                config=config,
            )

    def _name(self, key: str) -> str:
        """The object name of ``key``: ``prefix/key``."""
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _writer(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.NamedTemporaryFile(prefix="azuraforge-blob-", suffix=".part") as spool:
            yield cast(BinaryIO, spool)
            spool.flush()
            self._put_file(Path(spool.name), key)

    def _put_file(self, path: Path, key: str) -> None:
        with self._errors(key):
            self._client.upload_file(
                str(path), self.bucket, self._name(key), Config=self._transfer
            )

    def _get_file(self, key: str, partial: Path) -> None:
        with self._errors(key):
            self._client.download_file(
                self.bucket, self._name(key), str(partial), Config=self._transfer
            )

    def _reader(self, key: str) -> BinaryIO | None:
        answer = self._object(key, self._client.get_object)
        if answer is None:
            return None
        return io.BufferedReader(_BodyReader(answer["Body"]), CHUNK_BYTES)

    def _size(self, key: str) -> int | None:
        answer = self._object(key, self._client.head_object)
        return None if answer is None else int(answer["ContentLength"])

    def _object(self, key: str, request: Callable[..., Any]) -> dict[str, Any] | None:
        """The answer of ``request`` (GetObject, HeadObject) about ``key``; ``None`` if no
        object is there."""
        try:
            with self._errors(key):
                return dict(request(Bucket=self.bucket, Key=self._name(key)))
        except NotFoundError:
            return None

    def _keys(self, prefix: str) -> Iterator[str]:
        # NOTE: sorted here: S3 lists in the order of the keys' bytes, but not every
        # S3-compatible server does (SeaweedFS lists a folder's files before its subfolders).
        return iter(sorted(self._listed(prefix)))

    def _listed(self, prefix: str) -> Iterator[str]:
        top = self._name(prefix) + "/" if prefix else self._name("")
        skip = len(self._name(""))
        pages = self._client.get_paginator("list_objects_v2")
        with self._errors(prefix):
            for page in pages.paginate(Bucket=self.bucket, Prefix=top):
                for found in page.get("Contents", ()):
                    name = str(found["Key"])
                    if not name.endswith("/"):
                        yield name[skip:]

    def _delete(self, key: str) -> None:
        with self._errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def _delete_below(self, prefix: str) -> int:
        keys = list(self._keys(prefix))
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self._name(key)} for key in keys[start : start + DELETE_BATCH]]
            with self._errors(prefix):
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise self._unavailable(
                    f"{len(answer['Errors'])} of the blobs below {prefix!r} were not deleted "
                    f"from {self._where()}: {first.get('Key')}: {first.get('Message')}"
                )
        return len(keys)

    def abort_unfinished(self, older_than: float) -> int:
        before = datetime.now(UTC) - timedelta(seconds=older_than)
        pages = self._client.get_paginator("list_multipart_uploads")
        aborted = 0
        with self._errors(""):
            for page in pages.paginate(Bucket=self.bucket, Prefix=self._name("")):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"] < before:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted

    def _copy(self, source: str, target: str) -> None:
        copied = {"Bucket": self.bucket, "Key": self._name(source)}
        with self._errors(source):
            self._client.copy(copied, self.bucket, self._name(target), Config=self._transfer)

    def _where(self) -> str:
        return f"{self.url} at {self.endpoint or 'AWS'}"

    def _unavailable(self, message: str) -> BlobStoreUnavailableError:
        return BlobStoreUnavailableError(message, public=_PUBLIC)

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """boto3's errors as ours: a missing ``key`` as :class:`NotFoundError`, the rest as
        :class:`BlobStoreUnavailableError` saying what to check."""
        try:
            yield
        except ClientError as e:
            raise self._client_error(key, e) from e
        except NoCredentialsError:
            raise self._unavailable(
                f"no credentials for {self._where()}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            ) from None
        except (BotoCoreError, Boto3Error) as e:
            cause = e.__context__
            if isinstance(cause, ClientError):
                raise self._client_error(key, cause) from e
            raise self._unavailable(f"cannot use {self._where()}: {e}") from e

    def _client_error(self, key: str, error: ClientError) -> Exception:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return self._missing(key)
        if code == "NoSuchBucket":
            return self._unavailable(
                f"bucket {self.bucket!r} does not exist at {self.endpoint or 'AWS'}: create it "
                f"(aws s3 mb s3://{self.bucket}), or name another in blob_store"
            )
        if code in _REFUSED:
            return self._unavailable(
                f"{self._where()} refused the credentials ({code}): check AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and the bucket's policy"
            )
        return self._unavailable(f"{self._where()} answered {code}: {error}")


_CLIENTS_LOCK = threading.Lock()


@functools.cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session()


def _session(with_keys: bool) -> boto3.session.Session:
    """The session to make a client in: one shared by the clients given their keys (a new
    session reads boto3's service models again, 0.2 s), a new one to read the credentials
    chain (AWS_* variables, ~/.aws...) as it stands now."""
    return _shared_session() if with_keys else boto3.session.Session()


class _BodyReader(io.RawIOBase):
    """A raw file over an HTTP body that reads forward (``get_object``'s ``Body``)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _bucket_and_prefix(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` split, checked."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket:
        raise InvalidParameterError(
            f"blob store {url!r} is not an S3 URL: expected s3://bucket or s3://bucket/prefix"
        )
    return bucket, blob_prefix(prefix)
