"""`mdflow get`, `import` and `update`: dataset versions from other repositories."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from mdflow import imports, reading
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.reading import DatasetRef
from mdflow.repo import Repo


def get(source: str, path: str, rev: str | None, out: str | None) -> tuple[Path, DatasetRef]:
    """Download a version from another repository into `out` (default: the path's name in
    the current folder), with no working tree of that repository; `rev` default: HEAD."""
    src, loc = reading.locate(path, rev or "HEAD", source)
    ref = reading.reference(src, loc)
    target = Path(os.path.abspath(out or PurePosixPath(ref.path).name))
    if os.path.lexists(target):
        raise MdflowError(f"{target} already exists", "remove it, or name another place with -o")
    reading.fill_cache(src.repo, loc)
    reading.copy_out(src.repo, loc, target)
    return target, ref


def import_dataset(repo: Repo, source: str, path: str, rev: str | None, out: str | None) -> Dataset:
    """Copy a version from `source` into this repository; its pointer remembers the source."""
    return imports.import_dataset(repo, source, path, rev, out)


def update(repo: Repo, path: str, rev: str | None) -> tuple[Dataset, Dataset]:
    """Move an imported dataset to its source's newest version (or to `rev`, followed from
    then on): (before, after); the same dataset twice when it is up to date."""
    return imports.update(repo, path, rev)
