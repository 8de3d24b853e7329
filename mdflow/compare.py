"""Compare two sets of dataset versions: which datasets changed and what changed inside.

Works from what is known about each side: the pointers always, directory manifests and table
contents when they are available (cache or workspace). What could not be compared is said in
the change's notes, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from mdflow import rowdiff, tables
from mdflow.changes import (
    ColumnChange,
    DatasetChange,
    FileChange,
    FileChanges,
    TableChanges,
    VersionRef,
)
from mdflow.manifest import Manifest, ManifestEntry
from mdflow.profile import Profiles, TableProfile

Opener = Callable[[], BinaryIO]


@dataclass
class Side:
    """One dataset at one side of the comparison."""

    path: str  # data path relative to the repository root
    ref: VersionRef
    manifest: Manifest | None = None  # folders: when the manifest is available
    opener: Opener | None = None  # files: the content, when available
    note: str | None = None  # something the reader should know about this side


@dataclass
class Options:
    profiles: Profiles
    key_for: Callable[[str], list[str]]  # data path -> key columns declared for it
    rows: bool = True  # compare rows when both tables are available
    labels: tuple[str, str] = ("before", "after")


def compare(old: dict[str, Side], new: dict[str, Side], opt: Options) -> list[DatasetChange]:
    """Changes between two {data path: version} maps, renames detected by equal content."""
    removed = {p: v for p, v in old.items() if p not in new}
    added = {p: v for p, v in new.items() if p not in old}
    changes = []
    for path, v in added.items():
        source = next((r for r in removed.values() if r.ref.hash == v.ref.hash), None)
        if source is not None:
            del removed[source.path]
            changes.append(
                DatasetChange(
                    path=path,
                    status="renamed",
                    renamed_from=source.path,
                    before=source.ref,
                    after=v.ref,
                )
            )
        else:
            changes.append(_one_sided(v, "added"))
    changes += [_one_sided(v, "removed") for v in removed.values()]
    for path in sorted(old.keys() & new.keys()):
        if old[path].ref.hash != new[path].ref.hash or old[path].ref.kind != new[path].ref.kind:
            change = _modified(old[path], new[path], opt)
            if change.files is None or change.files.changed:  # a part asked for may not change
                changes.append(change)
    return sorted(changes, key=lambda c: c.path)


def _one_sided(v: Side, status: str) -> DatasetChange:
    change = DatasetChange(path=v.path, status=status)
    if status == "added":
        change.after = v.ref
        change.table = TableChanges(rows_after=v.ref.rows) if v.ref.rows is not None else None
    else:
        change.before = v.ref
        change.table = TableChanges(rows_before=v.ref.rows) if v.ref.rows is not None else None
    return change


def _modified(a: Side, b: Side, opt: Options) -> DatasetChange:
    change = DatasetChange(path=b.path, status="modified", before=a.ref, after=b.ref)
    change.notes += [n for n in (a.note, b.note) if n]
    if a.ref.kind == "dir" and b.ref.kind == "dir":
        missing = [lbl for v, lbl in zip((a, b), opt.labels, strict=True) if v.manifest is None]
        if a.manifest is not None and b.manifest is not None:
            change.files = file_changes(a.manifest.files, b.manifest.files)
        else:
            change.notes.append(
                f"the manifest of {' and '.join(missing)} is not available: files compared "
                "by count only (mdflow pull it to list them)"
            )
    elif a.ref.kind == b.ref.kind == "file" and tables.table_kind(b.path):
        change.table = _table(a, b, opt, change.notes)
    return change


def file_changes(old: list[ManifestEntry], new: list[ManifestEntry]) -> FileChanges:
    """Files added, removed, modified and renamed (same content, new path) in a folder."""
    before = {e.path: e for e in old}
    after = {e.path: e for e in new}
    gone = {p: e for p, e in before.items() if p not in after}
    out = FileChanges()
    by_hash: dict[str, list[ManifestEntry]] = {}
    for e in sorted(gone.values(), key=lambda e: e.path):
        by_hash.setdefault(e.hash, []).append(e)
    for path, e in after.items():
        was = before.get(path)
        if was is None:
            twins = by_hash.get(e.hash)
            if twins:
                src = twins.pop(0)
                del gone[src.path]
                out.renamed += 1
                out.changes.append(
                    FileChange(
                        path=path,
                        status="renamed",
                        renamed_from=src.path,
                        size_before=src.size,
                        size_after=e.size,
                    )
                )
            else:
                out.added += 1
                out.bytes_added += e.size
                out.changes.append(FileChange(path=path, status="added", size_after=e.size))
        elif was.hash != e.hash or was.exec != e.exec:
            out.modified += 1
            out.bytes_added += max(e.size - was.size, 0)
            out.bytes_removed += max(was.size - e.size, 0)
            out.changes.append(
                FileChange(path=path, status="modified", size_before=was.size, size_after=e.size)
            )
        else:
            out.unchanged += 1
    for e in gone.values():
        out.removed += 1
        out.bytes_removed += e.size
        out.changes.append(FileChange(path=e.path, status="removed", size_before=e.size))
    out.changes.sort(key=lambda c: c.path)
    return out


def _table(a: Side, b: Side, opt: Options, notes: list[str]) -> TableChanges:
    out = TableChanges(rows_before=a.ref.rows, rows_after=b.ref.rows)
    missing = [lbl for v, lbl in zip((a, b), opt.labels, strict=True) if v.opener is None]
    if missing:
        notes.append(
            f"the data of {' and '.join(missing)} is not available: rows and columns compared "
            "from the pointers only (mdflow pull it, or let mdflow diff fetch it)"
        )
        return out
    assert a.opener is not None and b.opener is not None
    try:
        pa = opt.profiles.get(a.ref.hash, a.path, a.opener)
        pb = opt.profiles.get(b.ref.hash, b.path, b.opener)
    except Exception as e:  # unreadable as a table: say so, compare the rest
        notes.append(f"could not read the table: {type(e).__name__}: {e}")
        return out
    out.rows_before, out.rows_after = pa.rows, pb.rows
    out.columns = column_changes(pa, pb)
    if opt.rows:
        common = [c.name for c in pb.columns if c.name in pa.by_name()]
        key = [k for k in opt.key_for(b.path) if k in common]
        if common:
            out.rows = rowdiff.compare((a.opener, a.path), (b.opener, b.path), common, key)
        if out.rows and key and out.rows.compared_by == "content":
            notes.append(f"key {', '.join(key)} is not unique: rows compared by content")
    return out


def column_changes(a: TableProfile, b: TableProfile) -> list[ColumnChange]:
    before, after = a.by_name(), b.by_name()
    out = []
    for name, c in after.items():
        was = before.get(name)
        if was is None:
            out.append(
                ColumnChange(name=name, status="added", dtype_after=c.dtype, nulls_after=c.nulls)
            )
        elif was.dtype != c.dtype or was.nulls != c.nulls:
            out.append(
                ColumnChange(
                    name=name,
                    status="retyped" if was.dtype != c.dtype else "nulls",
                    dtype_before=was.dtype,
                    dtype_after=c.dtype,
                    nulls_before=was.nulls,
                    nulls_after=c.nulls,
                )
            )
    out += [
        ColumnChange(name=n, status="removed", dtype_before=c.dtype, nulls_before=c.nulls)
        for n, c in before.items()
        if n not in after
    ]
    return out
