"""Crashes and faults: a kill -9 in the middle of a write, a full disk, a flipped byte in the
cache, a failing disk or server. What a killed or failed command leaves is never committed by
`git add -A`, never keeps the disk full, is reported by `mdflow status` and removed by the next
command that takes the lock; a corrupt cache object never reaches the workspace; every such
fault is one line naming its cause.

Real repositories in tmp_path and the real CLI: in-process, or `python -m mdflow` when it must
be killed. A full disk is a real one (a small tmpfs: the tests run as root). The few faults no
test can cause (a failing disk under sqlite, an HTTP 500 from the server) are injected by fakes
that say so in their docstrings.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import git, make_tree, mdflow, obj, pointer_hash, write_csv
from servers import FaultProxy, Server
from test_bad_input import assert_one_line_error, refused
from test_fsck import flip_byte
from test_hostile_inputs import commit_all, plant, pointer_text
from test_remote import make_project

from mdflow.state import StatCache

BIG = 64 << 20  # big enough that a write lasts long enough to be killed in the middle


def big_data(path: Path, size: int = BIG) -> bytes:
    data = os.urandom(1 << 20) * (size >> 20)
    path.write_bytes(data)
    return data


def add_commit(repo: Path, *paths: str) -> None:
    r = mdflow(repo, "add", *paths)
    assert r.code == 0, r.err
    commit_all(repo, "data")


def kill_when_written(repo: Path, args: list[str], partial: Callable[[], list[Path]]) -> None:
    """Run `python -m mdflow ARGS`, SIGKILL it as soon as `partial()` finds the temporary file
    it writes (a polling loop with a deadline), and check that the file outlived it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdflow", *args],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not partial() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.kill()  # SIGKILL: no cleanup handler runs
    proc.wait()
    assert partial(), "the command ended before its temporary file was seen"


def dead_pid() -> int:
    """The pid of a process that has exited (as a killed writer's is)."""
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def untracked(repo: Path) -> list[str]:
    """What `git add -A` would commit."""
    return git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()


# --- 8. a killed checkout ---------------------------------------------------------------------


def test_killed_checkout_leaves_nothing_git_commits_and_the_next_checkout_cleans(
    repo: Path,
) -> None:
    data = big_data(repo / "big.bin")
    add_commit(repo, "big.bin")
    (repo / "big.bin").unlink()

    def partial() -> list[Path]:  # where this version writes them, and where older ones did
        return [*(repo / ".mdflow/tmp").glob("co-*"), *repo.glob(".big.bin.*.mdflow-tmp")]

    kill_when_written(repo, ["checkout"], partial)
    assert untracked(repo) == []  # `git add -A` commits no partial data
    r = mdflow(repo, "status")
    assert "debris:" in r.out and "partial file" in r.out, r.out
    assert "all clean" not in r.out
    assert mdflow(repo, "status", "--exit-code").code == 1

    r = mdflow(repo, "checkout")
    assert r.code == 0, r.err
    assert partial() == []
    assert (repo / "big.bin").read_bytes() == data
    assert mdflow(repo, "status").out == "1 dataset, all clean\n"


def test_partial_files_of_dead_writers_are_debris_and_of_live_ones_are_kept(repo: Path) -> None:
    """Deterministic: the files a killed writer leaves are made by hand (an older mdflow's name
    beside the dataset, a dead pid's in .mdflow/tmp), next to a live writer's (pid 1)."""
    write_csv(repo / "t.csv", 20)
    add_commit(repo, "t.csv")
    legacy = repo / ".t.csv.1f2e3d4c0.mdflow-tmp"  # what mdflow wrote before this fix
    legacy.write_bytes(b"id,na")
    tmp = repo / ".mdflow/tmp"
    tmp.mkdir()
    dead = tmp / f"co-{dead_pid()}-0a1b2c3d-0"
    dead.write_bytes(b"half a file")
    live = tmp / "co-1-0a1b2c3d-0"  # pid 1 is always alive
    live.write_bytes(b"a checkout in progress")

    r = mdflow(repo, "status")
    debris = [line for line in r.out.splitlines() if line.startswith("debris:")]
    assert len(debris) == 2, r.out
    assert any(line.split()[1] == "./" for line in debris), debris  # the legacy one, at the root
    assert any(".mdflow/tmp/ (1 partial file" in line for line in debris), debris

    r = mdflow(repo, "checkout")
    assert r.code == 0, r.err
    assert "removed 1 partial file" in r.err
    assert not legacy.exists() and not dead.exists()
    assert live.exists()
    assert mdflow(repo, "status").out == "1 dataset, all clean\n"


# --- 10. a failed or killed add ---------------------------------------------------------------


@pytest.fixture
def small_cache(repo: Path) -> Iterator[Path]:
    """The repository's cache on a real 4 MiB file system (tmpfs; the tests run as root)."""
    cache = repo / ".mdflow/cache"
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(cache)], check=True)
    try:
        yield cache
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=True)


# a file; a folder's files of 1 MiB (copied through cache/tmp); of less (beside their names)
TARGETS = ["big.bin", "big", "small"]


def folder_of_parts(folder: Path, count: int, size: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"part{i}.bin").write_bytes(os.urandom(size))


def staged(cache: Path) -> list[Path]:
    """Temporary files beside final names in the cache's folders (small objects of a batch)."""
    return list(cache.glob("??/.stage-*"))


@pytest.mark.parametrize("target", TARGETS)
def test_failed_add_on_a_full_disk_frees_what_it_wrote(
    repo: Path, small_cache: Path, target: str
) -> None:
    ballast = small_cache / "ballast"  # what the user frees before retrying
    ballast.write_bytes(b"\1" * (2 << 20))
    if target == "big.bin":
        big_data(repo / target, 3 << 20)
    else:
        folder_of_parts(repo / target, 3, (1 << 20) - (target == "small"))

    r = mdflow(repo, "add", target)
    assert_one_line_error(r, f"no space left on the device mounted at {small_cache}")
    assert list((small_cache / "tmp").iterdir()) == []  # the partial objects are gone
    assert staged(small_cache) == []
    assert not (repo / f"{target}.mdflow").exists()

    ballast.unlink()
    r = mdflow(repo, "add", target)  # 3 MiB fit in 4 MiB only if nothing was left behind
    assert r.code == 0, r.err
    assert mdflow(repo, "fsck").code == 0


@pytest.mark.parametrize("target", TARGETS)
def test_killed_add_is_cleaned_by_the_next_command_that_takes_the_lock(
    repo: Path, target: str
) -> None:
    if target == "big.bin":
        big_data(repo / target)
    elif target == "big":
        folder_of_parts(repo / target, 8, 2 << 20)
    else:
        folder_of_parts(repo / target, 2000, 16 << 10)
    cache = repo / ".mdflow/cache"
    tmp = cache / "tmp"

    def partial() -> list[Path]:  # a temporary file, not only the batch's marker
        return [*tmp.glob("stage-*-*-*"), *staged(cache)]

    tmp.mkdir(parents=True, exist_ok=True)
    live = tmp / "obj-1-live-0"  # a writer that is still running (pid 1): kept
    live.write_bytes(b"an add in progress")
    kill_when_written(repo, ["add", target], partial)
    assert "debris:" in mdflow(repo, "status").out

    r = mdflow(repo, "add", target)
    assert r.code == 0, r.err
    assert sorted(tmp.iterdir()) == [live]
    assert staged(cache) == []
    assert mdflow(repo, "fsck").code == 0


# --- 11. a corrupt cache object ---------------------------------------------------------------


def test_checkout_refuses_a_corrupt_object_and_quarantines_it(repo: Path) -> None:
    write_csv(repo / "t.csv", 300)
    add_commit(repo, "t.csv")
    oid = pointer_hash(repo, "t.csv")
    bad = flip_byte(obj(repo, oid))
    (repo / "t.csv").unlink()

    r = mdflow(repo, "checkout")
    assert r.code == 1
    corrupt = [line for line in r.err.splitlines() if "corrupt" in line]
    assert corrupt == [
        "corrupt in cache: t.csv (not written; object moved to .mdflow/quarantine/) "
        "— fetch it again: mdflow pull t.csv"
    ]
    assert not (repo / "t.csv").exists()
    assert not obj(repo, oid).exists()
    assert [p.read_bytes() for p in (repo / ".mdflow/quarantine").iterdir()] == [bad]
    assert mdflow(repo, "status", "--exit-code").code == 1
    assert mdflow(repo, "fsck").code == 0  # nothing corrupt is left in the cache


def test_corrupt_file_of_a_folder_is_not_written_the_others_are(repo: Path) -> None:
    files = make_tree(repo / "d")
    add_commit(repo, "d")
    manifest = json.loads(obj(repo, pointer_hash(repo, "d")).read_bytes())
    oid = next(f["hash"] for f in manifest["files"] if f["path"] == "nested/deeper/b.bin")
    flip_byte(obj(repo, oid))
    shutil.rmtree(repo / "d")

    r = mdflow(repo, "checkout")
    assert r.code == 1
    assert "corrupt in cache: d/nested/deeper/b.bin" in r.err
    assert "mdflow pull d/nested/deeper/b.bin" in r.err
    assert not (repo / "d/nested/deeper/b.bin").exists()
    assert (repo / "d/a.txt").read_bytes() == files["a.txt"]
    assert json.loads(mdflow(repo, "status", "--json").out)[0]["state"] == "modified"


def test_a_corrupt_manifest_is_refused_even_when_it_parses(repo: Path) -> None:
    make_tree(repo / "d")
    add_commit(repo, "d")
    moid = pointer_hash(repo, "d")
    path = obj(repo, moid)
    text = path.read_text()
    path.chmod(0o644)
    path.write_text(text.replace('"size": 6,', '"size": 7,', 1))  # still a valid manifest
    path.chmod(0o444)
    (repo / "d/a.txt").unlink()
    r = mdflow(repo, "checkout")
    assert_one_line_error(r, f"the manifest {moid} of d is corrupt", "mdflow pull d")
    assert not path.exists()


def test_pull_fetches_a_quarantined_object_again(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    assert mdflow(repo, "push").code == 0
    oid = pointer_hash(repo, "data/big.bin")
    flip_byte(obj(repo, oid))
    good = (repo / "data/big.bin").read_bytes()
    (repo / "data/big.bin").unlink()
    r = mdflow(repo, "checkout")
    assert r.code == 1 and "mdflow pull data/big.bin" in r.err
    assert "mdflow pull data/big.bin" in mdflow(repo, "status").out

    r = mdflow(repo, "pull", "data/big.bin")
    assert r.code == 0, r.err
    assert (repo / "data/big.bin").read_bytes() == good
    assert mdflow(repo, "status", "--exit-code").code == 0


def test_fsck_hint_fetches_from_the_remote_instead_of_re_adding(repo: Path) -> None:
    write_csv(repo / "t.csv", 30)
    make_tree(repo / "d")
    add_commit(repo, "t.csv", "d")
    oid = pointer_hash(repo, "t.csv")
    flip_byte(obj(repo, oid))
    manifest = json.loads(obj(repo, pointer_hash(repo, "d")).read_bytes())
    inner = next(f["hash"] for f in manifest["files"] if f["path"] == "a.txt")
    flip_byte(obj(repo, inner))

    r = mdflow(repo, "fsck")
    assert r.code == 1
    assert f"corrupt: {oid} moved to .mdflow/quarantine/ — fetch it again: mdflow pull t.csv" in (
        r.out.splitlines()
    )
    assert f"corrupt: {inner} moved to .mdflow/quarantine/ — fetch it again: mdflow pull d" in (
        r.out.splitlines()
    )
    assert "re-add" not in r.out


# --- minor: crash-class errors, failed packs, manifests, format versions ------------------------


def test_a_deeply_nested_pointer_is_a_one_line_error(repo: Path) -> None:
    (repo / "t.csv.mdflow").write_text(pointer_text("t.csv", "xxh3-128:" + "0" * 32))
    with (repo / "t.csv.mdflow").open("a") as f:
        f.write("deep: " + "[" * 5000 + "]" * 5000 + "\n")
    r = mdflow(repo, "status")
    assert_one_line_error(r, "t.csv.mdflow", "nested too deeply")


@pytest.mark.parametrize(
    ("fault", "needles"),
    [
        (sqlite3.OperationalError("disk I/O error"), [".mdflow/state.db", "disk I/O error"]),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), ["out of range"]),
    ],
)
def test_a_failing_disk_under_the_stat_cache_is_a_one_line_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, fault: Exception, needles: list[str]
) -> None:
    """A fake, for faults no test can cause: sqlite's write to the stat cache fails."""

    def broken(*_args: object) -> None:
        raise fault

    monkeypatch.setattr(StatCache, "put", broken)
    (repo / "t.txt").write_text("data\n")
    assert_one_line_error(mdflow(repo, "add", "t.txt"), *needles)


def test_a_failed_pack_upload_is_reported_once(repo: Path, mlflow_server: Server) -> None:
    """The server's HTTP 500 comes from FaultProxy, a fake (a real server cannot be made to
    fail on demand)."""
    proxy = FaultProxy(mlflow_server.url)
    try:
        make_project(repo, proxy.url)
        proxy.fail = ["/packs/"]
        r = mdflow(repo, "push")
    finally:
        proxy.close()
    assert r.code == 1
    failed = [line for line in r.err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1, r.err
    assert failed[0].startswith("failed: a pack of 15"), failed  # 150 small files and more


def test_a_manifest_with_a_file_that_is_also_a_folder_is_refused(repo: Path) -> None:
    write_csv(repo / "t.csv", 20)
    add_commit(repo, "t.csv")
    (repo / "t.csv").unlink()  # restored first if anything were written before the check
    h = plant(repo, b"x\n")
    lines = [
        json.dumps({"path": p, "hash": h, "size": 2, "exec": False}) for p in ("a", "a.txt", "a/b")
    ]
    oid = plant(repo, ('{"mdflow": 1, "files": [\n' + ",\n".join(lines) + "\n]}\n").encode())
    (repo / "z.mdflow").write_text(pointer_text("z", oid, "dir"))
    refused(repo, ["checkout"], "z", "'a' is both a file and a folder: the folder of 'a/b'")
    assert not (repo / "z").exists() and not (repo / "t.csv").exists()


@pytest.mark.parametrize("where", ["pointer", "manifest", "config"])
def test_format_version_true_is_not_version_1(repo: Path, where: str) -> None:
    if where == "pointer":
        oid = plant(repo, b"x\n")
        (repo / "x.mdflow").write_text(pointer_text("x", oid).replace("mdflow: 1", "mdflow: true"))
        needle = "x.mdflow"
    elif where == "manifest":
        h = plant(repo, b"x\n")
        entry = json.dumps({"path": "a", "hash": h, "size": 2, "exec": False})
        oid = plant(repo, ('{"mdflow": true, "files": [\n' + entry + "\n]}\n").encode())
        (repo / "d.mdflow").write_text(pointer_text("d", oid, "dir"))
        needle = "invalid mdflow"
    else:
        config = repo / "mdflow.yaml"
        config.write_text(config.read_text().replace("mdflow: 1", "mdflow: true"))
        needle = "invalid mdflow"
    refused(repo, ["checkout"], needle)
    assert not (repo / "x").exists() and not (repo / "d").exists()


def test_too_many_open_files_is_a_one_line_error(repo: Path) -> None:
    """A process allowed few descriptors (ulimit -n, a real limit set before exec)."""
    import resource

    folder_of_parts(repo / "data", 2000, 100)
    r = subprocess.run(
        [sys.executable, "-m", "mdflow", "add", "data"],
        cwd=repo,
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12)),
    )
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("mdflow: error: too many open files (this process may open 12)")
    assert "ulimit -n" in r.stderr and len(r.stderr.splitlines()) == 1
    assert mdflow(repo, "add", "data").code == 0  # with the limit of the tests, it works
    assert mdflow(repo, "fsck").code == 0
