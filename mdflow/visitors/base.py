"""What a visitor is: the dataset version it reads, the protocol it implements, the base of
table visitors, and the registry of built-ins (mdflow.visitors re-exports all of it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mdflow.errors import MdflowError
from mdflow.tables import read_frame, reader_of

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 1_000_000  # rows a visitor loads at most (a sample beyond): bounds memory


@dataclass
class DatasetVersion:
    """A dataset version as visitors see it; data loads lazily from the cache."""

    path: str  # relative to the repository root
    hash: str
    kind: str  # "file" or "dir"
    size: int
    open_object: Callable[[str], Any] = field(repr=False)  # oid -> binary file object
    files: list[tuple[str, str, int]] = field(default_factory=list)  # dirs: (path, hash, size)
    rows: int | None = None
    split: str | None = None  # train, test or validation, from `datasets:` in mdflow.yaml
    target: str | None = None  # the target column
    prediction: str | None = None  # a prediction column
    category: str | None = None  # a category column to group distributions by
    commit: str | None = None  # the commit that introduced this version, when known
    run: str | None = None  # its MLflow run (a URL or runs:/<id>), when known
    # the version of this dataset at a Git revision (a baseline), if its data can be had
    at: Callable[[str], DatasetVersion | None] | None = field(default=None, repr=False)
    # the current versions of the other splits with the same target, by split
    other_splits: Callable[[], dict[str, DatasetVersion]] | None = field(default=None, repr=False)

    def describe(self) -> str:
        """This version named for a reader: its hash, commit and run."""
        commit = f"commit {self.commit[:10]}" if self.commit else "no commit"
        return f"{self.hash} ({commit}, run {self.run or 'not recorded'})"

    @property
    def is_table(self) -> bool:
        return self.kind == "file" and reader_of(self.path) is not None

    def frame(self, max_rows: int = MAX_ROWS) -> pd.DataFrame:
        """The table as a pandas DataFrame (at most `max_rows` rows, read in one pass)."""
        if not self.is_table:
            raise MdflowError(f"{self.path} is not a table", "give visitors tables only")
        with self.open_object(self.hash) as f:
            return read_frame(f, self.path, nrows=max_rows)

    def iter_files(self) -> Iterator[tuple[str, str, int]]:
        """Folders: (relative path, hash, size) of every file."""
        return iter(self.files)


@dataclass
class Findings:
    """What a visitor may return instead of plain metrics: metrics, tags and tables, logged to
    the version's run as `<name>.<key>` metrics and tags, and tables under the visitor's
    report folder (MLflow tables: a DataFrame or a dict of columns, by `<file>.json`)."""

    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)


class Visitor(Protocol):
    """Write reports about `version` into `out`; return scalar metrics (or Findings)."""

    name: str

    def visit(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float] | Findings: ...


class TableVisitor:
    """Base of visitors that read tables: other datasets get no report."""

    name = ""

    def visit(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        if not version.is_table:
            return {}
        return self.visit_table(version, previous, out)

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        raise NotImplementedError


BUILTINS: dict[str, type] = {}


def builtin(name: str) -> Callable[[type], type]:
    """Register a built-in visitor class under `name`."""

    def register(cls: type) -> type:
        cls.name = name  # type: ignore[attr-defined]
        BUILTINS[name] = cls
        return cls

    return register
