"""Response bodies of ``/data``: a file of the project's data folder."""

from __future__ import annotations

from pydantic import BaseModel, Field

from azuraforge.platform.store import DataFileRecord


class DataFilePublic(BaseModel):
    """A file of the project's data folder."""

    name: str = Field(description="Relative to the data folder: what a run's csv names.")
    bytes: int
    rows: int = Field(description="Data rows, the header left out.")
    columns: list[str] = Field(description="The header's names, as written.")
    delimiter: str | None = Field(description="',', ';' or 'tab'; None if it does not read.")
    sha256: str = Field(description="The SHA-256 of its bytes.")
    modified: float = Field(description="When it was last written (seconds since the epoch).")
    problem: str | None = Field(
        description="Why the CSV reader refuses it (a file put in the folder by hand), if it "
        "does; an uploaded file always reads."
    )

    @classmethod
    def of(cls, file: DataFileRecord) -> DataFilePublic:
        return cls(
            name=file.name, bytes=file.bytes, rows=file.rows, columns=list(file.columns),
            delimiter=file.delimiter, sha256=file.sha256, modified=file.modified,
            problem=file.problem,
        )  # fmt: skip
