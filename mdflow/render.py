"""Human renderings of a DiffReport: plain text for terminals, markdown for pull requests.

Long lists are cut (LIST_LIMIT examples, then "… and N more"); every number shown comes
from the report, so `--format json` holds everything the renderings summarise.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mdflow.changes import (
        ColumnChange,
        DatasetChange,
        DiffReport,
        FileChange,
        FileChanges,
        RowChanges,
        RowExample,
        TableChanges,
        VersionRef,
    )

LIST_LIMIT = 10
MARKER = "<!-- mdflow-diff -->"  # lets CI find and update its own pull-request comment


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`1 object`, `2 objects` (`many`: the plural when it is not `noun` + s)."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def _num(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _delta(a: int | None, b: int | None) -> str:
    if a is None or b is None or a == b:
        return ""
    return f" ({b - a:+,})"


def _counted(a: int | None, b: int | None, noun: str) -> str:
    """`1 file`, `3 files`, `1 → 2 (+1) files`: a count that may change, with its noun."""
    shown = _from_to(a, b)
    return f"{shown} {noun if shown == '1' else noun + 's'}"


def _from_to(a: int | None, b: int | None, size: bool = False) -> str:
    shown = human if size else _num
    if a is None:
        return "" if b is None else shown(b)
    if b is None or a == b:
        return shown(a)
    return f"{shown(a)} → {shown(b)}" + ("" if size else _delta(a, b))


def file_summary(f: FileChanges) -> str:
    parts = [f"+{f.added}", f"-{f.removed}", f"~{f.modified}"]
    if f.renamed:
        parts.append(f"→{f.renamed} renamed")
    return " ".join(parts) + " files"


def row_summary(r: RowChanges) -> str:
    parts = [f"+{r.added:,}", f"-{r.removed:,}"]
    if r.compared_by == "key":
        parts.append(f"~{r.changed:,}")
    how = f"by key {', '.join(r.key)}" if r.compared_by == "key" else "by content"
    return f"{' '.join(parts)} rows ({how})"


def column_summary(cols: list[ColumnChange]) -> str:
    counts: Counter[str] = Counter(c.status for c in cols)
    order = ("added", "removed", "retyped", "nulls")
    words = {"nulls": "with null changes"}
    return ", ".join(f"{counts[s]} {words.get(s, s)}" for s in order if counts[s])


def headline(c: DatasetChange) -> str:
    """One line: what happened to the dataset, in numbers."""
    a, b = c.before, c.after
    parts = []
    if c.status == "renamed":
        return f"renamed from {c.renamed_from}"
    if a and b:
        parts.append(_from_to(a.size, b.size, size=True))
    elif a or b:
        ref = a or b
        assert ref is not None
        parts.append(human(ref.size))
    if c.files and c.files.changed:
        parts.append(file_summary(c.files))
    elif (a and a.files is not None) or (b and b.files is not None):
        parts.append(_counted(a.files if a else None, b.files if b else None, "file"))
    t = c.table
    if t is not None:
        if t.rows_before is not None or t.rows_after is not None:
            parts.append(_counted(t.rows_before, t.rows_after, "row"))
        if t.rows is not None:
            parts.append(row_summary(t.rows))
        if t.columns:
            parts.append("columns: " + column_summary(t.columns))
    return ", ".join(p for p in parts if p)


def stat(report: DiffReport) -> str:
    if not report.datasets:
        return "no data changes\n"
    width = max(len(c.path) for c in report.datasets)
    lines = [f" {c.path:<{width}} | {c.status:<8} {headline(c)}" for c in report.datasets]
    counts = Counter(c.status for c in report.datasets)
    total = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines.append(f" {plural(len(report.datasets), 'dataset')} changed ({total})")
    return "\n".join(lines) + "\n"


def text(report: DiffReport) -> str:
    out = [f"mdflow diff {report.before} → {report.after}"]
    if not report.datasets:
        return out[0] + "\nno data changes\n"
    for c in report.datasets:
        out.append("")
        out.append(f"{c.status} {c.path}{'/' if _is_dir(c) else ''}: {headline(c)}")
        a, b = c.before, c.after
        if a and b and a.hash != b.hash:
            out.append(f"  hash {a.hash} → {b.hash}")
        if c.table:
            out += [f"  {line}" for line in _table_text(c.table)]
        if c.files:
            out += [f"  {line}" for line in _files_text(c.files)]
        for label, ref in (("before", a), ("after", b)):
            if ref and ref.url:
                out.append(f"  {label}: {ref.url} (reports: {reports_url(ref.url)})")
            elif ref and ref.run:
                out.append(f"  {label}: {ref.run}")
        out += [f"  note: {n}" for n in c.notes]
    return "\n".join(out) + "\n"


def _is_dir(c: DatasetChange) -> bool:
    ref = c.after or c.before
    return ref is not None and ref.kind == "dir"


def _column_line(c: ColumnChange) -> str:
    if c.status == "added":
        nulls = "? nulls" if c.nulls_after is None else plural(c.nulls_after, "null")
        return f"+ column {c.name} ({c.dtype_after}, {nulls})"
    if c.status == "removed":
        return f"- column {c.name} ({c.dtype_before})"
    if c.status == "retyped":
        return f"~ column {c.name}: {c.dtype_before} → {c.dtype_after}"
    return f"~ column {c.name}: nulls {c.nulls_before} → {c.nulls_after}"


def _table_text(t: TableChanges) -> list[str]:
    lines = [_column_line(c) for c in t.columns]
    r = t.rows
    if r is None:
        return lines
    lines.append(f"{row_summary(r)}, {r.unchanged:,} unchanged")
    lines += [f"  + {_row(e.after)}" for e in r.examples_added]
    lines += [f"  - {_row(e.before)}" for e in r.examples_removed]
    lines += [f"  ~ {_changed(e)}" for e in r.examples_changed]
    return lines


def _v(value: str | None) -> str:
    return "(empty)" if value == "" else str(value)


def _row(values: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={_v(v)}" for k, v in (values or {}).items())


def _changed(e: RowExample) -> str:
    fields = ", ".join(
        f"{k}: {_v((e.before or {}).get(k))} → {_v((e.after or {}).get(k))}" for k in e.after or {}
    )
    return f"{_row(e.key)}: {fields}"


def _files_text(f: FileChanges) -> list[str]:
    lines = [f"{file_summary(f)}, {f.unchanged:,} unchanged"]
    lines += [f"  {_file_line(ch)}" for ch in f.changes[:LIST_LIMIT]]
    if len(f.changes) > LIST_LIMIT:
        lines.append(f"  … and {len(f.changes) - LIST_LIMIT:,} more (--format json lists all)")
    return lines


def _file_line(ch: FileChange) -> str:
    sign = {"added": "+", "removed": "-", "modified": "~", "renamed": "→"}[ch.status]
    if ch.status == "renamed":
        return f"{sign} {ch.renamed_from} → {ch.path}"
    size = _from_to(ch.size_before, ch.size_after, size=True)
    return f"{sign} {ch.path} ({size})"


def markdown(report: DiffReport) -> str:
    """A pull-request comment: one summary table, details per dataset folded away."""
    n = len(report.datasets)
    title = f"### mdflow: {plural(n, 'dataset')} changed" if n else "### mdflow: no data changes"
    out = [
        MARKER,
        title,
        "",
        f"`{report.before}`{_short(report.before_commit)} → "
        f"`{report.after}`{_short(report.after_commit)}",
        "",
    ]
    if not n:
        return "\n".join(out)
    out += [
        "| dataset | change | size | rows | files | columns | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    out += [_summary_row(c) for c in report.datasets]
    for c in report.datasets:
        body = _details(c)
        if body:
            out += [
                "",
                f"<details><summary><code>{c.path}</code>: {headline(c)}</summary>",
                "",
                *body,
                "",
                "</details>",
            ]
    return "\n".join(out) + "\n"


def _short(commit: str | None) -> str:
    return f" ({commit[:10]})" if commit else ""


def _summary_row(c: DatasetChange) -> str:
    a, b = c.before, c.after
    size = _from_to(a.size if a else None, b.size if b else None, size=True)
    t = c.table
    rows = _from_to(t.rows_before, t.rows_after) if t else ""
    if t and t.rows:
        rows += f"<br>{row_summary(t.rows)}"
    files = (
        file_summary(c.files)
        if c.files
        else _from_to(a.files if a else None, b.files if b else None)
    )
    columns = column_summary(t.columns) if t and t.columns else ""
    status = c.status if c.status != "renamed" else f"renamed from `{c.renamed_from}`"
    return f"| `{c.path}` | {status} | {size} | {rows} | {files} | {columns} | {_links(a, b)} |"


def _links(a: VersionRef | None, b: VersionRef | None) -> str:
    links = [
        f"[{label}]({ref.url}) ([reports]({reports_url(ref.url)}))"
        for label, ref in (("before", a), ("after", b))
        if ref and ref.url
    ]
    return " · ".join(links)


def reports_url(run_url: str) -> str:
    """The MLflow UI page of a run's report page, `reports/index.html` (the `report`
    visitor's; the folder beside it holds what the other visitors wrote)."""
    page, sep, query = run_url.partition("?")  # `?workflowType=…` stays at the end
    return f"{page}/artifactPath/reports/index.html{sep}{query}"


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]


def _details(c: DatasetChange) -> list[str]:
    body: list[str] = []
    t = c.table
    if t and t.columns:
        body += ["", "**Columns**", ""]
        body += _md_table(
            ["column", "change", "dtype", "nulls"],
            [
                [
                    f"`{col.name}`",
                    col.status,
                    _from_to_text(col.dtype_before, col.dtype_after),
                    _from_to(col.nulls_before, col.nulls_after),
                ]
                for col in t.columns
            ],
        )
    if t and t.rows:
        body += ["", f"**Rows** {row_summary(t.rows)}, {t.rows.unchanged:,} unchanged", ""]
        body += _example_tables(t.rows)
    if c.files and c.files.changes:
        body += ["", f"**Files** {file_summary(c.files)}, {c.files.unchanged:,} unchanged", ""]
        body += _md_table(
            ["file", "change", "size"],
            [
                [
                    f"`{ch.path}`",
                    ch.status if ch.status != "renamed" else f"renamed from `{ch.renamed_from}`",
                    _from_to(ch.size_before, ch.size_after, size=True),
                ]
                for ch in c.files.changes[:LIST_LIMIT]
            ],
        )
        more = len(c.files.changes) - LIST_LIMIT
        if more > 0:
            body += ["", f"… and {more:,} more files ({_folder_summary(c.files)})"]
    a, b = c.before, c.after
    if a and b and a.hash != b.hash:
        body += ["", f"hash `{a.hash}` → `{b.hash}`"]
    body += [f"> {n}" for n in c.notes]
    return body


def _from_to_text(a: str | None, b: str | None) -> str:
    if a is None or b is None or a == b:
        return a or b or ""
    return f"{a} → {b}"


def _example_tables(r: RowChanges) -> list[str]:
    out: list[str] = []
    for label, examples, side in (
        ("added", r.examples_added, "after"),
        ("removed", r.examples_removed, "before"),
    ):
        rows = [getattr(e, side) or {} for e in examples]
        if rows:
            cols = list(rows[0])
            out += [
                f"Examples {label}:",
                "",
                *_md_table(cols, [[_v(row.get(k)) for k in cols] for row in rows]),
                "",
            ]
    if r.examples_changed:
        out += ["Examples changed:", ""]
        out += _md_table(
            ["key", "column", "before", "after"],
            [
                [_row(e.key), k, _v((e.before or {}).get(k)), _v(v)]
                for e in r.examples_changed
                for k, v in (e.after or {}).items()
            ],
        )
    return out


def _folder_summary(f: FileChanges) -> str:
    """Changed files per top-level folder, the largest first."""
    counts = Counter(ch.path.split("/")[0] + ("/" if "/" in ch.path else "") for ch in f.changes)
    top = counts.most_common(5)
    text = ", ".join(f"`{name}` {n:,}" for name, n in top)
    return text + (", …" if len(counts) > 5 else "")
