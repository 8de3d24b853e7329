"""The no-op path (mdflow/clean.py): status and add prove "nothing changed" from the stat
cache alone, and any change they cannot prove sends them down the ordinary path."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, mdflow, obj, pointer_hash

from mdflow import clean, datasets, staging
from mdflow.lock import locked
from mdflow.repo import Repo
from mdflow.state import Scan, StatCache, read_clean
from mdflow.workspace import files_of, scan_dir


@pytest.fixture
def tracked(repo: Path) -> Path:
    """A folder of 30 files in 3 subfolders and one file, added, committed, seen clean."""
    for i in range(30):
        p = repo / "data" / "many" / f"d{i % 3}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}\n")
    (repo / "data" / "one.csv").write_text("a,b\n1,2\n")
    time.sleep(0.01)  # past the stat cache's clock: files this recent are never vouched for
    assert mdflow(repo, "add", "data/many", "data/one.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    assert mdflow(repo, "status").code == 0
    return repo


def proven(repo: Path) -> list[str] | None:
    found = clean.prove(repo)
    return None if found is None else [r.data for r in found]


def test_clean_datasets_are_proven_without_the_library(tracked: Path) -> None:
    assert proven(tracked) == ["data/many", "data/one.csv"]
    code = (
        "import sys; from mdflow.cli import main; code = main(['status', '--exit-code']);"
        "main(['add', 'data/many']);"
        "print(code, sorted(m for m in ('pydantic', 'yaml', 'mdflow.pointer', 'argparse')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tracked, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    size = sum(len(f"file {i}\n") for i in range(30))
    assert out == ["2 datasets, all clean", f"unchanged data/many ({size} B, 30 files)", "0 []"]


def test_same_output_as_the_ordinary_path(tracked: Path) -> None:
    assert mdflow(tracked, "status", "data/one.csv").out == "1 dataset, all clean\n"
    quick = mdflow(tracked, "status").out, mdflow(tracked, "add", "data/one.csv").out
    (tracked / ".mdflow" / "state.db").unlink()  # no records: the ordinary path
    assert proven(tracked) is None
    slow = mdflow(tracked, "status").out, mdflow(tracked, "add", "data/one.csv").out
    assert quick == slow


@pytest.mark.parametrize(
    "change",
    ["edit", "same size and mtime kept", "new file", "removed file", "chmod +x", "rename"],
)
def test_a_changed_folder_is_not_proven(tracked: Path, change: str) -> None:
    f = tracked / "data" / "many" / "d0" / "f0.txt"
    if change == "edit":
        f.write_text("file 0 changed\n")
    elif change == "same size and mtime kept":  # a new inode: the scan still differs
        st = f.stat()
        new = f.with_name("new")
        new.write_text("file X\n")
        os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
        new.replace(f)
    elif change == "new file":
        (f.parent / "new.txt").write_text("new\n")
    elif change == "removed file":
        f.unlink()
    elif change == "chmod +x":
        f.chmod(0o755)
    else:
        f.rename(f.parent / "g0.txt")
    assert proven(tracked) is None
    r = mdflow(tracked, "status", "--exit-code")
    assert r.code == 1 and "modified:" in r.out and "data/many/" in r.out


def test_status_forgets_the_record_of_a_dataset_it_finds_modified(tracked: Path) -> None:
    """The next status does not scan a folder again to find what it already knows: the
    proof is skipped for that dataset (and the others' records stay)."""
    records = read_clean(tracked / ".mdflow")
    assert records is not None and set(records) == {"data/many.mdflow", "data/one.csv.mdflow"}
    (tracked / "data" / "many" / "d0" / "f0.txt").write_text("file 0 changed\n")
    assert mdflow(tracked, "status", "--exit-code").code == 1
    records = read_clean(tracked / ".mdflow")
    assert records is not None and set(records) == {"data/one.csv.mdflow"}


def test_a_changed_pointer_config_or_cache_is_not_proven(tracked: Path) -> None:
    config = tracked / "mdflow.yaml"
    config.write_text(config.read_text() + "\n")
    assert proven(tracked) is None
    assert mdflow(tracked, "status").out == "2 datasets, all clean\n"  # records again
    assert proven(tracked) is not None
    obj(tracked, pointer_hash(tracked, "data/one.csv")).unlink()
    assert proven(tracked) is None
    assert "missing-cache:" in mdflow(tracked, "status").out
    (tracked / "data" / "one.csv").write_text("a,b\n1,3\n")
    assert mdflow(tracked, "add", "data/one.csv").out.startswith("added data/one.csv")
    git(tracked, "commit", "-qam", "one.csv v2")
    git(tracked, "checkout", "-q", "HEAD~1", "--", "data/one.csv.mdflow")  # older pointer
    assert proven(tracked) is None
    assert "modified:" in mdflow(tracked, "status").out


def test_recent_files_are_not_recorded(tracked: Path) -> None:
    f = tracked / "data" / "many" / "d1" / "f1.txt"
    f.write_text("file 1 changed\n")
    future = time.time_ns() + 10**10
    os.utime(f, ns=(future, future))  # newer than any clock: its hash is never trusted
    assert mdflow(tracked, "add", "data/many").code == 0
    assert mdflow(tracked, "status").out == "2 datasets, all clean\n"
    assert proven(tracked) is None


def test_symlinks_debris_and_nesting_take_the_ordinary_path(tracked: Path) -> None:
    many = tracked / "data" / "many"
    (many / "d2" / "link").symlink_to(many / "d2" / "f2.txt")
    assert proven(tracked) is None
    (many / "d2" / "link").unlink()
    assert proven(tracked) is not None
    tmp = tracked / ".mdflow" / "tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / "co-999999999-x-0").write_bytes(b"partial")
    assert proven(tracked) is None
    assert "debris:" in mdflow(tracked, "status").out
    (tmp / "co-999999999-x-0").unlink()
    moved = tracked / "elsewhere"
    shutil.move(tracked / "data", moved)
    (tracked / "data").symlink_to(moved)  # a folder on the way became a symlink
    assert proven(tracked) is None
    (tracked / "data").unlink()
    shutil.move(moved, tracked / "data")
    (tracked / "data" / "many.mdflow").rename(tracked / "data" / "copy.mdflow")
    (tracked / "data" / "copy.mdflow").write_text(
        (tracked / "data" / "copy.mdflow").read_text().replace("path: many", "path: many/d0")
    )  # an untracked pointer for a path inside another dataset
    assert proven(tracked) is None


def test_add_takes_the_ordinary_path_when_it_has_work(tracked: Path) -> None:
    ignore = tracked / "data" / ".gitignore"
    ignore.write_text("")
    assert clean.unchanged_adds(tracked, ["data/many"]) is None
    assert mdflow(tracked, "add", "data/many").out.startswith("unchanged data/many")
    assert "/many" in ignore.read_text().splitlines()  # the ordinary path restored it
    os.chdir(tracked)
    try:
        assert clean.unchanged_adds(tracked, ["data/many"]) is not None
        assert clean.unchanged_adds(tracked, ["data/many/d0"]) is None  # not a dataset
        assert clean.unchanged_adds(tracked, ["data/many", "data/none"]) is None
        with locked(tracked / ".mdflow" / "lock", 1):  # another writer: wait on the lock
            assert clean.unchanged_adds(tracked, ["data/many"]) is None
    finally:
        os.chdir(Path(__file__).parent)


def test_objects_leaving_the_cache_forget_the_records(tracked: Path) -> None:
    assert proven(tracked) is not None
    with StatCache(tracked / ".mdflow") as state:
        state.forget_complete()  # what gc and fsck call when they remove objects
    assert proven(tracked) is None


def test_commit_hooks_on_a_commit_without_pointers(tracked: Path) -> None:
    (tracked / "notes.txt").write_text("notes\n")
    git(tracked, "add", "notes.txt")
    assert staging.commit_hook_passes(str(tracked), "check")
    assert staging.commit_hook_passes(str(tracked), "visit")
    assert mdflow(tracked, "hook", "check") == mdflow(tracked, "hook", "visit")
    assert mdflow(tracked, "hook", "check").code == 0

    (tracked / "data" / "one.csv").write_text("a,b\n5,6\n")  # changed, not added: a warning
    assert not staging.commit_hook_passes(str(tracked), "check")
    assert "data/one.csv changed in the workspace" in mdflow(tracked, "hook", "check").err

    assert mdflow(tracked, "add", "data/one.csv").code == 0
    (tracked / "big.bin").write_bytes(os.urandom(1 << 20))  # as large as hooks.max_file_size
    git(tracked, "add", "big.bin")
    assert not staging.commit_hook_passes(str(tracked), "check")
    assert "big.bin (1.0 MB) is staged into Git" in mdflow(tracked, "hook", "check").err
    git(tracked, "rm", "-q", "--cached", "big.bin")

    git(tracked, "add", "data/one.csv.mdflow")  # a pointer staged: the ordinary hooks run
    assert not staging.commit_hook_passes(str(tracked), "check")
    assert not staging.commit_hook_passes(str(tracked), "visit")


def test_the_visit_hook_without_pointers_imports_no_stat_cache_or_hashing(tracked: Path) -> None:
    (tracked / "notes.txt").write_text("notes\n")
    git(tracked, "add", "notes.txt")
    code = (
        "import sys; from mdflow.cli import main; code = main(['hook', 'visit']);"
        "print(code, sorted(m for m in ('mdflow.clean', 'mdflow.state', 'mdflow.hashing',"
        " 'mdflow.gitrepo', 'sqlite3', 'hashlib', 'argparse') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tracked, capture_output=True, text=True, check=True
    ).stdout
    assert out == "0 []\n"


def test_a_clean_table_of_another_shape_is_replaced(tracked: Path) -> None:
    db = sqlite3.connect(tracked / ".mdflow" / "state.db")
    with db:
        db.execute("DROP TABLE clean")
        db.execute("CREATE TABLE clean (pointer TEXT PRIMARY KEY, digest TEXT)")
    db.close()
    assert proven(tracked) is None
    assert mdflow(tracked, "status").out == "2 datasets, all clean\n"
    assert proven(tracked) == ["data/many", "data/one.csv"]


def test_a_pointer_edited_by_hand_is_rewritten_by_add(tracked: Path) -> None:
    pointer = tracked / "data" / "one.csv.mdflow"
    lines = pointer.read_text().splitlines()
    pointer.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")  # keys reordered
    assert mdflow(tracked, "status").out == "2 datasets, all clean\n"
    assert proven(tracked) is None
    assert mdflow(tracked, "add", "data/one.csv").out.startswith("added data/one.csv")
    assert pointer.read_text().splitlines() == lines


def test_status_takes_over_the_scan_of_a_failed_proof(
    tracked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a folder changed, the ordinary path of status lists its files from the proof's
    scan, as scan_dir would: partial files and their folders skipped, hidden and non-ASCII
    names, exec bits, nested folders."""
    many = tracked / "data" / "many"
    (many / "d1" / "deep" / "er").mkdir(parents=True)
    (many / "d1" / "deep" / "er" / "x.bin").write_bytes(b"x")
    (many / ".hidden").write_text("h\n")
    (many / "d2" / "é ü.txt").write_text("u\n")
    (many / "d2" / "run.sh").write_text("#!/bin/sh\n")
    (many / "d2" / "run.sh").chmod(0o755)
    time.sleep(0.01)
    assert mdflow(tracked, "add", "data/many").code == 0
    assert mdflow(tracked, "status").code == 0 and proven(tracked) is not None
    (many / "d0" / "f0.txt").write_text("changed\n")
    (many / "d0" / ".f1.txt.co-1-ab-0.mdflow-tmp").write_text("partial\n")
    (many / "d0" / "x.mdflow-tmp").mkdir()
    (many / "d0" / "x.mdflow-tmp" / "inside").write_text("partial\n")
    scans: dict[str, Scan] = {}
    assert clean.prove(tracked, scans) is None
    repo = Repo(tracked)
    assert files_of(repo, many, scans[str(many)]) == scan_dir(repo, many)

    def no_scan(*_args: object) -> None:
        raise AssertionError("scanned again")

    monkeypatch.setattr(datasets, "scan_dir", no_scan)
    r = mdflow(tracked, "status")
    assert "data/many/ (1 modified)" in r.out, r.err


@pytest.mark.parametrize("name", [".GIT", "git~1", ".g\u200cit", "a\\b", "link"])
@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_taken_over_scan_refuses_what_scan_dir_refuses(
    tracked: Path, name: str, where: str
) -> None:
    """A name no manifest may hold, or a symlink, found by the proof's scan: status says what
    the ordinary path says without it."""
    d0 = tracked / "data" / "many" / "d0"
    target = tracked.parent / "outside"
    target.mkdir()
    (target / "f").write_text("f\n")
    if name == "link":
        (d0 / name).symlink_to(target if where == "folder" else target / "f")
    elif where == "folder":
        (d0 / name).mkdir()
        (d0 / name / "f.txt").write_text("f\n")
    else:
        (d0 / name).write_text("f\n")
    taken_over = mdflow(tracked, "status")
    assert taken_over.code != 0 and "mdflow: error: " in taken_over.err
    (tracked / ".mdflow" / "state.db").unlink()  # no record, no proof: scan_dir
    assert mdflow(tracked, "status") == taken_over
