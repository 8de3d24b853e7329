"""Row-level comparison of two versions of a table, in bounded memory.

Each row is reduced to a 64-bit hash of its values (and of its key columns when a key is
declared), chunk by chunk; only these arrays stay in memory (16 bytes a row). Delimited
files are compared as text, exactly as written; other formats by value, numbers as float64
so that a chunk's inferred int and float columns agree. A second pass picks a few example
rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from mdflow import tables
from mdflow.changes import RowChanges, RowExample

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Opener = Callable[[], BinaryIO]
EXAMPLES = 5


@dataclass
class _Side:
    opener: Opener
    name: str
    rows: np.ndarray  # uint64 hash of the compared columns, per row
    keys: np.ndarray | None  # uint64 hash of the key columns, per row


def compare(
    old: tuple[Opener, str], new: tuple[Opener, str], columns: list[str], key: list[str]
) -> RowChanges:
    """Rows added, removed (and changed, by `key`) between two tables on `columns`."""
    a, b = _scan(*old, columns, key), _scan(*new, columns, key)
    if a.keys is not None and b.keys is not None and _unique(a.keys) and _unique(b.keys):
        return _by_key(a, b, columns, key)
    return _by_content(a, b, columns)


def _scan(opener: Opener, name: str, columns: list[str], key: list[str]) -> _Side:
    import numpy as np

    rows, keys = [], []
    with opener() as f:
        for chunk in _chunks(f, name, columns):
            rows.append(_hash(chunk, columns))
            if key:
                keys.append(_hash(chunk, key))
    empty = np.zeros(0, dtype=np.uint64)
    return _Side(
        opener,
        name,
        np.concatenate(rows) if rows else empty,
        (np.concatenate(keys) if keys else empty) if key else None,
    )


def _chunks(f: BinaryIO, name: str, columns: list[str]) -> Iterator[pd.DataFrame]:
    """Chunks holding `columns`, normalised so equal values hash equally in every chunk."""
    import pandas as pd

    if tables.table_kind(name) in ("csv", "tsv"):
        sep = "\t" if tables.table_kind(name) == "tsv" else ","
        reader = pd.read_csv(
            f, sep=sep, dtype=str, keep_default_na=False, usecols=columns, chunksize=100_000
        )
        yield from (chunk[columns] for chunk in reader)
        return
    for chunk in tables.read_chunks(f, name):
        out = {}
        for c in columns:
            col = chunk[c]
            numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            out[c] = col.astype("float64") if numeric else col.astype(str)
        yield pd.DataFrame(out)


def _hash(chunk: pd.DataFrame, columns: list[str]) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_pandas_object(chunk[columns], index=False).to_numpy()


def _unique(keys: np.ndarray) -> bool:
    import numpy as np

    return len(np.unique(keys)) == len(keys)


def _by_content(a: _Side, b: _Side, columns: list[str]) -> RowChanges:
    """Multiset difference of whole rows: a row present twice before and once after counts
    as one removed."""
    import numpy as np

    va, ca = np.unique(a.rows, return_counts=True)
    vb, cb = np.unique(b.rows, return_counts=True)
    _, ia, ib = np.intersect1d(va, vb, assume_unique=True, return_indices=True)
    common_a = np.zeros(len(va), dtype=np.int64)
    common_b = np.zeros(len(vb), dtype=np.int64)
    kept = np.minimum(ca[ia], cb[ib])
    common_a[ia] = kept
    common_b[ib] = kept
    removed_h = va[ca > common_a]
    added_h = vb[cb > common_b]
    return RowChanges(
        compared_by="content",
        columns=columns,
        added=int((cb - common_b).sum()),
        removed=int((ca - common_a).sum()),
        unchanged=int(kept.sum()),
        examples_added=[RowExample(after=r) for r in _pick(b, columns, b.rows, added_h)],
        examples_removed=[RowExample(before=r) for r in _pick(a, columns, a.rows, removed_h)],
    )


def _by_key(a: _Side, b: _Side, columns: list[str], key: list[str]) -> RowChanges:
    import numpy as np

    assert a.keys is not None and b.keys is not None
    both, ia, ib = np.intersect1d(a.keys, b.keys, assume_unique=True, return_indices=True)
    differ = a.rows[ia] != b.rows[ib]
    removed_k = np.setdiff1d(a.keys, both, assume_unique=True)
    added_k = np.setdiff1d(b.keys, both, assume_unique=True)
    changed_k = both[differ]
    before = dict(_pick_rows(a, columns, a.keys, changed_k))
    after = dict(_pick_rows(b, columns, b.keys, np.array(list(before), dtype=np.uint64)))
    changed = []
    for k, old_row in before.items():
        new_row = after.get(k, {})
        diff = {c for c in columns if old_row.get(c) != new_row.get(c)}
        changed.append(
            RowExample(
                key={c: old_row[c] for c in key},
                before={c: old_row[c] for c in columns if c in diff},
                after={c: new_row.get(c, "") for c in columns if c in diff},
            )
        )
    return RowChanges(
        compared_by="key",
        key=key,
        columns=columns,
        added=len(added_k),
        removed=len(removed_k),
        changed=int(differ.sum()),
        unchanged=int((~differ).sum()),
        examples_added=[RowExample(after=r) for r in _pick(b, columns, b.keys, added_k)],
        examples_removed=[RowExample(before=r) for r in _pick(a, columns, a.keys, removed_k)],
        examples_changed=changed,
    )


def _pick(
    side: _Side, columns: list[str], by: np.ndarray | None, wanted: np.ndarray
) -> list[dict[str, str]]:
    """Up to EXAMPLES rows of `side` whose hash (in `by`) is among `wanted`, in file order."""
    return [row for _, row in _pick_rows(side, columns, by, wanted)]


def _pick_rows(
    side: _Side, columns: list[str], by: np.ndarray | None, wanted: np.ndarray
) -> list[tuple[int, dict[str, str]]]:
    import numpy as np

    if by is None or not len(wanted):
        return []
    hits = np.flatnonzero(np.isin(by, wanted))
    _, first = np.unique(by[hits], return_index=True)  # each distinct row once
    hits = np.sort(hits[first])[:EXAMPLES]
    if not len(hits):
        return []
    found: list[tuple[int, dict[str, str]]] = []
    start = 0
    with side.opener() as f:
        for chunk in _chunks(f, side.name, columns):
            end = start + len(chunk)
            for i in hits[(hits >= start) & (hits < end)]:
                row = chunk.iloc[int(i) - start]
                found.append((int(by[i]), {c: _text(row[c]) for c in columns}))
            start = end
            if start > hits[-1]:
                break
    return found


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
