"""`mdflow get`, `import` and `update`: dataset versions from other repositories."""

from __future__ import annotations

from pathlib import Path

from mdflow import imports, reading, runs
from mdflow.datasets import Dataset
from mdflow.reading import DatasetRef
from mdflow.repo import Repo


def get(source: str, path: str, rev: str | None, out: str | None) -> tuple[Path, DatasetRef]:
    """Download a version from another repository into `out` (default: the path's name in
    the current folder), with no working tree of that repository; `rev` default: HEAD."""
    return reading.export(source, path, rev, out)


def get_run(uri: str, out: str | None, remote: str | None) -> runs.Fetched:
    """Download the version an MLflow run records (runs:/<id>) through the server alone: no
    Git repository needed; `remote` default: MLFLOW_TRACKING_URI."""
    return runs.get(uri, out, remote)


def list_source(source: str, path: str | None, rev: str | None) -> list[reading.Listed]:
    """The datasets of another repository at `rev` (default: HEAD), from its pointers alone
    (no working tree of it, no data downloaded); with `path`, those at or below it."""
    return reading.list_source(source, path, rev)


def import_dataset(repo: Repo, source: str, path: str, rev: str | None, out: str | None) -> Dataset:
    """Copy a version from `source` into this repository; its pointer remembers the source."""
    return imports.import_dataset(repo, source, path, rev, out)


def update(repo: Repo, path: str, rev: str | None) -> tuple[Dataset, Dataset]:
    """Move an imported dataset to its source's newest version (or to `rev`, followed from
    then on): (before, after); the same dataset twice when it is up to date."""
    return imports.update(repo, path, rev)
