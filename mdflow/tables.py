"""Row and column counts of tables, computed from the chunks of the hashing pass.

CSV/TSV and JSON lines are counted while their bytes stream through `mdflow add`; parquet
counts come from the footer (pyarrow is imported only then).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from mdflow.errors import MdflowError

if TYPE_CHECKING:
    import pandas as pd

DELIMITED = {".csv": ",", ".tsv": "\t"}
JSON_LINES = {".jsonl", ".ndjson"}
PARQUET = {".parquet", ".pq"}
_HEAD_LIMIT = 1 << 20


@dataclass(frozen=True)
class TableShape:
    rows: int
    columns: int


def is_table(name: str) -> bool:
    suffix = PurePosixPath(name).suffix.lower()
    return suffix in DELIMITED or suffix in JSON_LINES or suffix in PARQUET


class RowCounter:
    """Feed it every chunk of a delimited or JSON-lines file; read `shape()` at the end."""

    def __init__(self, name: str) -> None:
        suffix = PurePosixPath(name).suffix.lower()
        self.delimiter = DELIMITED.get(suffix)
        self.json_lines = suffix in JSON_LINES
        self.newlines = 0
        self.in_quotes = False
        self.last_byte = b""
        self.head = bytearray()
        self.blank_lines = 0

    def __call__(self, chunk: bytes) -> None:
        if not chunk:
            return
        if len(self.head) < _HEAD_LIMIT:
            self.head += chunk[: _HEAD_LIMIT - len(self.head)]
        if self.json_lines:
            self.blank_lines += chunk.count(b"\n\n") + chunk.count(b"\n\r\n")
            if self.last_byte == b"\n" and chunk[:1] == b"\n":
                self.blank_lines += 1
            self.newlines += chunk.count(b"\n")
        elif b'"' not in chunk and not self.in_quotes:
            self.newlines += chunk.count(b"\n")
        else:
            self._count_quoted(chunk)
        self.last_byte = chunk[-1:]

    def _count_quoted(self, chunk: bytes) -> None:
        # RFC 4180: a quote toggles quoting; an escaped quote ("") toggles twice.
        for part in chunk.split(b'"'):
            if not self.in_quotes:
                self.newlines += part.count(b"\n")
            self.in_quotes = not self.in_quotes
        self.in_quotes = not self.in_quotes

    def shape(self) -> TableShape | None:
        if not self.head:
            return None
        records = self.newlines + (0 if self.last_byte == b"\n" else 1)
        try:
            text = bytes(self.head).decode("utf-8-sig", errors="replace")
            if self.json_lines:
                first = json.loads(text.splitlines()[0])
                if not isinstance(first, dict):
                    return None
                return TableShape(max(records - self.blank_lines, 0), len(first))
            header = next(csv.reader(io.StringIO(text), delimiter=self.delimiter or ","))
        except (ValueError, StopIteration, csv.Error):
            return None
        return TableShape(max(records - 1, 0), len(header))


def parquet_shape(path: str) -> TableShape | None:
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
    except Exception:  # not a readable parquet file: no counts, not an error
        return None
    return TableShape(meta.num_rows, meta.num_columns)


def counter_for(name: str) -> RowCounter | None:
    suffix = PurePosixPath(name).suffix.lower()
    return RowCounter(name) if suffix in DELIMITED or suffix in JSON_LINES else None


def table_kind(name: str) -> str | None:
    """ "csv", "tsv", "jsonl" or "parquet" by file name; None for other files."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in DELIMITED:
        return suffix[1:]
    if suffix in JSON_LINES:
        return "jsonl"
    return "parquet" if suffix in PARQUET else None


def read_chunks(f: BinaryIO, name: str, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """The table in `f` as DataFrames of at most `chunk_rows` rows: bounded memory."""
    import pandas as pd

    kind = table_kind(name)
    if kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(f).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    elif kind == "jsonl":
        yield from pd.read_json(f, lines=True, chunksize=chunk_rows)
    elif kind is not None:
        yield from pd.read_csv(f, sep=DELIMITED["." + kind], chunksize=chunk_rows)
    else:
        raise ValueError(f"{name} is not a table")


def reader_of(name: str) -> str | None:
    """How a table is read by its name: delimited, jsonl or parquet; None for other files."""
    kind = table_kind(name)
    return "delimited" if kind in ("csv", "tsv") else kind


def require_table(name: str) -> str:
    """The reader of a table; a one-line error for any other file."""
    kind = reader_of(name)
    if kind is None:
        raise MdflowError(
            f"{name} is not a table (csv, tsv, parquet, json lines)",
            "open it with mdflow.open or mdflow.get_path instead",
        )
    return kind


def read_frame(source: Any, name: str, nrows: int | None = None, **kwargs: Any) -> pd.DataFrame:
    """A table as a pandas DataFrame; `source` is a path or a binary file object (parquet
    needs one that can seek). `kwargs` go to the pandas reader."""
    import pandas as pd

    kind = require_table(name)
    if kind == "parquet":
        frame = pd.read_parquet(source, **kwargs)
        return frame if nrows is None else frame.head(nrows)
    if kind == "jsonl":
        table: pd.DataFrame = pd.read_json(source, lines=True, nrows=nrows, **kwargs)
        return table
    sep = DELIMITED[PurePosixPath(name).suffix.lower()]
    table = pd.read_csv(source, **{"sep": sep, "nrows": nrows, **kwargs})
    return table
