"""Row comparison: multisets of whole rows, keys, and values that must not differ by chunk."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pandas as pd

from mdflow.profile import Profiles, compute
from mdflow.rowdiff import compare


def source(data: bytes, name: str) -> tuple[object, str]:
    return (lambda: io.BytesIO(data)), name


def csv(*rows: str, header: str = "id,v") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_duplicate_rows_count_as_a_multiset() -> None:
    old = source(csv("1,a", "1,a", "2,b"), "t.csv")
    new = source(csv("1,a", "2,b", "2,b", "3,c"), "t.csv")
    r = compare(old, new, ["id", "v"], [])  # type: ignore[arg-type]
    assert (r.compared_by, r.added, r.removed, r.unchanged) == ("content", 2, 1, 2)
    assert [e.after for e in r.examples_added] == [{"id": "2", "v": "b"}, {"id": "3", "v": "c"}]
    assert [e.before for e in r.examples_removed] == [{"id": "1", "v": "a"}]


def test_a_key_that_is_not_unique_falls_back_to_content() -> None:
    old = source(csv("1,a", "1,b"), "t.csv")
    new = source(csv("1,a", "1,c"), "t.csv")
    r = compare(old, new, ["id", "v"], ["id"])  # type: ignore[arg-type]
    assert (r.compared_by, r.added, r.removed) == ("content", 1, 1)


def test_chunks_with_and_without_nulls_compare_equal(tmp_path: Path) -> None:
    """Past the first chunk an int column with a null reads as float: 7 must still equal 7.0."""
    values = list(range(250_000))
    frame = pd.DataFrame({"id": values, "x": [None if i == 200_000 else i for i in values]})
    frame["x"] = frame["x"].astype("Int64")
    shifted = pd.concat([frame.iloc[:10], frame.iloc[11:]])  # one row removed near the start
    for name, write in (
        ("t.jsonl", lambda f, p: f.to_json(p, orient="records", lines=True)),
        ("t.parquet", lambda f, p: f.to_parquet(p)),
    ):
        a, b = tmp_path / f"a-{name}", tmp_path / f"b-{name}"
        write(frame, a)
        write(shifted, b)
        old, new = (functools.partial(p.open, "rb") for p in (a, b))
        r = compare((old, name), (new, name), ["id", "x"], [])  # type: ignore[arg-type]
        assert (r.added, r.removed, r.unchanged) == (0, 1, 249_999), name
        keyed = compare((old, name), (new, name), ["id", "x"], ["id"])  # type: ignore[arg-type]
        assert (keyed.compared_by, keyed.removed, keyed.changed) == ("key", 1, 0), name


def test_profile_counts_nulls_over_all_chunks_and_is_cached(tmp_path: Path) -> None:
    rows = [f"{i},{'' if i % 1000 == 0 else i}" for i in range(250_000)]
    data = csv(*rows)
    profile = compute(io.BytesIO(data), "t.csv")
    assert profile.rows == 250_000
    assert {c.name: (c.dtype, c.nulls) for c in profile.columns} == {
        "id": ("int64", 0),
        "v": ("float64", 250),
    }
    store = Profiles(tmp_path / "profiles")
    assert store.get("xxh3-128:" + "0" * 32, "t.csv", lambda: io.BytesIO(data)) == profile
    assert store.get("xxh3-128:" + "0" * 32, "t.csv", lambda: io.BytesIO(b"broken")) == profile
