"""Hostile repositories: pointers, manifests, symlinks and Git trees made by an attacker (a
teammate's commit, a pulled branch) never make mdflow write outside a dataset's own path, into
`.git/` or `.mdflow/`, over a file Git tracks, or delete data another pointer still needs.

Each attack is a real repository in tmp_path; the objects it names are planted in the cache, as
a shared remote would deliver them to `mdflow pull`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import git, make_tree, mdflow, obj, pointer_hash, write_csv
from test_bad_input import assert_one_line_error, refused

from mdflow.cache import Cache
from mdflow.hooks import pushed_objects
from mdflow.repo import Repo

FSMONITOR = b'[core]\n\tfsmonitor = "touch pwned"\n'


def plant(repo: Path, data: bytes) -> str:
    """Put `data` into the repository's cache (as a pull from a shared remote would)."""
    return Cache(repo / ".mdflow/cache").put_bytes(data)


def plant_folder(repo: Path, files: dict[str, bytes]) -> str:
    """A manifest object listing `files` (any paths), with their objects; its hash."""
    lines = [
        json.dumps({"path": rel, "hash": plant(repo, data), "size": len(data), "exec": False})
        for rel, data in sorted(files.items())
    ]
    return plant(repo, ('{"mdflow": 1, "files": [\n' + ",\n".join(lines) + "\n]}\n").encode())


def pointer_text(path: str, oid: str, kind: str = "file", size: int = 1) -> str:
    files = "files: 1\n" if kind == "dir" else ""
    return f"mdflow: 1\npath: {path}\nkind: {kind}\nhash: {oid}\nsize: {size}\n{files}"


def commit_all(repo: Path, msg: str = "from a teammate") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", msg)


def tracked_makefile(repo: Path) -> bytes:
    (repo / "Makefile").write_text("all:\n\techo safe\n")
    commit_all(repo, "a Makefile")
    return (repo / "Makefile").read_bytes()


# --- 1. a folder dataset's manifest names paths in .git/ -----------------------------------

GIT_ENTRIES = [
    ".git/config",
    ".GIT/config",
    ".Git/config",
    "sub/.git/config",
    ".git",  # a `.git` file: `gitdir: <anywhere>`
    ".git./config",  # NTFS drops trailing dots and spaces
    ".git /config",
    "git~1/config",  # NTFS short name of .git
    ".g\u200cit/config",  # HFS+ ignores zero-width characters
]


@pytest.mark.parametrize("entry", GIT_ENTRIES)
@pytest.mark.parametrize("command", [["checkout"], ["checkout", "-f", "d"], ["status"]])
def test_folder_dataset_cannot_write_into_git(repo: Path, entry: str, command: list[str]) -> None:
    oid = plant_folder(repo, {entry: FSMONITOR, "a.txt": b"a\n", ".git/HEAD": b"ref: x\n"})
    (repo / "d.mdflow").write_text(pointer_text("d", oid, "dir"))
    (repo / ".gitignore").write_text("/d\n")
    commit_all(repo)
    refused(repo, command, "d.mdflow", ".git")
    assert not (repo / "d").exists()


def test_manifest_is_checked_before_any_dataset_is_written(repo: Path) -> None:
    write_csv(repo / "a.csv", 3)
    assert mdflow(repo, "add", "a.csv").code == 0
    oid = plant_folder(repo, {".git/config": FSMONITOR})
    (repo / "z.mdflow").write_text(pointer_text("z", oid, "dir"))
    commit_all(repo)
    (repo / "a.csv").unlink()
    refused(repo, ["checkout"], "z.mdflow", ".git")
    assert not (repo / "a.csv").exists() and not (repo / "z").exists()


@pytest.mark.parametrize(
    "entry", ["./.git/config", "a/../.git/config", "/etc/passwd", ".git\\config", "a//b"]
)
def test_manifest_entry_with_a_bad_path_is_refused(repo: Path, entry: str) -> None:
    oid = plant_folder(repo, {entry: b"x\n"})
    (repo / "d.mdflow").write_text(pointer_text("d", oid, "dir"))
    commit_all(repo)
    refused(repo, ["checkout"], "d.mdflow")
    assert not (repo / "d").exists()


@pytest.mark.parametrize("name", [".git", ".GIT", "sub/.Git"])
def test_add_refuses_a_folder_holding_a_git_folder(repo: Path, name: str) -> None:
    make_tree(repo / "d")
    (repo / "d" / name).mkdir(parents=True)
    (repo / "d" / name / "config").write_bytes(FSMONITOR)
    refused(repo, ["add", "d"], f"d/{name}")


def test_add_refuses_a_folder_holding_a_backslash_name(repo: Path) -> None:
    make_tree(repo / "d")
    (repo / "d/a\\b.txt").write_text("x\n")
    refused(repo, ["add", "d"], "a\\b.txt")


# --- 2. symlinks: the resolved path is what the guards check --------------------------------


@pytest.mark.parametrize(
    ("link", "target", "pointer", "path"),
    [
        ("lnk", ".", "evil.mdflow", "lnk/Makefile"),
        ("sub/up", "..", "sub/evil.mdflow", "up/Makefile"),
        ("lnk", "tools", "evil.mdflow", "lnk/../Makefile"),  # `..` itself is refused
    ],
)
def test_symlinked_folder_cannot_overwrite_a_tracked_file(
    repo: Path, link: str, target: str, pointer: str, path: str
) -> None:
    before = tracked_makefile(repo)
    (repo / "tools").mkdir()
    (repo / "sub").mkdir(exist_ok=True)
    (repo / link).symlink_to(target)
    (repo / pointer).write_text(pointer_text(path, plant(repo, b"evil\n"), size=5))
    commit_all(repo)
    for args in (["checkout", "-f"], ["checkout", "-f", pointer]):
        assert_one_line_error(mdflow(repo, *args), pointer)
    assert (repo / "Makefile").read_bytes() == before


def test_symlinked_folder_cannot_overwrite_a_tracked_folder(repo: Path) -> None:
    (repo / "src").mkdir()
    (repo / "src/main.py").write_text("print('safe')\n")
    (repo / "lnk").symlink_to(".")
    oid = plant_folder(repo, {"main.py": b"print('pwned')\n"})
    (repo / "evil.mdflow").write_text(pointer_text("lnk/src", oid, "dir"))
    commit_all(repo)
    refused(repo, ["checkout", "-f"], "evil.mdflow", "src")
    assert (repo / "src/main.py").read_text() == "print('safe')\n"


@pytest.mark.parametrize("target", [".", ".git", ".mdflow"])
def test_dataset_folder_that_is_a_symlink_to_the_root_or_internals(repo: Path, target: str) -> None:
    before = tracked_makefile(repo)
    local = b"remote:\n  origin:\n    url: http://attacker.invalid\n"
    files = {"Makefile": b"evil\n", "config": FSMONITOR, ".mdflow/config.local.yaml": local}
    oid = plant_folder(repo, files)
    (repo / "d.mdflow").write_text(pointer_text("d", oid, "dir"))
    commit_all(repo)
    (repo / "d").symlink_to(target)  # not from Git: made in the workspace
    assert_one_line_error(mdflow(repo, "checkout", "-f"), "d")
    assert (repo / "Makefile").read_bytes() == before
    assert b"pwned" not in (repo / ".git/config").read_bytes()
    assert not (repo / ".mdflow/config.local.yaml").exists()
    assert not (repo / ".mdflow/.mdflow").exists()


@pytest.mark.parametrize("target", [".", ".git"])
def test_add_refuses_a_symlink_to_the_root_or_git(repo: Path, target: str) -> None:
    (repo / "lnk").symlink_to(target)
    refused(repo, ["add", "lnk"], "lnk")


def test_file_dataset_in_symlink_link_mode_still_works(repo: Path) -> None:
    """The last component of a data path may be a link into the cache (cache.link: symlink)."""
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text().replace("link: [reflink, copy]", "link: [symlink]"))
    (repo / "f.bin").write_bytes(b"x\n")
    assert mdflow(repo, "add", "f.bin").code == 0
    assert (repo / "f.bin").is_symlink()
    r = mdflow(repo, "status", "--exit-code")
    assert r.code == 0, r.err
    (repo / "f.bin").unlink()
    assert mdflow(repo, "checkout").code == 0
    assert (repo / "f.bin").read_bytes() == b"x\n"


# --- 3. two pointers for one data path ---------------------------------------------------


def claimed_twice(repo: Path, second: str, path: str) -> bytes:
    write_csv(repo / "good.csv", 3)
    make_tree(repo / "d")
    assert mdflow(repo, "add", "good.csv", "d").code == 0
    (repo / "lnk").symlink_to(".")
    (repo / second).write_text(pointer_text(path, plant(repo, b"evil\n"), size=5))
    commit_all(repo)
    return (repo / "good.csv").read_bytes()


SECOND_POINTERS = [
    ("z.mdflow", "good.csv", "good.csv.mdflow"),
    ("z.mdflow", "lnk/good.csv", "good.csv.mdflow"),
    ("z.mdflow", "d/a.txt", "d.mdflow"),
    ("z.mdflow", "d/nested", "d.mdflow"),
]


@pytest.mark.parametrize(("second", "path", "first"), SECOND_POINTERS)
@pytest.mark.parametrize(
    "command", [["status"], ["checkout", "-f"], ["checkout", "good.csv"], ["pull"], ["list"]]
)
def test_two_pointers_for_one_data_path(
    repo: Path, second: str, path: str, first: str, command: list[str]
) -> None:
    good = claimed_twice(repo, second, path)
    refused(repo, command, first, second)
    assert (repo / "good.csv").read_bytes() == good
    assert (repo / "d/a.txt").read_bytes() == b"hello\n"


def test_add_of_a_path_another_pointer_claims(repo: Path) -> None:
    write_csv(repo / "good.csv", 3)
    (repo / ".gitignore").write_text("/good.csv\n")
    (repo / "z.mdflow").write_text(pointer_text("good.csv", plant(repo, b"evil\n"), size=5))
    commit_all(repo)
    refused(repo, ["add", "good.csv"], "z.mdflow", "good.csv")


def test_add_inside_a_folder_another_pointer_claims(repo: Path) -> None:
    make_tree(repo / "d")
    (repo / ".gitignore").write_text("/d\n")
    (repo / "z.mdflow").write_text(pointer_text("d", plant_folder(repo, {"a": b"a"}), "dir"))
    commit_all(repo)
    refused(repo, ["add", "d/a.txt"], "z.mdflow", "d")


def test_re_adding_a_dataset_is_not_a_conflict(repo: Path) -> None:
    write_csv(repo / "good.csv", 3)
    assert mdflow(repo, "add", "good.csv").code == 0
    write_csv(repo / "good.csv", 4)
    r = mdflow(repo, "add", "good.csv")
    assert r.code == 0, r.err
    assert mdflow(repo, "status", "--exit-code").code == 0


# --- 4. a Git tree named *.mdflow is not a pointer ----------------------------------------


def tree_named_like_a_pointer(repo: Path) -> str:
    (repo / "data.bin").write_bytes(b"kept\n")
    assert mdflow(repo, "add", "data.bin").code == 0
    (repo / "weird.mdflow").mkdir()
    (repo / "weird.mdflow/readme.txt").write_text("a folder, not a pointer\n")
    commit_all(repo, "a folder named like a pointer")
    return pointer_hash(repo, "data.bin")


def test_gc_skips_a_tree_named_like_a_pointer(repo: Path) -> None:
    oid = tree_named_like_a_pointer(repo)
    r = mdflow(repo, "gc", "--prune=now", "--force")
    assert r.code == 0, r.err
    assert obj(repo, oid).exists()


def test_pushed_objects_skip_a_tree_named_like_a_pointer(repo: Path) -> None:
    oid = tree_named_like_a_pointer(repo)
    assert pushed_objects(Repo(repo), None, "HEAD", None) == {oid}


def test_status_and_log_skip_a_tree_named_like_a_pointer(repo: Path) -> None:
    tree_named_like_a_pointer(repo)
    r = mdflow(repo, "status", "--exit-code")
    assert r.code == 0, r.err
    assert "weird" not in r.out
    assert_one_line_error(mdflow(repo, "log", "weird"), "no versions")


def test_a_submodule_named_like_a_pointer_is_not_a_pointer(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},sub.mdflow")
    git(repo, "commit", "-qm", "a gitlink named like a pointer")
    for args in (["status"], ["list"], ["gc", "--prune=now", "--force"]):
        r = mdflow(repo, *args)
        assert r.code == 0, (args, r.err)


def test_a_symlink_named_like_a_pointer_is_not_a_pointer_at_any_revision(repo: Path) -> None:
    """Read from a commit (`list REPO --rev`, `pull --rev`), a symlink `lnk.mdflow` is not a
    pointer, as in the working tree (its blob is the link's target, not YAML)."""
    (repo / "lnk.mdflow").symlink_to("mdflow.yaml")
    commit_all(repo, "a symlink named like a pointer")
    for args in (["list", str(repo), "--rev", "HEAD"], ["pull", "--rev", "HEAD"]):
        r = mdflow(repo, *args)
        assert r.code == 0, (args, r.err)


# --- 5. a pointer whose file name holds a newline still protects its objects --------------


@pytest.mark.parametrize("name", ["a\nb.mdflow", "dir\nx/c.mdflow", "tab\there.mdflow"])
def test_gc_keeps_objects_of_a_pointer_with_a_newline_in_its_name(repo: Path, name: str) -> None:
    data = b"only on another branch\n" * 100
    oid = plant(repo, data)
    git(repo, "checkout", "-qb", "other")
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(pointer_text("x.bin", oid, size=len(data)))
    commit_all(repo, "a hand-made pointer")
    git(repo, "checkout", "-q", "main")
    junk = plant(repo, b"junk\n")
    r = mdflow(repo, "gc", "--prune=now", "--force")
    assert r.code == 0, r.err
    assert obj(repo, oid).exists()
    assert not obj(repo, junk).exists()


def test_pushed_objects_include_a_pointer_with_a_newline_in_its_name(repo: Path) -> None:
    oid = plant(repo, b"data\n")
    (repo / "a\nb.mdflow").write_text(pointer_text("x.bin", oid, size=5))
    commit_all(repo)
    assert pushed_objects(Repo(repo), None, "HEAD", None) == {oid}


def test_add_through_a_symlinked_folder_refuses_a_tracked_file(repo: Path) -> None:
    tracked_makefile(repo)
    (repo / "lnk").symlink_to(".")
    hint = refused(repo, ["add", "lnk/Makefile"], "Makefile")
    assert "git rm -r --cached Makefile" in hint


def test_add_after_a_pointer_was_moved_and_not_yet_staged(repo: Path) -> None:
    """`mdflow add` reads every pointer to find claims; one gone from the working tree (still
    in the index) claims nothing."""
    write_csv(repo / "a.csv", 3)
    assert mdflow(repo, "add", "a.csv").code == 0
    commit_all(repo)
    assert mdflow(repo, "move", "a.csv", "b.csv").code == 0
    write_csv(repo / "new.csv", 2)
    r = mdflow(repo, "add", "new.csv")
    assert r.code == 0, r.err
    assert (repo / "new.csv.mdflow").is_file()


@pytest.mark.parametrize("path", ["Makefile/x", "Makefile/deeper/x"])
def test_a_data_path_through_a_file_is_a_one_line_error(repo: Path, path: str) -> None:
    """A pointer whose path runs through a (Git-tracked) file: refused, naming the pointer and
    the file, before anything is written (it was the catch-all FileExistsError)."""
    before = tracked_makefile(repo)
    (repo / "evil.mdflow").write_text(pointer_text(path, plant(repo, b"evil\n"), size=5))
    commit_all(repo)
    for args in (["checkout"], ["checkout", "-f"]):
        assert_one_line_error(mdflow(repo, *args), "evil.mdflow", "Makefile")
    assert (repo / "Makefile").read_bytes() == before
    assert mdflow(repo, "status").code in (0, 1)  # reading it is no crash either


@pytest.mark.parametrize("path", ["good.csv", "lnk/good.csv", "d/a.txt"])
def test_checkout_theirs_checks_their_pointer_before_writing_anything(
    repo: Path, path: str
) -> None:
    """Their side of a conflicted pointer claims another dataset's data: refused, and neither
    that data nor the conflicted pointer file is touched."""
    good = claimed_twice(repo, "z.mdflow", "z.csv")  # z.mdflow: a dataset of its own
    git(repo, "checkout", "-qb", "theirs")
    (repo / "z.mdflow").write_text(pointer_text(path, plant(repo, b"theirs\n"), size=7))
    commit_all(repo)
    git(repo, "checkout", "-q", "main")
    (repo / "z.mdflow").write_text(pointer_text("z.csv", plant(repo, b"ours\n"), size=5))
    commit_all(repo, "ours")
    merge = subprocess.run(["git", "merge", "-q", "theirs"], cwd=repo, capture_output=True)
    assert merge.returncode != 0  # a conflict on z.mdflow
    conflicted = (repo / "z.mdflow").read_text()
    assert "<<<<<<<" in conflicted
    r = mdflow(repo, "checkout", "--theirs", "z.mdflow")
    assert_one_line_error(r)
    assert "both claim" in r.err and "in the theirs version" in r.err
    assert "mdflow checkout --ours z.mdflow" in r.err
    assert (repo / "good.csv").read_bytes() == good
    assert (repo / "d/a.txt").read_bytes() == b"hello\n"
    assert (repo / "z.mdflow").read_text() == conflicted
    assert mdflow(repo, "checkout", "--ours", "z.mdflow").code == 0
    assert (repo / "z.csv").read_bytes() == b"ours\n"
