"""The catalogue of versions: the half of a remote that knows dataset versions as runs
(one MLflow run per version, with its tags, metrics, pointer and visitors' reports)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Column:
    """A column of a table version: its name, pandas dtype and count of missing values."""

    name: str
    dtype: str
    nulls: int


@dataclass(frozen=True)
class VersionInfo:
    """A dataset version, as a push records it."""

    path: str  # data path relative to the repository root
    hash: str
    kind: str
    size: int
    pointer_text: str
    manifest: bytes | None = None
    files: int | None = None
    rows: int | None = None
    columns: int | None = None
    git: dict[str, str] | None = None  # branch; commit, author, subject of the commit holding it
    ordinal: int | None = None  # v1, v2, ...: its place in the history of that commit
    split: str | None = None  # declared in mdflow.yaml (train, test, validation)
    columns_info: list[Column] | None = None  # tables: the columns
    profile: dict[str, int] | None = None  # counts shown with the dataset (num_rows, ...)
    description: str = ""  # markdown: what the version is, what changed since the last one
    source_uri: str | None = None  # mdflow://<repo>@<commit>:<path>, once a commit holds it

    @property
    def pending(self) -> bool:
        """No commit holds this version yet (recorded before `git commit`, which may fail)."""
        return not (self.git or {}).get("commit")


@dataclass(frozen=True)
class VersionRun:
    run_id: str
    uri: str  # runs:/<run id>
    url: str | None  # web page of the run, for a server
    pending: bool = False  # no commit was known to hold the version when it was recorded


@dataclass(frozen=True)
class VersionRecord:
    """A version found in the catalogue (from its run), for `mdflow log`."""

    hash: str
    kind: str
    size: int
    rows: int | None
    files: int | None
    time: int  # unix time the run was created
    commit: str | None
    author: str | None
    run: VersionRun

    @property
    def pending(self) -> bool:
        return self.run.pending


@dataclass(frozen=True)
class RunVersion:
    """What a version run says of its version (hostile until checked: tags and artifacts
    anyone with access to the server may have written)."""

    path: str  # the mdflow.path tag
    pointer_text: str  # the pointer artifact


class VersionCatalog(Protocol):
    def record_version(self, version: VersionInfo) -> VersionRun:
        """Find or create the run of this dataset version; idempotent. A run is pending while
        no commit holds the version; recording it again with the commit confirms it."""
        ...

    def versions(self, path: str) -> list[VersionRecord]:
        """Every recorded version of the dataset at `path` (relative to the repo root)."""
        ...

    def version_of_run(self, run_id: str) -> RunVersion:
        """The version a run records (its path tag and pointer artifact)."""
        ...

    def run_tags(self, run_id: str) -> dict[str, str]:
        """Tags of a version run (visitors that already ran are recorded there)."""
        ...

    def log_report(
        self,
        run_id: str,
        visitor: str,
        folder: Path,
        metrics: dict[str, float],
        key: str,
        *,
        artifacts: str | None = None,
        tags: dict[str, str] | None = None,
        tables: dict[str, Any] | None = None,
    ) -> None:
        """Log a visitor's report files under `artifacts` (default reports/<visitor>/), its
        metrics and tags (as `<visitor>.<key>`) and tables (MLflow tables, by file name in
        the same folder); tag it done."""
        ...

    def report_files(self, run_id: str) -> dict[str, str | None]:
        """Every report file of a run (reports/ and one level below), by artifact path: the
        text of a markdown report, None for the others (HTML, PNG, CSV, JSON)."""
        ...
