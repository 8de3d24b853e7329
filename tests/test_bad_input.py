"""Bad input: one `mdflow: error: what — hint` line on stderr, non-zero exit, nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, git, make_tree, mdflow, mdflow_proc, tree_entries, write_csv

# Bookkeeping a command may touch before it validates its input; none of it is data.
VOLATILE = {".mdflow/lock", ".mdflow/clock", ".mdflow/state.db"}
VOLATILE |= {".mdflow/state.db-wal", ".mdflow/state.db-shm"}
GOOD_HASH = "xxh3-128:" + "0" * 32

Snapshot = dict[str, object]


def snapshot(top: Path) -> Snapshot:
    """Every file, link and folder below `top` (minus .git/ and VOLATILE), with Git's view."""
    out: Snapshot = {"files": tree_entries(top, ".git", VOLATILE)}
    if (top / ".git").exists():
        status = git(top, "status", "--porcelain", "--ignored", "--untracked-files=all")
        out["status"] = [line for line in status.splitlines() if line[3:] not in VOLATILE]
        out["index"] = git(top, "ls-files", "--stage")
        out["refs"] = git(top, "for-each-ref") + (top / ".git/HEAD").read_text()
    return out


def assert_one_line_error(r: Result, *needles: str) -> str:
    assert r.code != 0, r
    assert r.out == "", r.out
    assert r.err.endswith("\n") and r.err.count("\n") == 1, r.err
    line = r.err.rstrip("\n")
    assert line.startswith("mdflow: error: "), line
    what, dash, hint = line.partition(" — ")
    assert dash and what.strip() != "mdflow: error:" and hint.strip(), line
    assert "Traceback" not in line and "rerun with -v" not in line, line  # the catch-all
    for needle in needles:
        assert needle in line, (needle, line)
    return hint


def refused(top: Path, args: list[str], *needles: str, run: Callable[..., Result] = mdflow) -> str:
    """Run mdflow in `top`; assert a one-line error naming `needles` and no change at all."""
    before = snapshot(top)
    hint = assert_one_line_error(run(top, *args), *needles)
    assert snapshot(top) == before
    return hint


def commit_all(repo: Path, msg: str = "c") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", msg)


# --- mdflow add -------------------------------------------------------------------------


def test_add_missing_path(repo: Path) -> None:
    refused(repo, ["add", "nope.csv"], "nope.csv")


def test_add_missing_path_among_good_ones_adds_nothing(repo: Path) -> None:
    write_csv(repo / "good.csv", 3)
    refused(repo, ["add", "good.csv", "nope.csv"], "nope.csv")
    assert not (repo / "good.csv.mdflow").exists()


def test_add_path_outside_repo(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "other"
    write_csv(outside / "x.csv", 3)
    before = snapshot(tmp_path / "other")
    refused(repo, ["add", str(outside)], "outside")
    refused(repo, ["add", "../other/x.csv"], "outside")
    assert snapshot(tmp_path / "other") == before
    assert not (tmp_path / "other.mdflow").exists()


def test_add_symlink_pointing_outside(repo: Path, tmp_path: Path) -> None:
    write_csv(tmp_path / "outside.csv", 3)
    (repo / "link.csv").symlink_to(tmp_path / "outside.csv")
    refused(repo, ["add", "link.csv"], "link.csv")


def test_add_folder_holding_symlink_pointing_outside(repo: Path, tmp_path: Path) -> None:
    write_csv(tmp_path / "outside.csv", 3)
    make_tree(repo / "d")
    (repo / "d/link.csv").symlink_to(tmp_path / "outside.csv")
    refused(repo, ["add", "d"], "d/link.csv")


def test_add_file_tracked_by_git(repo: Path) -> None:
    write_csv(repo / "data.csv", 3)
    commit_all(repo)
    hint = refused(repo, ["add", "data.csv"], "data.csv")
    assert "git rm -r --cached data.csv" in hint


def test_add_folder_with_a_file_tracked_by_git(repo: Path) -> None:
    make_tree(repo / "d")
    git(repo, "add", "d/a.txt")
    git(repo, "commit", "-qm", "one file of d")
    hint = refused(repo, ["add", "d"], "d")
    assert "git rm -r --cached d" in hint


def test_add_pointer_file(repo: Path) -> None:
    write_csv(repo / "data.csv", 3)
    assert mdflow(repo, "add", "data.csv").code == 0
    commit_all(repo)
    hint = refused(repo, ["add", "data.csv.mdflow"], "data.csv.mdflow")
    assert "mdflow add data.csv" in hint


@pytest.mark.parametrize("target", [".", ".git", ".git/config", ".mdflow", ".mdflow/cache"])
def test_add_repository_internals(repo: Path, target: str) -> None:
    refused(repo, ["add", target], target)


def test_add_file_inside_a_tracked_folder(repo: Path) -> None:
    make_tree(repo / "d")
    assert mdflow(repo, "add", "d").code == 0
    (repo / "d/new.txt").write_text("new\n")
    hint = refused(repo, ["add", "d/new.txt"], "d/new.txt")
    assert "mdflow add d" in hint


def test_add_folder_holding_a_tracked_dataset(repo: Path) -> None:
    write_csv(repo / "d/inner.csv", 3)
    assert mdflow(repo, "add", "d/inner.csv").code == 0
    (repo / "d/other.txt").write_text("x\n")
    hint = refused(repo, ["add", "d"], "d/inner.csv.mdflow")
    assert "mdflow remove d/inner.csv.mdflow" in hint


# --- malformed pointers, read by status, checkout and list ---------------------------------


def valid_pointer(path: str) -> str:
    return f"mdflow: 1\npath: {path}\nkind: file\nhash: {GOOD_HASH}\nsize: 3\n"


def _symlinked_folder(repo: Path, outside: Path) -> str:
    write_csv(outside / "x.csv", 3)
    (repo / "sub").symlink_to(outside)
    return valid_pointer("sub/x.csv")


BAD_POINTERS: dict[str, tuple[Callable[[Path, Path], str], str]] = {
    "dotdot": (lambda r, o: valid_pointer("../escape"), "../escape"),
    "absolute": (lambda r, o: valid_pointer(str(o / "abs.csv")), "absolute"),
    "symlinked-folder": (_symlinked_folder, "sub/x.csv"),
    "into-git-dir": (lambda r, o: valid_pointer(".git/config"), ".git"),
    "into-mdflow-dir": (lambda r, o: valid_pointer(".mdflow/state.db"), ".mdflow"),
    "malformed-yaml": (lambda r, o: "mdflow: 1\npath: [unclosed\nhash: {\n", "YAML"),
    "version-99": (lambda r, o: valid_pointer("bad.csv").replace("mdflow: 1", "mdflow: 99"), "99"),
    "non-hex-hash": (
        lambda r, o: valid_pointer("bad.csv").replace(GOOD_HASH, "xxh3-128:" + "zz" * 16),
        "hash",
    ),
    "yaml-list": (lambda r, o: "- mdflow: 1\n- path: bad.csv\n", "mapping"),
    # a reviewer reads the first `path:`; YAML alone would take the last one
    "repeated-key": (
        lambda r, o: valid_pointer("bad.csv") + "path: good.csv\n",
        "the key 'path' appears twice (again on line 6)",
    ),
}


@pytest.mark.parametrize("command", ["status", "checkout", "list"])
@pytest.mark.parametrize("case", sorted(BAD_POINTERS))
def test_malformed_pointer(repo: Path, tmp_path: Path, case: str, command: str) -> None:
    # A good dataset whose data is gone: checkout would have work to do, and must not do it.
    write_csv(repo / "good.csv", 5)
    assert mdflow(repo, "add", "good.csv").code == 0
    (repo / "good.csv").unlink()
    make, needle = BAD_POINTERS[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "bad.csv.mdflow").write_text(make(repo, outside))
    commit_all(repo, "a bad pointer from a teammate")
    hint = refused(repo, [command], "bad.csv.mdflow", needle)
    if case == "version-99":
        assert "upgrade" in hint
    assert not (repo / "good.csv").exists()


# --- malformed configuration -----------------------------------------------------------

BAD_CONFIGS = {
    "yaml-list": ("- mdflow: 1\n", "mapping"),
    "link-type": ("mdflow: 1\ncache:\n  link: [teleport]\n", "cache.link"),
    "lock-timeout": ("mdflow: 1\ncore:\n  lock_timeout: -1\n", "core.lock_timeout"),
    "malformed-yaml": ("mdflow: 1\ncore: [unclosed\n", "YAML"),
    "newer-format": ("mdflow: 2\n", "upgrade mdflow"),
    "repeated-key": ("mdflow: 1\ncache:\n  link: [copy]\ncache:\n  link: [symlink]\n", "twice"),
}


@pytest.mark.parametrize("command", [["status"], ["add", "x.csv"]])
@pytest.mark.parametrize(
    "case",
    sorted(BAD_CONFIGS),
)
def test_malformed_configuration(repo: Path, case: str, command: list[str]) -> None:
    text, needle = BAD_CONFIGS[case]
    (repo / "mdflow.yaml").write_text(text)
    write_csv(repo / "x.csv", 3)
    hint = refused(repo, command, needle)
    assert "mdflow.yaml" in hint


# --- wrong place, wrong state, wrong option ----------------------------------------------


@pytest.mark.parametrize(
    "args", [["status"], ["add", "x.csv"], ["checkout"], ["gc"], ["fsck"], ["list"]]
)
def test_outside_a_git_repository(tmp_path: Path, args: list[str]) -> None:
    top = tmp_path / "plain"
    write_csv(top / "x.csv", 3)
    assert not any((p / ".git").exists() for p in (top, *top.parents))
    hint = refused(top, args, str(top), "Git")
    assert "git init" in hint


@pytest.mark.parametrize(
    "args", [["status"], ["add", "x.csv"], ["checkout"], ["gc"], ["fsck"], ["list"]]
)
def test_before_mdflow_init(tmp_path: Path, args: list[str]) -> None:
    top = tmp_path / "gitonly"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write_csv(top / "x.csv", 3)
    hint = refused(top, args, "mdflow.yaml")
    assert "mdflow init" in hint
    assert not (top / ".mdflow").exists()


@pytest.mark.parametrize("value", ["banana", "14x", "-3d", "1.5d", ""])
def test_gc_bad_prune(repo: Path, value: str) -> None:
    (repo / "junk.bin").write_bytes(b"unreferenced\n")
    assert mdflow(repo, "add", "junk.bin").code == 0
    assert mdflow(repo, "remove", "junk.bin").code == 0
    hint = refused(repo, ["gc", f"--prune={value}", "--force"], f"--prune={value}")
    assert "14d" in hint


def test_errors_are_one_line_in_a_real_process(repo: Path) -> None:
    (repo / "bad.csv.mdflow").write_text("- a list\n")
    refused(repo, ["status"], "bad.csv.mdflow", run=mdflow_proc)
    refused(repo, ["add", "nope.csv"], "nope.csv", run=mdflow_proc)
    refused(repo, ["gc", "--prune=banana"], "banana", run=mdflow_proc)


def test_dash_c_missing_directory(repo: Path) -> None:
    refused(repo, ["-C", "no-such-dir", "status"], "no-such-dir", run=mdflow_proc)
