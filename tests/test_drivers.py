"""The git drivers for pointers, through real `git diff`, `git log -p` and `git merge`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git, mdflow, read_tree, write_csv

from mdflow.drivers import merge_files, textconv
from mdflow.manifest import ManifestEntry
from mdflow.repo import Repo


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def write_files(top: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text(text)


@pytest.fixture
def installed(repo: Path) -> Path:
    """A repository after `mdflow install`: hooks, .gitattributes and the drivers' config."""
    r = mdflow(repo, "install")
    assert r.code == 0, r.err
    assert "*.mdflow diff=mdflow merge=mdflow" in (repo / ".gitattributes").read_text()
    assert git(repo, "config", "merge.mdflow.driver").strip() == "mdflow hook merge %O %A %B %P"
    (repo / ".pre-commit-config.yaml").unlink()  # the drivers alone; hooks are tested elsewhere
    for hook in (repo / ".git/hooks").iterdir():
        hook.unlink()
    commit_all(repo, "install")
    return repo


def test_git_diff_shows_rows_columns_and_files(installed: Path) -> None:
    repo = installed
    write_csv(repo / "data/train.csv", 100)
    write_files(repo / "images", {"a.png": "a", "b.png": "b", "c.png": "c"})
    assert mdflow(repo, "add", "data/train.csv", "images").code == 0
    commit_all(repo, "v1")
    write_csv(repo / "data/train.csv", 150, extra_column=True)
    write_files(repo / "images", {"b.png": "bb", "d.png": "d"})
    (repo / "images/a.png").unlink()
    assert mdflow(repo, "add", "data/train.csv", "images").code == 0
    commit_all(repo, "v2")
    out = git(repo, "diff", "HEAD~1", "HEAD")
    assert "-rows: 100\n" in out and "+rows: 150\n" in out
    assert "+# column note: str, 0 nulls" in out
    assert " # column id: int64, 0 nulls" in out
    assert "-files: 3\n+files: 3" not in out  # unchanged count is context, not a change
    lines = out.splitlines()
    assert any(line.startswith("-# a.png  1 B ") for line in lines)
    assert any(line.startswith("+# d.png  1 B ") for line in lines)
    assert any(line.startswith("+# b.png  2 B ") for line in lines)
    assert "+# column note" in git(repo, "log", "-p", "-1", "--", "data/train.csv.mdflow")


def test_textconv_leaves_unreadable_pointers_alone(repo: Path, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_text("<<<<<<< ours\nnot: [a pointer\n")
    assert textconv(Repo.find(repo), blob) == blob.read_text()


def branch_files(repo: Path, branch: str, files: dict[str, str], base: str = "main") -> None:
    git(repo, "checkout", "-q", "-b", branch, base)
    assert mdflow(repo, "checkout").code == 0
    write_files(repo / "images", files)
    assert mdflow(repo, "add", "images").code == 0
    commit_all(repo, branch)


def test_merge_driver_merges_folders_file_by_file(installed: Path) -> None:
    repo = installed
    write_files(repo / "images", {"a.png": "a", "b.png": "b"})
    assert mdflow(repo, "add", "images").code == 0
    commit_all(repo, "base")
    branch_files(repo, "left", {"left.png": "L", "a.png": "a2"})
    branch_files(repo, "right", {"right.png": "R"})
    git(repo, "checkout", "-q", "left")
    assert mdflow(repo, "checkout").code == 0
    proc = subprocess.run(
        ["git", "merge", "--no-edit", "right"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mdflow: images.mdflow: merged 4 files" in proc.stderr
    r = mdflow(repo, "checkout")
    assert r.code == 0, r.err
    assert read_tree(repo / "images") == {
        "a.png": b"a2",
        "b.png": b"b",
        "left.png": b"L",
        "right.png": b"R",
    }
    assert mdflow(repo, "status", "--exit-code").code == 0
    assert "files: 4" in (repo / "images.mdflow").read_text()


def test_same_file_changed_on_both_sides_is_a_conflict(installed: Path) -> None:
    repo = installed
    write_files(repo / "images", {"a.png": "a", "b.png": "b"})
    assert mdflow(repo, "add", "images").code == 0
    commit_all(repo, "base")
    branch_files(repo, "left", {"a.png": "left"})
    branch_files(repo, "right", {"a.png": "right"})
    git(repo, "checkout", "-q", "left")
    assert mdflow(repo, "checkout").code == 0
    proc = subprocess.run(
        ["git", "merge", "--no-edit", "right"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "mdflow: conflict in images.mdflow: 1 file changed on both sides (a.png)" in proc.stderr
    assert "mdflow checkout --ours|--theirs images" in proc.stderr
    text = (repo / "images.mdflow").read_text()
    assert text.startswith("<<<<<<< ours: ") and ">>>>>>> theirs: " in text
    assert "# resolve with: mdflow checkout --ours images" in text
    r = mdflow(repo, "checkout", "--theirs", "images")
    assert r.code == 0, r.err
    assert (repo / "images/a.png").read_text() == "right"
    git(repo, "add", "images.mdflow")
    git(repo, "commit", "-qm", "merged, theirs")
    assert mdflow(repo, "status", "--exit-code").code == 0


def test_file_dataset_changed_on_both_sides(installed: Path) -> None:
    repo = installed
    write_csv(repo / "t.csv", 3)
    assert mdflow(repo, "add", "t.csv").code == 0
    commit_all(repo, "base")
    for branch, rows in (("left", 4), ("right", 5)):
        git(repo, "checkout", "-q", "-b", branch, "main")
        write_csv(repo / "t.csv", rows)
        assert mdflow(repo, "add", "t.csv").code == 0
        commit_all(repo, branch)
    proc = subprocess.run(["git", "merge", "left"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "both sides changed the data; ours " in proc.stderr
    assert "4 rows" in proc.stderr and "5 rows" in proc.stderr  # theirs, ours
    assert mdflow(repo, "checkout", "--ours", "t.csv").code == 0
    assert (repo / "t.csv").read_text().count("\n") == 6  # header and our 5 rows
    r = mdflow(repo, "checkout", "--ours", "missing.csv")
    assert r.code != 0


def test_checkout_ours_outside_a_conflict_is_refused(repo: Path) -> None:
    write_csv(repo / "t.csv", 3)
    assert mdflow(repo, "add", "t.csv").code == 0
    r = mdflow(repo, "checkout", "--ours", "t.csv")
    assert r.code != 0 and "not in a merge conflict" in r.err


def entry(path: str, content: str) -> ManifestEntry:
    return ManifestEntry(
        path=path, hash="xxh3-128:" + content.encode().hex().ljust(32, "0"), size=1
    )


def test_merge_files_three_ways() -> None:
    base = [entry("a", "1"), entry("b", "1"), entry("c", "1")]
    ours = [entry("a", "2"), entry("c", "1"), entry("new", "1")]  # a changed, b deleted
    theirs = [entry("a", "1"), entry("b", "1"), entry("c", "3")]  # c changed
    merged, conflicts = merge_files(base, ours, theirs)
    assert conflicts == []
    assert merged == [entry("a", "2"), entry("c", "3"), entry("new", "1")]
    _, conflicts = merge_files(
        base, [entry("a", "1"), entry("c", "1")], [*theirs[:1], entry("b", "9"), entry("c", "1")]
    )
    assert conflicts == ["b"]  # deleted on one side, changed on the other
