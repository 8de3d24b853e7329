from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mdflow.tables import RowCounter, TableShape, parquet_shape


def count(name: str, data: bytes, chunk: int) -> TableShape | None:
    c = RowCounter(name)
    for i in range(0, len(data), chunk):
        c(data[i : i + chunk])
    return c.shape()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_csv_counts_quoted_newlines_and_escaped_quotes(chunk: int) -> None:
    data = b'a,"b,c",d\n1,"multi\nline ""quoted""",3\n4,5,6\n7,"x\r\ny",9'
    assert count("t.csv", data, chunk) == TableShape(rows=3, columns=3)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_jsonl_counts_non_blank_lines(chunk: int) -> None:
    data = b'{"a": 1, "b": 2}\n{"a": 3, "b": 4}\n\n'
    assert count("t.jsonl", data, chunk) == TableShape(rows=2, columns=2)


def test_tsv_and_header_only_and_empty() -> None:
    assert count("t.tsv", b"a\tb\tc\n1\t2\t3\n", 4) == TableShape(1, 3)
    assert count("t.csv", b"a,b\n", 4) == TableShape(0, 2)
    assert count("t.csv", b"", 4) is None


def test_counts_match_pandas(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": range(500), "text": [f"line {i}\nwith, comma" for i in range(500)]})
    f = tmp_path / "t.csv"
    df.to_csv(f, index=False)
    assert count("t.csv", f.read_bytes(), 4096) == TableShape(*pd.read_csv(f).shape)


def test_parquet_from_footer(tmp_path: Path) -> None:
    f = tmp_path / "t.parquet"
    pd.DataFrame({"a": range(10), "b": ["x"] * 10}).to_parquet(f)
    assert parquet_shape(str(f)) == TableShape(10, 2)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    assert parquet_shape(str(bad)) is None
