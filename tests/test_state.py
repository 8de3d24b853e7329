"""The stat cache: unchanged files are never re-read, racy or changed ones always are."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import mdflow

from mdflow import workspace


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A spy on workspace hashing (it still hashes for real)."""
    calls: list[str] = []
    real = workspace.hash_file

    def spy(path: str) -> tuple[str, int]:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(workspace, "hash_file", spy)
    return calls


def test_noop_status_on_many_files_reads_none(repo: Path, hash_calls: list[str]) -> None:
    top = repo / "many"
    for i in range(2000):
        p = top / f"d{i % 20}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}\n")
    assert mdflow(repo, "add", "many").code == 0
    hash_calls.clear()
    assert mdflow(repo, "status", "--exit-code").code == 0
    assert mdflow(repo, "add", "many").out.startswith("unchanged many")
    assert hash_calls == []


def test_changed_file_is_rehashed(repo: Path, hash_calls: list[str]) -> None:
    f = repo / "f.txt"
    f.write_text("one\n")
    mdflow(repo, "add", "f.txt")
    hash_calls.clear()
    st = f.stat()
    f.write_text("two\n")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    r = mdflow(repo, "status", "--exit-code")
    assert r.code == 1 and "modified" in r.out
    assert len(hash_calls) == 1


def test_racy_entries_are_not_trusted(repo: Path, hash_calls: list[str]) -> None:
    f = repo / "f.txt"
    f.write_text("one\n")
    future = time.time_ns() + 60 * 10**9  # as if modified in the tick of the hashing
    os.utime(f, ns=(future, future))
    mdflow(repo, "add", "f.txt")
    hash_calls.clear()
    mdflow(repo, "status")
    mdflow(repo, "status")
    assert len(hash_calls) == 2


def test_deleting_the_stat_cache_loses_nothing(repo: Path) -> None:
    (repo / "f.txt").write_text("x\n")
    mdflow(repo, "add", "f.txt")
    (repo / ".mdflow/state.db").unlink()
    for extra in ("state.db-wal", "state.db-shm"):
        (repo / ".mdflow" / extra).unlink(missing_ok=True)
    assert mdflow(repo, "status", "--exit-code").code == 0
