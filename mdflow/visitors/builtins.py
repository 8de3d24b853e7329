"""Built-in visitors: schema, summary, preview, rows, folder."""

from __future__ import annotations

import json
import numbers
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from mdflow.visitors.base import DatasetVersion, TableVisitor, builtin


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _columns(version: DatasetVersion | None) -> dict[str, str] | None:
    if version is None or not version.is_table:
        return None
    frame = version.frame()
    return {str(c): str(t) for c, t in frame.dtypes.items()}


@builtin("schema")
class Schema(TableVisitor):
    """Columns, dtypes and null counts; columns added, removed or retyped since the previous."""

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        frame = version.frame()
        nulls = frame.isna().sum()
        cols = {str(c): str(t) for c, t in frame.dtypes.items()}
        before = _columns(previous) or {}
        changes = {
            "added": sorted(set(cols) - set(before)) if before else [],
            "removed": sorted(set(before) - set(cols)),
            "retyped": sorted(c for c in cols if c in before and before[c] != cols[c]),
        }
        report = {
            "columns": [{"name": c, "dtype": t, "nulls": int(nulls[c])} for c, t in cols.items()],
            "changes": changes,
        }
        (out / "schema.json").write_text(json.dumps(report, indent=2))
        text = md_table(
            ["column", "dtype", "nulls"], [[c, t, int(nulls[c])] for c, t in cols.items()]
        )
        for kind, names in changes.items():
            if names:
                detail = ", ".join(
                    f"{n} ({before.get(n)} → {cols.get(n)})" if kind == "retyped" else n
                    for n in names
                )
                text += f"\n**Columns {kind}:** {detail}\n"
        (out / "schema.md").write_text(text)
        return {"columns": float(len(cols)), "null_cells": float(nulls.sum())}


@builtin("summary")
class Summary(TableVisitor):
    """Summary statistics of every column, like pandas describe."""

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        described = version.frame().describe(include="all").transpose()
        described.to_csv(out / "summary.csv")
        rows = [
            [str(i), *[statistic(v) for v in r]]
            for i, r in zip(described.index, described.values, strict=True)
        ]
        (out / "summary.md").write_text(md_table(["column", *map(str, described.columns)], rows))
        return {}


def statistic(value: Any) -> str:
    """A statistic for a reader: whole numbers (counts, integer minima) as integers with
    thousands separators, others to 4 significant digits (from 1,000 up: to the unit, with
    separators too, so a column reads alike), never in e-notation from 1e-4 up to 1e15."""
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    if number != number or abs(number) >= 1e15:  # NaN: empty; huge: as it comes
        return _fmt(number)
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.0f}" if abs(number) >= 1e3 else _fmt(number)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"  # NaN -> empty
    return str(value)


@builtin("preview")
class Preview(TableVisitor):
    """The first rows, as CSV (the MLflow UI shows it as a table) and markdown."""

    def __init__(self, rows: int = 20) -> None:
        self.rows = rows

    def visit_table(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        head = version.frame(max_rows=self.rows)
        head.to_csv(out / "preview.csv", index=False)
        (out / "preview.md").write_text(
            md_table([str(c) for c in head.columns], [[_fmt(v) for v in r] for r in head.values])
        )
        return {}


@builtin("rows")
class Rows:
    """Row count and size, and their change since the previous version."""

    def visit(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        metrics = {"size_bytes": float(version.size)}
        if previous is not None:
            metrics["size_delta"] = float(version.size - previous.size)
        if version.rows is not None:
            metrics["rows"] = float(version.rows)
            if previous is not None and previous.rows is not None:
                metrics["rows_delta"] = float(version.rows - previous.rows)
        (out / "rows.json").write_text(json.dumps(metrics, indent=2))
        return metrics


@builtin("folder")
class Folder:
    """Folders: file count, size, extensions; files added, removed, changed since the previous."""

    def visit(
        self, version: DatasetVersion, previous: DatasetVersion | None, out: Path
    ) -> dict[str, float]:
        if version.kind != "dir":
            return {}
        now = {p: h for p, h, _ in version.iter_files()}
        before = {p: h for p, h, _ in previous.iter_files()} if previous else {}
        ext = Counter(PurePosixPath(p).suffix or "(none)" for p in now)
        changes = {
            "added": sorted(now.keys() - before.keys()) if previous else [],
            "removed": sorted(before.keys() - now.keys()),
            "changed": sorted(p for p in now if p in before and before[p] != now[p]),
        }
        (out / "folder.json").write_text(json.dumps({"extensions": ext, **changes}, indent=2))
        text = md_table(["extension", "files"], [[e, n] for e, n in ext.most_common()])
        for kind, paths in changes.items():
            text += f"\n**{len(paths)} files {kind}**" + (
                ": " + ", ".join(paths[:20]) if paths else ""
            )
            text += " …\n" if len(paths) > 20 else "\n"
        (out / "folder.md").write_text(text)
        return {
            "files": float(len(now)),
            **{f"files_{k}": float(len(v)) for k, v in changes.items()},
        }
