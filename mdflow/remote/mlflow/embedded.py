"""The embedded store's sqlite database, created whole or not at all.

MLflow creates a sqlite store by running its migrations (a hundred-odd steps) in place: a
process killed among them leaves a database that every later MLflow refuses (`table … already
exists`). Here the database is made in a temporary file next to it, under a lock in the store
folder, and renamed to `mlflow.db` once the migrations are done: `mlflow.db` exists only whole.
A database left half-made by an older mdflow, holding no runs, is moved aside and made again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from mdflow.lock import locked
from mdflow.progress import status

DB = "mlflow.db"
CREATING = ".mlflow.db.creating-"  # + pid: the database being made
LOCK_TIMEOUT = 600.0  # another process making the store waits for it, not fails
_WHAT = "the embedded store's lock"
_HINT = "wait for it to finish creating the store, then run the command again"


def ensure(folder: Path) -> None:
    """`folder/mlflow.db` exists and holds MLflow's whole schema."""
    if (folder / DB).exists():
        return
    with locked(folder / ".mlflow.db.lock", LOCK_TIMEOUT, _WHAT, _HINT):
        if (folder / DB).exists():
            return  # another process made it while this one waited
        for stale in folder.glob(f"{CREATING}*"):  # left by a killed creator
            stale.unlink(missing_ok=True)
        with status("creating the embedded MLflow store (first use)…"):
            tmp = folder / f"{CREATING}{os.getpid()}"
            _migrate(tmp)
            _fsync(tmp)
            os.replace(tmp, folder / DB)
            _fsync(folder)


def _migrate(path: Path) -> None:
    """MLflow's own creation of a sqlite store (its initial tables, then every migration),
    without its INFO lines on stderr (the status line says what happens)."""
    import logging

    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    sqlalchemy.event.listen(engine, "connect", _unsynced)
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        _initialize_tables(engine)  # type: ignore[no-untyped-call]
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        engine.dispose()


def _unsynced(conn: Any, _record: Any) -> None:
    """No fsync per migration step: a file killed half-made is thrown away anyway (the whole
    file is synced once before it is renamed into place). About 3x faster."""
    cursor = conn.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA journal_mode=MEMORY")
    cursor.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside_if_empty(folder: Path) -> bool:
    """When `folder/mlflow.db` holds no run (a creation killed half-way by an older mdflow),
    rename it to `mlflow.db.broken-<time>` and return True; nothing is deleted."""
    db = folder / DB
    with locked(folder / ".mlflow.db.lock", LOCK_TIMEOUT, _WHAT, _HINT):
        if not db.exists() or _runs(db) != 0:
            return False
        os.replace(db, folder / f"{DB}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    return True


def _runs(db: Path) -> int | None:
    """How many runs the database holds: 0 without a runs table, None when it cannot be read."""
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            if conn.execute(query).fetchone() is None:
                return 0
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return None
