"""Table profiles: rows, and every column's dtype and null count, read in bounded chunks.

A profile depends only on an object's content, so it is computed once per hash and kept in
`.mdflow/profiles/` (derived data: deleting the folder only costs a recomputation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, ValidationError

from mdflow import tables
from mdflow.pointer import write_atomic


class ColumnProfile(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str
    dtype: str
    nulls: int


class TableProfile(BaseModel):
    model_config = ConfigDict(defer_build=True)

    rows: int
    columns: list[ColumnProfile]

    def by_name(self) -> dict[str, ColumnProfile]:
        return {c.name: c for c in self.columns}


def compute(f: BinaryIO, name: str) -> TableProfile:
    """Profile the table in `f`; dtypes agreed over all chunks (pandas' common type)."""
    import pandas as pd

    rows = 0
    dtypes: dict[str, object] = {}
    nulls: dict[str, int] = {}
    for chunk in tables.read_chunks(f, name):
        rows += len(chunk)
        for col, dtype in chunk.dtypes.items():
            key = str(col)
            seen = dtypes.get(key)
            if seen is None:
                dtypes[key] = dtype
            elif seen != dtype:
                both = [pd.Series([], dtype=seen), pd.Series([], dtype=dtype)]  # type: ignore[call-overload]
                dtypes[key] = pd.concat(both).dtype
        for col, n in chunk.isna().sum().items():
            nulls[str(col)] = nulls.get(str(col), 0) + int(n)
    columns = [
        ColumnProfile(name=c, dtype=str(t), nulls=nulls.get(c, 0)) for c, t in dtypes.items()
    ]
    return TableProfile(rows=rows, columns=columns)


class Profiles:
    """Profiles of cache objects, stored by hash under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, oid: str, name: str, opener: Callable[[], BinaryIO]) -> TableProfile:
        path = self.folder / oid.split(":")[-1]
        with contextlib.suppress(FileNotFoundError, ValidationError):
            return TableProfile.model_validate_json(path.read_bytes())
        with opener() as f:
            profile = compute(f, name)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, profile.model_dump_json().encode())
        return profile
