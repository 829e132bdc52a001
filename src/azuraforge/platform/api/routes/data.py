"""``/data``: the caller's project's data files, kept in the blob store so that every API
process and worker sees them (:mod:`~azuraforge.platform.services.data_files`).
``PUT /data/{file}`` uploads a CSV (streamed, at most ``max_upload_bytes``), checked by the CSV
reader before it is kept;
``GET /data`` lists the files with their columns, rows and checksum; ``GET /data/{file}``
describes one (``?download=true`` sends it); ``DELETE /data/{file}`` removes one that no
job or registered version names. A file's name is what a pipeline's ``csv`` or a stream's
``source`` names."""

from __future__ import annotations

import errno
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.api.access import READ, WRITE
from azuraforge.platform.api.deps import DataFilesDep, DataFolderDep, invalid_path
from azuraforge.platform.api.list_csv import CsvAsked, csv_of, csv_responses, list_csv
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.data import DataFilePublic
from azuraforge.platform.api.streaming import stream_into
from azuraforge.platform.services.data_files import (
    NAME_PATTERN,
    DataFiles,
    upload_not_kept,
)

router = APIRouter(prefix="/data", tags=["data"])
ERRORS = error_responses()
FileName = Annotated[
    str,
    Path(description="The file's name relative to the project's data folder (sales.csv, "
         "shops/paris.csv), as a pipeline's csv or a stream's source names it.",
         pattern=NAME_PATTERN),
]  # fmt: skip
CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}


DataFilesCsv = csv_of(DataFilePublic)
"""The CSV parameters of the list of DataFilePublic."""


@router.get(
    "",
    dependencies=[READ],
    response_model=list[DataFilePublic],
    responses={**ERRORS, **csv_responses("The data files.")},
)
def list_data_files(
    folder: DataFolderDep, store: DataFilesDep, csv: Annotated[CsvAsked | None, DataFilesCsv]
) -> list[DataFilePublic] | Response:
    """The CSV files of the project's data folder, by name (each read once while unchanged:
    its columns, rows and SHA-256); or (``format=csv``, or ``Accept: text/csv``) as CSV."""
    files = [DataFilePublic.of(file) for file in DataFiles(folder, store).list()]
    if csv:
        return list_csv(lambda o, n: files[o : o + n], csv, "data-files.csv")
    return files


@router.get(
    "/{file:path}",
    dependencies=[READ],
    response_model=DataFilePublic,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
)
def get_data_file(
    file: FileName,
    folder: DataFolderDep,
    store: DataFilesDep,
    download: Annotated[bool, Query(description="Send the file itself.")] = False,
) -> DataFilePublic | Response:
    """The file ``file`` of the project's data folder, described, or itself with
    ``download=true``; 404 if there is none."""
    files = DataFiles(folder, store)
    if download:
        path = files.path(file)
        return FileResponse(path, media_type="text/csv", filename=path.name)
    return DataFilePublic.of(files.describe(file))


@router.put(
    "/{file:path}",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=DataFilePublic,
    responses=ERRORS,
    openapi_extra=CSV_BODY,
)
async def upload_data_file(
    file: FileName,
    request: Request,
    folder: DataFolderDep,
    store: DataFilesDep,
    overwrite: Annotated[bool, Query(description="Replace a file of that name.")] = False,
) -> DataFilePublic:
    """Upload a CSV file (the body's bytes, streamed; at most the server's
    ``max_upload_bytes``, else 413) as ``file`` in the project's data folder, usable at once
    as a pipeline's csv or a stream's source. It must read: UTF-8 text, fields separated by
    ',', ';' or tabs, a header of two columns or more and at least one row; else 422 with
    the reader's message, and nothing is kept. A file of that name is replaced only with
    ``overwrite=true`` (409 before the body is read, else). A disk with no room for it
    answers 507, and nothing is kept."""
    files = DataFiles(folder, store)
    try:
        partial = await run_in_threadpool(files.start_upload, file, overwrite=overwrite)
    except InvalidParameterError as e:
        raise invalid_path("file", e) from None
    try:
        await stream_into(await run_in_threadpool(partial.open, "wb"), request.stream())
    except BaseException as e:
        partial.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise upload_not_kept(file, e) from e
        raise
    kept = await run_in_threadpool(files.finish_upload, file, partial, overwrite=overwrite)
    return DataFilePublic.of(kept)


@router.delete(
    "/{file:path}",
    dependencies=[WRITE],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
def delete_data_file(file: FileName, folder: DataFolderDep, store: DataFilesDep) -> Response:
    """Remove the file ``file`` from the project's data folder; 409 naming them if runs,
    streams or registered model versions name it (delete those first), 404 if there is
    none."""
    DataFiles(folder, store).delete(file)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
