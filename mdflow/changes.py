"""What changed between two versions of a repository's datasets: the records of `mdflow diff`.

These models are the `--format json` contract (docs/diff.md, schemas/diff.json); the text
and markdown renderings are made from them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mdflow.format_version import Version1

Status = Literal["added", "removed", "modified", "renamed"]


class _Record(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


class VersionRef(_Record):
    """One side of a dataset change, as its pointer (or the workspace) describes it."""

    hash: str
    kind: Literal["file", "dir"]
    size: int
    files: int | None = None
    rows: int | None = None
    columns: int | None = None
    run: str | None = Field(None, description="runs:/<id> of this version's MLflow run.")
    url: str | None = Field(None, description="Web page of that run.")


class FileChange(_Record):
    """A file inside a directory dataset."""

    path: str
    status: Status
    size_before: int | None = None
    size_after: int | None = None
    renamed_from: str | None = None


class FileChanges(_Record):
    """Files of a directory dataset, compared through the two manifests."""

    added: int = 0
    removed: int = 0
    modified: int = 0
    renamed: int = 0
    unchanged: int = 0
    bytes_added: int = Field(0, description="Bytes of added files and of grown files.")
    bytes_removed: int = Field(0, description="Bytes of removed files and of shrunk files.")
    changes: list[FileChange] = Field(default_factory=list, description="Every changed file.")

    @property
    def changed(self) -> int:
        return self.added + self.removed + self.modified + self.renamed


class ColumnChange(_Record):
    name: str
    status: Literal["added", "removed", "retyped", "nulls"]
    dtype_before: str | None = None
    dtype_after: str | None = None
    nulls_before: int | None = None
    nulls_after: int | None = None


class RowExample(_Record):
    """A row as text values by column; `before`/`after` both set for a changed row."""

    key: dict[str, str] | None = None
    before: dict[str, str] | None = None
    after: dict[str, str] | None = None


class RowChanges(_Record):
    compared_by: Literal["key", "content"]
    key: list[str] = Field(default_factory=list)
    columns: list[str] = Field(description="Columns the comparison looked at (both sides).")
    added: int
    removed: int
    changed: int = Field(0, description="Rows whose key is on both sides with other values.")
    unchanged: int
    examples_added: list[RowExample] = Field(default_factory=list)
    examples_removed: list[RowExample] = Field(default_factory=list)
    examples_changed: list[RowExample] = Field(default_factory=list)


class TableChanges(_Record):
    rows_before: int | None = None
    rows_after: int | None = None
    columns: list[ColumnChange] = Field(default_factory=list)
    rows: RowChanges | None = Field(None, description="Row comparison; null when not run.")


class DatasetChange(_Record):
    path: str = Field(description="Data path relative to the repository root.")
    status: Status
    renamed_from: str | None = None
    before: VersionRef | None = None
    after: VersionRef | None = None
    files: FileChanges | None = None
    table: TableChanges | None = None
    notes: list[str] = Field(
        default_factory=list, description="What could not be compared, and why."
    )


class DiffReport(_Record):
    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow diff")

    mdflow: Version1 = 1
    before: str = Field(description="The old side: a revision as given, or its merge base.")
    after: str = Field(description="The new side: a revision, or `workspace`.")
    before_commit: str | None = None
    after_commit: str | None = Field(None, description="null for the workspace.")
    datasets: list[DatasetChange] = Field(default_factory=list)
