"""Visitors: small classes that describe a dataset version and write reports.

A visitor gets the version being recorded and the previous one (when there is one), writes
report files (markdown, json, png, html) into a folder and returns a few scalar metrics. They
are declared in mdflow.yaml; built-ins by name, user classes by `module:Class` or
`path/to/file.py:Class`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
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


class Visitor(Protocol):
    """Write reports about `version` into `out`; return scalar metrics."""

    name: str

    def visit(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]: ...


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


_BUILTINS: dict[str, type] = {}


def builtin(name: str) -> Callable[[type], type]:
    """Register a built-in visitor class under `name`."""

    def register(cls: type) -> type:
        cls.name = name  # type: ignore[attr-defined]
        _BUILTINS[name] = cls
        return cls

    return register


def load(use: str, root: Path, options: dict[str, Any]) -> Visitor:
    """A visitor instance for `use`: a built-in name, `module:Class` or `file.py:Class`."""
    from mdflow.visitors import analysis, builtins  # noqa: F401 - registers the built-ins

    cls: Any
    if use in _BUILTINS:
        cls = _BUILTINS[use]
    else:
        target, sep, attr = use.rpartition(":")
        if not sep or not target or not attr:
            known = ", ".join(sorted(_BUILTINS))
            raise MdflowError(
                f"unknown visitor {use!r}",
                f"use a built-in ({known}), module:Class or file.py:Class",
            )
        cls = getattr(_module(target, root), attr, None)
        if cls is None:
            raise MdflowError(f"visitor {use!r}: no {attr} in {target}", "check the class name")
    instance = cls(**options)
    if not getattr(instance, "name", None):
        instance.name = use.rpartition(":")[2] or use
    return instance  # type: ignore[no-any-return]


def _module(target: str, root: Path) -> Any:
    if target.endswith(".py"):
        path = (root / target).resolve()
        spec = importlib.util.spec_from_file_location(f"mdflow_user_{path.stem}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise MdflowError(f"visitor file {target} not found", "check the path in mdflow.yaml")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(target)
    except ImportError as e:
        raise MdflowError(f"cannot import visitor module {target}: {e}", "check mdflow.yaml") from e


def options_key(use: str, options: dict[str, Any]) -> str:
    """Identifies (visitor, options): a visitor runs once per key and dataset hash."""
    text = json.dumps({"use": use, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
