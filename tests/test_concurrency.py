"""Several mdflow processes on one repository: the lock serializes writers, readers need none."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Result, git, make_tree, mdflow, mdflow_proc, write_csv

VOLATILE = {".mdflow/lock", ".mdflow/clock", ".mdflow/state.db"}
VOLATILE |= {".mdflow/state.db-wal", ".mdflow/state.db-shm"}


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mdflow", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> Result:
    out, err = proc.communicate(timeout=120)
    return Result(proc.returncode, out, err)


def snapshot(repo: Path) -> tuple[dict[str, bytes], str]:
    files = {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]
    }
    for rel in VOLATILE:
        files.pop(rel, None)
    return files, git(repo, "status", "--porcelain", "--untracked-files=all")


def datasets(repo: Path, n: int) -> list[str]:
    """n datasets: CSVs, folders, and two files with identical bytes (one shared object)."""
    names = []
    for i in range(n):
        if i % 3 == 2:
            make_tree(repo / f"dir{i}")
            names.append(f"dir{i}")
        else:
            write_csv(repo / f"t{i}.csv", 200 + i)
            names.append(f"t{i}.csv")
    write_csv(repo / "same_a.csv", 50)
    write_csv(repo / "same_b.csv", 50)
    return [*names, "same_a.csv", "same_b.csv"]


def states(repo: Path) -> dict[str, str]:
    r = mdflow(repo, "status", "--json")
    assert r.code == 0, r.err
    return {s["path"]: s["state"] for s in json.loads(r.out)}


def test_parallel_adds_all_succeed_and_cache_is_sound(repo: Path) -> None:
    names = datasets(repo, 8)
    procs = [start(repo, "add", name) for name in names]
    results = [finish(p) for p in procs]
    assert [r.code for r in results] == [0] * len(names), [r.err for r in results]
    assert states(repo) == dict.fromkeys(names, "clean")
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert sorted(e for e in ignored if e != "/.mdflow") == sorted(f"/{n}" for n in names)
    r = mdflow(repo, "fsck")
    assert r.code == 0, r.out
    objects = [p for p in (repo / ".mdflow/cache").glob("??/*") if p.is_file()]
    assert r.out.startswith(f"checked {len(objects)} objects, 0 corrupt")
    assert not any((repo / ".mdflow/cache/tmp").glob("*"))


def test_readers_run_alongside_writers(repo: Path) -> None:
    names = datasets(repo, 6)
    procs = [start(repo, "add", name) for name in names]
    procs += [start(repo, cmd) for cmd in ("status", "list", "status", "list")]
    results = [finish(p) for p in procs]
    assert [r.code for r in results] == [0] * len(procs), [r.err for r in results]
    assert all(r.err == "" for r in results[len(names) :]), [r.err for r in results]
    assert states(repo) == dict.fromkeys(names, "clean")


def prepare(repo: Path) -> None:
    """A short lock timeout, one committed dataset whose data is gone, one new file."""
    with (repo / "mdflow.yaml").open("a") as f:
        f.write("core:\n  lock_timeout: 0.5\n")
    write_csv(repo / "data.csv", 20)
    assert mdflow(repo, "add", "data.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    write_csv(repo / "new.csv", 20)
    (repo / "data.csv").unlink()


def test_parallel_adds_of_one_file_agree(repo: Path) -> None:
    write_csv(repo / "t.csv", 300)
    results = [finish(p) for p in [start(repo, "add", "t.csv") for _ in range(5)]]
    assert [r.code for r in results] == [0] * 5, [r.err for r in results]
    assert sum(r.out.startswith("added t.csv") for r in results) == 1
    assert (repo / ".gitignore").read_text().splitlines().count("/t.csv") == 1
    assert states(repo) == {"t.csv": "clean"}
    assert mdflow(repo, "fsck").code == 0


def test_gc_racing_adds_never_deletes_their_objects(repo: Path) -> None:
    names = datasets(repo, 6)
    procs = []
    for name in names:
        procs.append(start(repo, "add", name))
        procs.append(start(repo, "gc", "--prune=now", "--force"))
    results = [finish(p) for p in procs]
    assert [r.code for r in results] == [0] * len(procs), [r.err for r in results]
    assert states(repo) == dict.fromkeys(names, "clean")
    r = mdflow(repo, "fsck")
    assert r.code == 0, r.out
    for name in names:
        (repo / name).rename(repo / f"{name}.moved-away")
    r = mdflow(repo, "checkout")
    assert r.code == 0, r.err
    assert states(repo) == dict.fromkeys(names, "clean")


@contextlib.contextmanager
def hold_lock(repo: Path) -> Iterator[None]:
    """Hold `.mdflow/lock` in this process, as another mdflow process would."""
    fd = os.open(repo / ".mdflow/lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


@pytest.fixture
def held_lock(repo: Path) -> Iterator[Path]:
    prepare(repo)
    with hold_lock(repo):
        yield repo


WRITERS = {
    "add": ["add", "new.csv"],
    "checkout": ["checkout"],
    "gc": ["gc", "--prune=now", "--force"],
    "fsck": ["fsck"],
    "remove": ["remove", "data.csv"],
    "move": ["move", "data.csv", "moved.csv"],
}


@pytest.mark.parametrize("command", list(WRITERS))
def test_held_lock_fails_fast_with_one_line_and_changes_nothing(
    held_lock: Path, command: str
) -> None:
    repo = held_lock
    before = snapshot(repo)
    t0 = time.monotonic()
    r = mdflow_proc(repo, *WRITERS[command])
    elapsed = time.monotonic() - t0
    assert r.code != 0
    assert r.err.count("\n") == 1 and r.err.startswith("mdflow: error: "), r.err
    assert " — " in r.err and "Traceback" not in r.err
    assert ".mdflow/lock" in r.err and f"pid {os.getpid()}" in r.err
    assert 0.5 <= elapsed < 5, elapsed
    assert snapshot(repo) == before
    assert (repo / ".mdflow/lock").read_text() == str(os.getpid())


def test_add_succeeds_once_the_lock_is_released(repo: Path) -> None:
    prepare(repo)
    with hold_lock(repo):
        assert mdflow_proc(repo, "add", "new.csv").code != 0
    r = mdflow_proc(repo, "add", "new.csv")
    assert r.code == 0, r.err
    assert (repo / "new.csv.mdflow").is_file()


@pytest.mark.parametrize("command", ["status", "list"])
def test_readers_need_no_lock(held_lock: Path, command: str) -> None:
    r = mdflow_proc(held_lock, command)
    assert r.code == 0, r.err
    assert "data.csv" in r.out


def test_a_lock_timeout_names_the_lock_it_waited_for(tmp_path: Path) -> None:
    from mdflow.errors import LockTimeoutError
    from mdflow.lock import locked

    (tmp_path / ".mdflow").mkdir()
    lock = locked(tmp_path / ".mdflow/lock", 0.1, "the embedded store's lock", "wait")
    with hold_lock(tmp_path), pytest.raises(LockTimeoutError) as caught, lock:
        pass
    assert f"process (pid {os.getpid()}) holds the embedded store's lock" in str(caught.value)
    assert str(caught.value).endswith(" — wait")
