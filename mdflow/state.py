"""The stat cache: hashes of workspace files keyed by (inode, size, mtime_ns), and the
datasets last seen clean (what the no-op path of status and add checks, see clean.py).

An accelerator only (deleting `.mdflow/state.db` loses nothing). Entries are recorded only
when a file's mtime is older than a marker touched before hashing began (Git's racy-clean
rule), so a file changed within one timestamp tick of being hashed is never trusted.
"""

from __future__ import annotations

import os
import sqlite3
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import xxhash

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, ino INTEGER, size INTEGER, mtime_ns INTEGER, hash TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete (oid TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clean (
    pointer TEXT PRIMARY KEY, digest TEXT, config TEXT, scan TEXT, data TEXT, kind TEXT,
    hash TEXT, size INTEGER, files INTEGER, rows INTEGER, columns INTEGER, max_size INTEGER
) WITHOUT ROWID;
"""


class Clean(NamedTuple):
    """A dataset seen clean: its pointer (path from the root, hash of its bytes), the hash of
    mdflow.yaml then, the scan digest of its data (`scan_digest`) and what the pointer says."""

    pointer: str
    digest: str
    config: str
    scan: str
    data: str  # the data path from the root
    kind: str
    hash: str
    size: int
    files: int | None
    rows: int | None
    columns: int | None
    max_size: int  # mdflow.yaml's hooks.max_file_size then (what the pre-commit check needs)


ScanEntry = tuple[str, int, int, int, bool]  # path, inode, size, mtime_ns, exec


class Scan(NamedTuple):
    """A folder as the no-op proof scanned it: its files (paths inside it, unchecked) and its
    folders (`a`, `a/b`); the ordinary path of the same command takes it over
    (workspace.files_of) rather than scanning again."""

    files: list[ScanEntry]
    folders: list[str]


def scan_digest(entries: list[ScanEntry]) -> str:
    """One hash of a scanned dataset, sorted by path: (path, inode, size, mtime_ns, exec)
    of every file. Equal digests: the same files, unchanged since they were hashed.

    Hashed column by column, each converted in C (a repr of 10,000 tuples took 11 ms): the
    count, the paths joined by NUL (which no name holds), then fixed-width arrays."""
    if not entries:
        return xxhash.xxh3_128_hexdigest(b"")
    paths, inodes, sizes, mtimes, execs = zip(*sorted(entries), strict=True)
    h = xxhash.xxh3_128(len(entries).to_bytes(8, "little"))
    h.update("\0".join(paths).encode("utf-8", "surrogatepass"))
    h.update(b"\0\0")
    for column, kind in ((inodes, "Q"), (sizes, "Q"), (mtimes, "q")):
        h.update(array(kind, column).tobytes())
    h.update(bytes(execs))
    return h.hexdigest()


def read_clean(dot: Path) -> dict[str, tuple[Clean, bool]] | None:
    """Every record of the `clean` table by pointer, with whether its object is marked
    complete; None when there is no stat cache (or one without that table). Writes nothing."""
    if not (dot / "state.db").is_file():
        return None
    try:
        db = sqlite3.connect(dot / "state.db", timeout=5.0)
        try:
            rows = db.execute(
                "SELECT c.*, EXISTS(SELECT 1 FROM complete WHERE oid = c.hash) FROM clean c"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return {r[0]: (Clean(*r[:12]), bool(r[12])) for r in rows}


class Stamp(NamedTuple):
    """What a file looked like when it was hashed (a tuple: cheap to build 10,000 of)."""

    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


StatRow = tuple[int, int, int, str]  # ino, size, mtime_ns, hash


class StatCache:
    def __init__(self, dot: Path, timeout: float = 30.0) -> None:
        self.dot = dot
        dot.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(dot / "state.db", timeout=timeout, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.clock = self._touch_clock()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh_clock(self) -> None:
        """Move the clock forward, after this process wrote files it knows the hashes of."""
        self.clock = self._touch_clock()

    def _touch_clock(self) -> int:
        """Filesystem time (ns), taken on open, before this process hashes anything."""
        marker = self.dot / "clock"
        with marker.open("wb") as f:
            f.write(b"mdflow")
        return marker.stat().st_mtime_ns

    def row(self, rel: str) -> StatRow | None:
        row = self.db.execute(
            "SELECT ino, size, mtime_ns, hash FROM files WHERE path = ?", (rel,)
        ).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def get(self, rel: str, stamp: Stamp) -> str | None:
        row = self.row(rel)
        return row[3] if row and row[:3] == stamp else None

    def under(self, prefix: str) -> dict[str, StatRow]:
        """Every entry below the folder `prefix`, by path: (ino, size, mtime_ns, hash)."""
        low, high = prefix + "/", prefix + "0"  # '0' sorts right after '/'
        rows = self.db.execute(
            "SELECT path, ino, size, mtime_ns, hash FROM files WHERE path >= ? AND path < ?",
            (low, high),
        )
        return {r[0]: r[1:] for r in rows}

    def put(self, entries: Iterable[tuple[str, Stamp, str]]) -> None:
        """Record hashes, skipping files too recent to be trusted."""
        rows = [
            (rel, s.ino, s.size, s.mtime_ns, oid)
            for rel, s, oid in entries
            if s.mtime_ns < self.clock
        ]
        if rows:
            rows.sort()  # in key order: the B-tree is written page by page (100,000 rows: -28%)
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)

    def is_complete(self, oid: str) -> bool:
        row = self.db.execute("SELECT 1 FROM complete WHERE oid = ?", (oid,)).fetchone()
        return row is not None

    def mark_complete(self, oid: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO complete VALUES (?)", (oid,))

    def forget_complete(self) -> None:
        """Called whenever objects leave the cache (gc, fsck)."""
        with self.db:
            self.db.execute("DELETE FROM complete")
            self.db.execute("DELETE FROM clean")

    def record_clean(self, record: Clean) -> None:
        insert = f"INSERT OR REPLACE INTO clean VALUES ({', '.join('?' * len(record))})"
        try:
            with self.db:
                self.db.execute(insert, record)
        except sqlite3.OperationalError:  # a table of another shape (another mdflow version)
            with self.db:
                self.db.execute("DROP TABLE IF EXISTS clean")
            self.db.executescript(SCHEMA)
            with self.db:
                self.db.execute(insert, record)

    def forget_clean(self, pointer: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM clean WHERE pointer = ?", (pointer,))
