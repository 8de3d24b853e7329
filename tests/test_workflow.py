"""The daily loop in real Git repositories: add, commit, modify, checkout old and back."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from conftest import (
    git,
    hinted,
    make_tree,
    mdflow,
    mdflow_proc,
    obj,
    pointer_hash,
    read_tree,
    status_hint,
    write_csv,
)

from mdflow.cache import Cache
from mdflow.hashing import hash_bytes
from mdflow.pointer import Pointer


def status(repo: Path) -> dict[str, str]:
    r = mdflow(repo, "status", "--json")
    assert r.code == 0, r.err
    return {s["path"]: s["state"] for s in json.loads(r.out)}


def test_round_trip_restores_byte_identical_data(repo: Path) -> None:
    write_csv(repo / "data/train.csv", 100)
    v1_tree = make_tree(repo / "data/images")
    v1_csv = (repo / "data/train.csv").read_bytes()
    r = mdflow_proc(repo, "add", "data/train.csv", "data/images")
    assert r.code == 0, r.err
    assert "git add data/train.csv.mdflow data/.gitignore data/images.mdflow" in r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    assert git(repo, "ls-files", "data").split() == [
        "data/.gitignore",
        "data/images.mdflow",
        "data/train.csv.mdflow",
    ]

    write_csv(repo / "data/train.csv", 150, extra_column=True)
    (repo / "data/images/a.txt").write_bytes(b"changed\n")
    (repo / "data/images/nested/empty.dat").unlink()
    (repo / "data/images/new.bin").write_bytes(b"\x00" * 10)
    assert status(repo) == {"data/images": "modified", "data/train.csv": "modified"}
    assert mdflow(repo, "add", "data/train.csv", "data/images").code == 0
    git(repo, "commit", "-qam", "v2")
    v2_tree = read_tree(repo / "data/images")
    v2_csv = (repo / "data/train.csv").read_bytes()

    git(repo, "checkout", "-q", "HEAD~1")
    assert status(repo) == {"data/images": "modified", "data/train.csv": "modified"}
    r = mdflow_proc(repo, "checkout")
    assert r.code == 0, r.err
    assert (repo / "data/train.csv").read_bytes() == v1_csv
    assert read_tree(repo / "data/images") == v1_tree
    assert stat.S_IMODE((repo / "data/images/tools/run.sh").stat().st_mode) & 0o100
    assert status(repo) == {"data/images": "clean", "data/train.csv": "clean"}

    git(repo, "checkout", "-q", "main")
    assert mdflow(repo, "checkout").code == 0
    assert (repo / "data/train.csv").read_bytes() == v2_csv
    assert read_tree(repo / "data/images") == v2_tree
    assert not (repo / "data/images/nested/empty.dat").exists()


def test_pointer_contents_for_table_and_folder(repo: Path) -> None:
    write_csv(repo / "t.csv", 10)
    make_tree(repo / "d")
    assert mdflow(repo, "add", "t.csv", "d").code == 0
    table = Pointer.from_yaml((repo / "t.csv.mdflow").read_text(), "t")
    assert (table.kind, table.rows, table.columns, table.path) == ("file", 10, 3, "t.csv")
    assert table.size == (repo / "t.csv").stat().st_size
    folder = Pointer.from_yaml((repo / "d.mdflow").read_text(), "d")
    assert (folder.kind, folder.files, folder.path) == ("dir", 7, "d")
    assert folder.size == sum(len(v) for v in read_tree(repo / "d").values())
    assert (repo / ".gitignore").read_text().splitlines()[-2:] == ["/t.csv", "/d"]


def test_readd_unchanged_is_a_noop_and_changed_updates(repo: Path) -> None:
    write_csv(repo / "t.csv", 5)
    assert mdflow(repo, "add", "t.csv").code == 0
    before = (repo / "t.csv.mdflow").read_bytes()
    r = mdflow(repo, "add", "t.csv")
    assert r.out.startswith("unchanged t.csv")
    assert (repo / "t.csv.mdflow").read_bytes() == before
    write_csv(repo / "t.csv", 6)
    assert mdflow(repo, "add", "t.csv").out.startswith("added t.csv")
    assert "rows: 6" in (repo / "t.csv.mdflow").read_text()


def test_unknown_pointer_keys_survive_re_add(repo: Path) -> None:
    write_csv(repo / "t.csv", 5)
    mdflow(repo, "add", "t.csv")
    pointer = repo / "t.csv.mdflow"
    pointer.write_text(pointer.read_text() + "reviewed_by: alice\n")
    write_csv(repo / "t.csv", 7)
    assert mdflow(repo, "add", "t.csv").code == 0
    assert pointer.read_text().endswith("rows: 7\ncolumns: 3\nreviewed_by: alice\n")


def test_workspace_edit_never_reaches_the_cache(repo: Path) -> None:
    data = repo / "f.bin"
    data.write_bytes(b"original")
    mdflow(repo, "add", "f.bin")
    data.unlink()
    assert mdflow(repo, "checkout").code == 0
    with data.open("r+b") as f:  # edit in place, as an editor or a script would
        f.write(b"EDITED")
    assert mdflow(repo, "fsck").code == 0
    assert status(repo) == {"f.bin": "modified"}


def test_checkout_keeps_uncached_modifications_without_force(repo: Path) -> None:
    data = repo / "f.txt"
    data.write_text("v1\n")
    mdflow(repo, "add", "f.txt")
    data.write_text("precious unsaved work\n")
    r = mdflow(repo, "checkout")
    assert r.code == 1 and "kept f.txt" in r.err
    assert data.read_text() == "precious unsaved work\n"
    assert mdflow(repo, "checkout", "--force").code == 0
    assert data.read_text() == "v1\n"


def test_directory_checkout_removes_only_cached_extras(repo: Path) -> None:
    top = repo / "d"
    make_tree(top)
    mdflow(repo, "add", "d")
    (top / "dup1.txt").unlink()
    (top / "stray.txt").write_text("not cached\n")
    (top / "copy_of_a.txt").write_bytes(b"hello\n")  # same content as a cached object
    r = mdflow(repo, "checkout")
    assert r.code == 1, r.err
    assert (top / "dup1.txt").read_bytes() == b"same content\n"
    assert not (top / "copy_of_a.txt").exists()
    assert (top / "stray.txt").read_text() == "not cached\n"
    assert mdflow(repo, "checkout", "-f").code == 0
    assert not (top / "stray.txt").exists()


def test_checkout_skips_files_that_already_match(repo: Path) -> None:
    top = repo / "d"
    make_tree(top)
    mdflow(repo, "add", "d")
    inode = (top / "a.txt").stat().st_ino
    (top / "dup2.txt").unlink()
    r = mdflow(repo, "checkout")
    assert r.out.startswith("1 restored, 0 removed")
    assert (top / "a.txt").stat().st_ino == inode


def test_status_missing_from_workspace_and_exit_code(repo: Path) -> None:
    (repo / "f.txt").write_text("x\n")
    mdflow(repo, "add", "f.txt")
    assert mdflow(repo, "status", "--exit-code").code == 0
    (repo / "f.txt").unlink()
    assert status(repo) == {"f.txt": "missing-workspace"}
    r = mdflow(repo, "status", "--exit-code")
    assert r.code == 1 and "missing-workspace" in r.out


def test_status_on_a_subset_of_paths(repo: Path) -> None:
    (repo / "a.txt").write_text("a\n")
    (repo / "b.txt").write_text("b\n")
    mdflow(repo, "add", "a.txt", "b.txt")
    r = mdflow(repo, "status", "--json", "b.txt")
    assert [s["path"] for s in json.loads(r.out)] == ["b.txt"]


def test_log_before_the_first_commit_says_there_is_no_history_yet(tmp_path: Path) -> None:
    top = tmp_path / "fresh"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    assert mdflow(top, "init").code == 0
    (top / "f.txt").write_text("v1\n")
    assert mdflow(top, "add", "f.txt").code == 0
    for args in (["log", "f.txt"], ["log", "--no-remote", "f.txt"]):
        r = mdflow(top, *args)
        assert r.code == 1 and r.err.count("\n") == 1, r.err
        assert "f.txt has no history yet (no commit yet) — " in r.err
        assert "git add f.txt.mdflow && git commit" in r.err
    assert not (top / ".mdflow/mlflow").exists()  # reading the history created no store
    git(top, "commit", "-q", "--allow-empty", "-m", "first, without the pointer")
    assert "f.txt has no history yet (it is not committed)" in mdflow(top, "log", "f.txt").err
    git(top, "add", "-A")
    git(top, "commit", "-qm", "f")
    r = mdflow(top, "log", "--no-remote", "f.txt")
    assert r.code == 0 and len(r.out.splitlines()) == 2, r.err


def test_list_remove_and_move(repo: Path) -> None:
    write_csv(repo / "data/t.csv", 3)
    mdflow(repo, "add", "data/t.csv")
    listed = json.loads(mdflow(repo, "list", "--json").out)
    assert [(i["path"], i["rows"], i["state"]) for i in listed] == [("data/t.csv", 3, "clean")]

    assert mdflow(repo, "move", "data/t.csv", "other/renamed.csv").code == 0
    assert (repo / "other/renamed.csv").exists() and not (repo / "data/t.csv").exists()
    assert "path: renamed.csv" in (repo / "other/renamed.csv.mdflow").read_text()
    assert not (repo / "data/t.csv.mdflow").exists()
    assert (repo / "other/.gitignore").read_text() == "/renamed.csv\n"
    assert (
        "/t.csv" not in (repo / "data/.gitignore").read_text()
        if (repo / "data/.gitignore").exists()
        else True
    )
    assert status(repo) == {"other/renamed.csv": "clean"}

    assert mdflow(repo, "remove", "other/renamed.csv").code == 0
    assert (repo / "other/renamed.csv").exists()
    assert not (repo / "other/renamed.csv.mdflow").exists()
    assert json.loads(mdflow(repo, "list", "--json").out) == []


def test_add_inside_tracked_folder_is_refused(repo: Path) -> None:
    make_tree(repo / "d")
    mdflow(repo, "add", "d")
    r = mdflow(repo, "add", "d/a.txt")
    assert r.code == 1 and "inside the tracked folder d" in r.err


def test_checkout_refuses_a_pointer_onto_git_tracked_files(repo: Path) -> None:
    (repo / "README.md").write_text("code, tracked by Git\n")
    git(repo, "add", "README.md")
    (repo / "data.bin").write_bytes(b"data")
    mdflow(repo, "add", "data.bin")
    pointer = (repo / "data.bin.mdflow").read_text().replace("path: data.bin", "path: README.md")
    (repo / "data.bin.mdflow").write_text(pointer)
    r = mdflow(repo, "checkout", "--force")
    assert r.code == 1 and "tracked by Git (README.md)" in r.err
    assert (repo / "README.md").read_text() == "code, tracked by Git\n"


def test_add_refuses_names_with_line_breaks(repo: Path) -> None:
    (repo / "a\nb.csv").write_text("x\n")
    r = mdflow(repo, "add", "a\nb.csv")
    assert r.code == 1 and "line break" in r.err
    assert not (repo / "a\nb.csv.mdflow").exists()


# Each state `mdflow status` reports, and the command its hint names run as printed: it must
# resolve the state (or be the next step). States that need a remote are in test_remote.py.


def tracked(repo: Path, text: str = "v1\n") -> Path:
    """f.txt tracked and committed."""
    (repo / "f.txt").write_text(text)
    assert mdflow(repo, "add", "f.txt").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "f")
    return repo / "f.txt"


def run_hinted(repo: Path, command: list[str]) -> None:
    r = mdflow(repo, *command)
    assert r.code == 0, f"mdflow {' '.join(command)}: {r.err}"


def test_status_clean_names_no_command(repo: Path) -> None:
    tracked(repo)
    r = mdflow(repo, "status")
    assert r.out == "1 dataset, all clean\n" and " — " not in r.out
    assert mdflow(repo, "checkout").out.startswith("0 restored, 0 removed, 1 unchanged")


def test_status_hint_for_another_cached_version_switches_back(repo: Path) -> None:
    data = tracked(repo)
    data.write_text("v2\n")
    assert mdflow(repo, "add", "f.txt").code == 0
    git(repo, "checkout", "--", "f.txt.mdflow")  # the pointer names v1 again; v2 is cached
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [["checkout", "f.txt"]], hint
    run_hinted(repo, hinted(hint)[0])
    assert status(repo) == {"f.txt": "clean"} and data.read_text() == "v1\n"


def test_status_hint_for_new_content_records_or_discards_it(repo: Path) -> None:
    data = tracked(repo)
    data.write_text("unsaved\n")
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [["add", "f.txt"], ["checkout", "-f", "f.txt"]], hint
    run_hinted(repo, hinted(hint)[1])  # discard
    assert status(repo) == {"f.txt": "clean"} and data.read_text() == "v1\n"
    data.write_text("unsaved\n")
    run_hinted(repo, hinted(status_hint(repo, "f.txt"))[0])  # record
    assert status(repo) == {"f.txt": "clean"} and data.read_text() == "unsaved\n"


def test_status_of_a_folder_tells_a_cached_version_from_new_content(repo: Path) -> None:
    """A folder's files left as the pointer's version lists them are known to be cached; the
    others are looked up: one new file makes the whole folder new content."""
    folder = repo / "d"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"{name} v1\n")
    assert mdflow(repo, "add", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    (folder / "b.txt").write_text("b v2\n")
    assert mdflow(repo, "add", "d").code == 0
    git(repo, "checkout", "--", "d.mdflow")  # the pointer names v1 again; v2 is cached
    hint = status_hint(repo, "d")
    assert hinted(hint) == [["checkout", "d"]], hint
    (folder / "c.txt").write_text("c unsaved\n")
    hint = status_hint(repo, "d")
    assert hinted(hint) == [["add", "d"], ["checkout", "-f", "d"]], hint
    assert "(2 modified)" in mdflow(repo, "status").out


def test_status_hint_for_missing_data_with_cache_restores_it(repo: Path) -> None:
    data = tracked(repo)
    data.unlink()
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [["checkout", "f.txt"]], hint
    run_hinted(repo, hinted(hint)[0])
    assert status(repo) == {"f.txt": "clean"} and data.read_text() == "v1\n"


def test_status_hint_for_missing_data_without_cache_or_remote(repo: Path) -> None:
    data = tracked(repo)
    data.unlink()
    obj(repo, pointer_hash(repo, "f.txt")).unlink()
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [] and "restore it from where it was added" in hint, hint
    assert "missing from cache: f.txt" in mdflow(repo, "checkout").err  # why none is named
    data.write_text("v1\n")  # restored from where it was added: the next hint stores it
    run_hinted(repo, hinted(status_hint(repo, "f.txt"))[0])
    assert status(repo) == {"f.txt": "clean"}


def test_status_hint_when_no_cache_or_remote_has_the_pointers_version(repo: Path) -> None:
    data = tracked(repo)
    obj(repo, pointer_hash(repo, "f.txt")).unlink()
    data.write_text("v2\n")
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [["add", "f.txt"]] and "checkout" not in hint, hint
    run_hinted(repo, hinted(hint)[0])
    assert status(repo) == {"f.txt": "clean"} and data.read_text() == "v2\n"


def test_status_hint_for_missing_cache_stores_it_again(repo: Path) -> None:
    data = tracked(repo)
    oid = pointer_hash(repo, "f.txt")
    obj(repo, oid).unlink()
    assert status(repo) == {"f.txt": "missing-cache"}
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [["add", "f.txt"]], hint
    run_hinted(repo, hinted(hint)[0])
    assert status(repo) == {"f.txt": "clean"} and obj(repo, oid).is_file()
    assert data.read_text() == "v1\n"


def _folder_of_ten(repo: Path) -> Path:
    folder = repo / "d"
    folder.mkdir()
    for i in range(10):
        (folder / f"f{i}.txt").write_text(f"file {i}\n")
    time.sleep(0.01)  # past the stat cache's clock: files this recent are never vouched for
    assert mdflow(repo, "add", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    return folder


def test_add_of_a_changed_folder_looks_up_only_the_changed_objects(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous version is whole in the cache: its files left unchanged need no lookup."""
    folder = _folder_of_ten(repo)
    (folder / "f3.txt").write_text("changed\n")
    (folder / "new.txt").write_text("new\n")
    asked: list[str] = []
    has = Cache.has
    monkeypatch.setattr(Cache, "has", lambda self, oid: asked.append(oid) or has(self, oid))
    assert mdflow(repo, "add", "d").code == 0
    unchanged = {hash_bytes(f"file {i}\n".encode()) for i in range(10) if i != 3}
    assert not unchanged & set(asked), asked
    monkeypatch.undo()
    assert mdflow(repo, "fsck").code == 0
    assert mdflow(repo, "status").out == "1 dataset, all clean\n"


def test_add_stores_again_an_object_gone_from_a_cache_not_known_whole(repo: Path) -> None:
    folder = _folder_of_ten(repo)
    obj(repo, hash_bytes(b"file 5\n")).unlink()  # by hand: the stat cache still says whole
    (repo / ".mdflow" / "state.db").unlink()  # no longer: every object is looked up
    (folder / "f3.txt").write_text("changed\n")
    assert mdflow(repo, "add", "d").code == 0
    assert obj(repo, hash_bytes(b"file 5\n")).is_file()
    assert mdflow(repo, "fsck").code == 0


def test_add_of_a_changed_folder_whose_previous_manifest_is_corrupt(repo: Path) -> None:
    """The previous version's manifest only spares lookups: a corrupt one is quarantined and
    every object is looked up instead."""
    folder = _folder_of_ten(repo)
    manifest = obj(repo, pointer_hash(repo, "d"))
    manifest.chmod(0o644)
    manifest.write_bytes(manifest.read_bytes().replace(b'"f1.txt"', b'"f9.txt"', 1))
    obj(repo, hash_bytes(b"file 5\n")).unlink()  # would be spared by the corrupt list
    (folder / "f3.txt").write_text("changed\n")
    r = mdflow(repo, "add", "d")
    assert r.code == 0, r.err
    assert obj(repo, hash_bytes(b"file 5\n")).is_file()
    assert mdflow(repo, "fsck").code == 0
