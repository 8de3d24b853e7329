"""`mdflow gc` keeps every object any ref, reflog, stash, index or working tree needs."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import git, make_tree, mdflow, mdflow_proc, obj, pointer_hash, read_tree

Data = bytes | dict[str, bytes]


@dataclass
class Version:
    """A dataset version that only some Git place still references."""

    path: str
    oid: str
    data: Data
    select: Callable[[Path], None]  # brings this version's pointer into the working tree


def content(n: int) -> bytes:
    return f"row {n}\n".encode() * (1000 + n)


def cache_listing(repo: Path) -> list[str]:
    top = repo / ".mdflow/cache"
    return sorted(p.relative_to(top).as_posix() for p in top.rglob("*"))


def put(repo: Path, n: int, rel: str = "data.bin") -> str:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_bytes(content(n))
    r = mdflow(repo, "add", rel)
    assert r.code == 0, r.err
    return pointer_hash(repo, rel)


def commit_all(repo: Path, msg: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", msg)
    return git(repo, "rev-parse", "HEAD").strip()


def base(repo: Path) -> None:
    put(repo, 1)
    commit_all(repo, "v1")


def sync(repo: Path) -> None:
    """Make the workspace match HEAD's pointers (the newer data is in the cache)."""
    r = mdflow(repo, "checkout")
    assert r.code == 0, r.err
    assert (repo / "data.bin").read_bytes() == content(1)


def expire_reflogs(repo: Path) -> None:
    git(repo, "reflog", "expire", "--expire=now", "--all")


def run(*args: str) -> Callable[[Path], None]:
    def select(repo: Path) -> None:
        git(repo, *args)

    return select


def from_rev(rev: str, pointer: str = "data.bin.mdflow") -> Callable[[Path], None]:
    """Take the pointer as it is in `rev` (a commit, tag, stash entry, or `` for the index)."""
    return run("checkout", *([rev] if rev else []), "--", pointer)


def keep_pointer(repo: Path) -> None:
    """The pointer is already in the working tree."""


# --- one builder per place that may hold the only reference -------------------------------


def only_other_branch(repo: Path) -> list[Version]:
    base(repo)
    git(repo, "checkout", "-qb", "other")
    v2 = put(repo, 2)
    commit_all(repo, "v2 on other")
    git(repo, "checkout", "-q", "main")
    sync(repo)
    expire_reflogs(repo)
    return [Version("data.bin", v2, content(2), run("checkout", "-q", "other"))]


def only_tag(repo: Path, annotated: bool) -> list[Version]:
    base(repo)
    git(repo, "checkout", "-q", "--detach")
    v2 = put(repo, 2)
    commit_all(repo, "v2, tagged")
    git(repo, "tag", *(["-a", "-m", "release"] if annotated else []), "v2")
    git(repo, "checkout", "-q", "main")
    sync(repo)
    expire_reflogs(repo)
    return [Version("data.bin", v2, content(2), run("checkout", "-q", "v2"))]


def only_tag_of_a_tree(repo: Path, annotated: bool) -> list[Version]:
    """A tag naming a tree, not a commit (`git tag t <commit>^{tree}`): its commit is gone."""
    base(repo)
    git(repo, "checkout", "-qb", "doomed")
    v2 = put(repo, 2, "sub/data.bin")
    sha = commit_all(repo, "v2, tagged as a tree")
    git(repo, "tag", *(["-a", "-m", "a tree"] if annotated else []), "t", f"{sha}^{{tree}}")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-qD", "doomed")
    sync(repo)
    expire_reflogs(repo)
    git(repo, "gc", "-q", "--prune=now")
    assert sha not in git(repo, "rev-list", "--all", "--reflog")
    return [Version("sub/data.bin", v2, content(2), from_rev("t", "sub/data.bin.mdflow"))]


def only_index(repo: Path) -> list[Version]:
    base(repo)
    v2 = put(repo, 2)
    git(repo, "add", "data.bin.mdflow")
    v3 = put(repo, 3)
    return [
        Version("data.bin", v3, content(3), keep_pointer),
        Version("data.bin", v2, content(2), from_rev("")),
    ]


def only_working_tree(repo: Path) -> list[Version]:
    base(repo)
    v2 = put(repo, 2)  # a modified, unstaged pointer
    new = put(repo, 9, "sub/dir/new.bin")  # a pointer Git has never seen
    return [
        Version("data.bin", v2, content(2), keep_pointer),
        Version("sub/dir/new.bin", new, content(9), keep_pointer),
    ]


def only_stash(repo: Path) -> list[Version]:
    base(repo)
    v2 = put(repo, 2)
    git(repo, "stash", "-q")
    v3 = put(repo, 3)
    git(repo, "stash", "-q")
    sync(repo)
    return [
        Version("data.bin", v3, content(3), from_rev("stash@{0}")),
        Version("data.bin", v2, content(2), from_rev("stash@{1}")),
    ]


def only_stash_index_and_untracked(repo: Path) -> list[Version]:
    base(repo)
    v2 = put(repo, 2)
    git(repo, "add", "data.bin.mdflow")  # stash@{0}^2, the stashed index
    v3 = put(repo, 3)  # stash@{0}, the stashed working tree
    new = put(repo, 9, "sub/new.bin")  # stash@{0}^3, the stashed untracked files
    git(repo, "stash", "-q", "--include-untracked")
    assert not (repo / "sub/new.bin.mdflow").exists()
    sync(repo)
    return [
        Version("data.bin", v2, content(2), from_rev("stash@{0}^2")),
        Version("data.bin", v3, content(3), from_rev("stash@{0}")),
        Version("sub/new.bin", new, content(9), from_rev("stash@{0}^3", "sub/new.bin.mdflow")),
    ]


def only_reflog_after_reset(repo: Path) -> list[Version]:
    base(repo)
    v2 = put(repo, 2)
    sha = commit_all(repo, "v2, to be reset away")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    sync(repo)
    assert sha not in git(repo, "rev-list", "--all")
    return [Version("data.bin", v2, content(2), from_rev(sha))]


def only_reflog_of_deleted_branch(repo: Path) -> list[Version]:
    base(repo)
    git(repo, "checkout", "-qb", "doomed")
    v2 = put(repo, 2)
    sha = commit_all(repo, "v2 on a branch deleted later")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-qD", "doomed")
    sync(repo)
    return [Version("data.bin", v2, content(2), from_rev(sha))]


def directory_in_history(repo: Path) -> list[Version]:
    v1_tree = make_tree(repo / "d")
    assert mdflow(repo, "add", "d").code == 0
    commit_all(repo, "d v1")
    v1 = pointer_hash(repo, "d")
    (repo / "d/a.txt").write_bytes(b"changed\n")
    (repo / "d/nested/deeper/b.bin").write_bytes(b"\x01" * 5000)
    (repo / "d/dup1.txt").unlink()
    assert mdflow(repo, "add", "d").code == 0
    commit_all(repo, "d v2")
    v2 = pointer_hash(repo, "d")
    return [
        Version("d", v2, read_tree(repo / "d"), keep_pointer),
        Version("d", v1, v1_tree, from_rev("HEAD~1", "d.mdflow")),
    ]


SCENARIOS: dict[str, Callable[[Path], list[Version]]] = {
    "other-branch": only_other_branch,
    "tag": lambda repo: only_tag(repo, annotated=False),
    "annotated-tag": lambda repo: only_tag(repo, annotated=True),
    "tag-of-a-tree": lambda repo: only_tag_of_a_tree(repo, annotated=False),
    "annotated-tag-of-a-tree": lambda repo: only_tag_of_a_tree(repo, annotated=True),
    "index": only_index,
    "working-tree": only_working_tree,
    "stash": only_stash,
    "stash-index-and-untracked": only_stash_index_and_untracked,
    "reflog-after-reset": only_reflog_after_reset,
    "reflog-of-deleted-branch": only_reflog_of_deleted_branch,
    "directory": directory_in_history,
}


def objects_of(repo: Path, v: Version) -> set[str]:
    if isinstance(v.data, bytes):
        return {v.oid}
    manifest = json.loads(obj(repo, v.oid).read_bytes())
    assert len(manifest["files"]) == len(v.data)
    return {v.oid} | {f["hash"] for f in manifest["files"]}


def unreferenced(repo: Path, name: str = "junk.bin") -> str:
    """An object no pointer anywhere refers to (added, then untracked and deleted)."""
    (repo / name).write_bytes(f"unreferenced {name}\n".encode())
    assert mdflow(repo, "add", name).code == 0
    oid = pointer_hash(repo, name)
    assert mdflow(repo, "remove", name).code == 0
    (repo / name).unlink()
    return oid


def read_data(path: Path) -> Data:
    return read_tree(path) if path.is_dir() else path.read_bytes()


def delete_data(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_gc_keeps_what_any_ref_needs(repo: Path, scenario: str) -> None:
    versions = SCENARIOS[scenario](repo)
    junk = unreferenced(repo)
    needed = set().union(*(objects_of(repo, v) for v in versions))
    r = mdflow(repo, "gc", "--prune=now", "--force")
    assert r.code == 0, r.err
    assert not obj(repo, junk).exists(), "gc deleted nothing: the test proves nothing"
    assert sorted(o for o in needed if not obj(repo, o).exists()) == []
    for v in versions:
        delete_data(repo / v.path)
        v.select(repo)
        r = mdflow(repo, "checkout")
        assert r.code == 0, r.err
        assert read_data(repo / v.path) == v.data, v


def test_gc_keeps_objects_named_by_a_pointer_it_cannot_read(repo: Path) -> None:
    v2 = put(repo, 2, "future.bin")
    text = (repo / "future.bin.mdflow").read_text().replace("mdflow: 1", "mdflow: 2")
    (repo / "future.bin.mdflow").write_text(text + "added_by_mdflow_2: yes\n")
    commit_all(repo, "a pointer written by a newer mdflow")
    git(repo, "rm", "-q", "future.bin.mdflow")
    commit_all(repo, "gone from the working tree, still in history")
    junk = unreferenced(repo)
    assert mdflow(repo, "gc", "--prune=now", "--force").code == 0
    assert obj(repo, v2).exists()
    assert not obj(repo, junk).exists()


# --- expiry, dry run, confirmation ----------------------------------------------------------


def test_young_unreferenced_object_survives_default_expiry(repo: Path) -> None:
    junk = unreferenced(repo)
    r = mdflow(repo, "gc", "--force")
    assert r.code == 0, r.err
    assert obj(repo, junk).exists()
    assert "keeping 1 younger than --prune=14d" in r.out
    assert mdflow(repo, "gc", "--prune=now", "--force").code == 0
    assert not obj(repo, junk).exists()


def test_old_unreferenced_object_goes_with_default_expiry(repo: Path) -> None:
    old, young = unreferenced(repo, "old.bin"), unreferenced(repo, "young.bin")
    month_ago = time.time() - 30 * 86400
    os.utime(obj(repo, old), (month_ago, month_ago))
    assert mdflow(repo, "gc", "--force").code == 0
    assert not obj(repo, old).exists()
    assert obj(repo, young).exists()


def test_stale_temporary_files_go_after_a_day(repo: Path) -> None:
    tmp = repo / ".mdflow/cache/tmp"
    tmp.mkdir(exist_ok=True)
    stale, fresh = tmp / "obj-stale", tmp / "obj-fresh"
    stale.write_bytes(b"half an object")
    fresh.write_bytes(b"an add in progress")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    assert mdflow(repo, "gc", "--prune=now", "--force").code == 0
    assert not stale.exists()
    assert fresh.exists()


@pytest.mark.parametrize("extra", [[], ["--force"]])
def test_dry_run_deletes_nothing(repo: Path, extra: list[str]) -> None:
    base(repo)
    junk = unreferenced(repo)
    before = cache_listing(repo)
    r = mdflow(repo, "gc", "--prune=now", "--dry-run", *extra)
    assert r.code == 0, r.err
    assert "would delete 1 unreferenced" in r.out
    assert cache_listing(repo) == before
    assert obj(repo, junk).exists()


def test_without_force_and_without_tty_gc_refuses(repo: Path) -> None:
    base(repo)
    junk = unreferenced(repo)
    before = cache_listing(repo)
    r = mdflow_proc(repo, "gc", "--prune=now", stdin="y\n")
    assert r.code != 0
    assert r.err.count("\n") == 1 and r.err.startswith("mdflow: error: "), r.err
    assert " — " in r.err and "--force" in r.err and "Traceback" not in r.err
    assert cache_listing(repo) == before
    assert obj(repo, junk).exists()
