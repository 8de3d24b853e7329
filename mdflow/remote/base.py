"""The interface every remote implements: a flat store of named files (docs/remote-layout.md).

Paths are POSIX paths relative to the remote's root (the store run's artifacts for MLflow).
What the remote *holds* is known from inventory files, never by asking it (see transfer.py).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class RemoteError(Exception):
    """A remote operation failed; `str()` says what, for the user."""


@dataclass(frozen=True)
class VersionInfo:
    """A dataset version as the remote records it (one MLflow run per version)."""

    path: str  # data path relative to the repository root
    hash: str
    kind: str
    size: int
    pointer_text: str
    manifest: bytes | None = None
    files: int | None = None
    rows: int | None = None
    columns: int | None = None
    git: dict[str, str] | None = None  # commit, branch, author


@dataclass(frozen=True)
class VersionRun:
    run_id: str
    uri: str  # runs:/<run id>
    url: str | None  # web page of the run, for a server


@dataclass(frozen=True)
class VersionRecord:
    """A version found on the remote (from its run), for `mdflow log`."""

    hash: str
    kind: str
    size: int
    rows: int | None
    files: int | None
    time: int  # unix time the run was created
    commit: str | None
    author: str | None
    run: VersionRun


class Remote(Protocol):
    name: str
    url: str

    def store_id(self) -> str:
        """Which store this is (MLflow: server and store run). Files listed by inventories of
        another store are not in this one, even under the same remote name."""
        ...

    def list(self, folder: str) -> list[str]:
        """Names of the files directly in `folder` ([] when it does not exist)."""
        ...

    def put(self, local: Path, dest: str) -> None:
        """Upload the file `local` to `dest` (a path ending with the remote file's name)."""
        ...

    def get(self, src: str, local: Path) -> None:
        """Download `src` to the path `local` (whose folder exists)."""
        ...

    def open_stream(self, src: str) -> BinaryIO | None:
        """The artifact `src` as a file object that reads while it downloads, or None when
        this remote cannot stream (then `get` it)."""
        ...

    def record_version(self, version: VersionInfo) -> VersionRun:
        """Find or create the run of this dataset version; idempotent."""
        ...

    def expect_records(self) -> None:
        """A hint: versions will be recorded after the transfer (get ready meanwhile)."""
        ...

    def run_tags(self, run_id: str) -> dict[str, str]:
        """Tags of a version run (visitors that already ran are recorded there)."""
        ...

    def log_report(
        self, run_id: str, visitor: str, folder: Path, metrics: dict[str, float], key: str
    ) -> None:
        """Log a visitor's report files under reports/<visitor>/ and its metrics; tag it done."""
        ...

    def report_texts(self, run_id: str) -> dict[str, str]:
        """The markdown reports of a run, by artifact path."""
        ...

    def versions(self, path: str) -> builtins.list[VersionRecord]:
        """Every recorded version of the dataset at `path` (relative to the repo root)."""
        ...

    def close(self) -> None: ...
