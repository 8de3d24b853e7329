"""Workspace link types: the default never shares bytes with the cache; opt-ins do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import mdflow, mdflow_proc

from mdflow.hashing import hash_bytes


def set_links(repo: Path, links: str) -> None:
    (repo / "mdflow.yaml").write_text(f"mdflow: 1\ncache:\n  link: [{links}]\n")


def object_path(repo: Path, data: bytes) -> Path:
    h = hash_bytes(data).split(":")[1]
    return repo / ".mdflow/cache" / h[:2] / h[2:]


def test_default_checkout_copies(repo: Path) -> None:
    (repo / "f.bin").write_bytes(b"payload")
    mdflow(repo, "add", "f.bin")
    (repo / "f.bin").unlink()
    assert mdflow(repo, "checkout").code == 0
    f = repo / "f.bin"
    assert not f.is_symlink()
    assert f.stat().st_ino != object_path(repo, b"payload").stat().st_ino
    assert os.access(f, os.W_OK) and f.stat().st_mode & 0o200


def plain_and_script(folder: Path) -> Path:
    """A new folder holding a plain file and an executable one."""
    folder.mkdir()
    (folder / "plain.txt").write_text("plain\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("umask", "plain", "executable"),
    [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750), (0o002, 0o664, 0o775)],
)
def test_checked_out_files_have_the_modes_the_umask_gives(
    repo: Path, umask: int, plain: int, executable: int
) -> None:
    folder = plain_and_script(repo / "data")
    assert mdflow(repo, "add", "data").code == 0
    for f in folder.iterdir():
        f.unlink()
    r = mdflow_proc(repo, "checkout", umask=umask)  # a process of its own: its umask, read once
    assert r.code == 0, r.err
    modes = {f.name: f.stat().st_mode & 0o777 for f in folder.iterdir()}
    assert modes == {"plain.txt": plain, "run.sh": executable}


def test_hardlink_mode_links_on_add_and_checkout(repo: Path) -> None:
    set_links(repo, "hardlink, copy")
    (repo / "f.bin").write_bytes(b"payload")
    mdflow(repo, "add", "f.bin")
    obj = object_path(repo, b"payload")
    assert (repo / "f.bin").stat().st_ino == obj.stat().st_ino
    (repo / "f.bin").unlink()
    assert mdflow(repo, "checkout").code == 0
    assert (repo / "f.bin").stat().st_ino == obj.stat().st_ino
    assert (repo / "f.bin").stat().st_mode & 0o222 == 0  # read-only guard
    assert mdflow(repo, "status", "--exit-code").code == 0


@pytest.mark.parametrize("links", ["symlink", "symlink, copy"])
def test_symlink_mode(repo: Path, links: str) -> None:
    set_links(repo, links)
    top = repo / "d"
    (top / "sub").mkdir(parents=True)
    (top / "sub/x.txt").write_bytes(b"x\n")
    assert mdflow(repo, "add", "d").code == 0
    link = top / "sub/x.txt"
    assert link.is_symlink() and link.resolve() == object_path(repo, b"x\n")
    assert mdflow(repo, "status", "--exit-code").code == 0
    assert mdflow(repo, "add", "d").out.startswith("unchanged d")


def test_reflink_falls_back_to_copy(repo: Path) -> None:
    set_links(repo, "reflink, copy")
    (repo / "f.bin").write_bytes(b"payload" * 1000)
    mdflow(repo, "add", "f.bin")
    (repo / "f.bin").unlink()
    assert mdflow(repo, "checkout").code == 0
    assert (repo / "f.bin").read_bytes() == b"payload" * 1000


def test_bad_link_type_is_a_config_error(repo: Path) -> None:
    set_links(repo, "teleport")
    r = mdflow(repo, "status")
    assert r.code == 1 and "configuration invalid cache.link" in r.err


@pytest.mark.parametrize("links", ["symlink", "symlink, copy"])
def test_symlink_mode_keeps_an_executable_file_executable(repo: Path, links: str) -> None:
    """A symlink to a read-only object cannot be executable: such a file stays a copy at add
    and is copied at checkout (the next link type), the others are linked."""
    set_links(repo, links)
    top = plain_and_script(repo / "d")
    assert mdflow(repo, "add", "d").code == 0
    assert os.access(top / "run.sh", os.X_OK) and not (top / "run.sh").is_symlink()
    assert (top / "plain.txt").is_symlink()
    assert mdflow(repo, "status", "--exit-code").code == 0
    (top / "run.sh").unlink()
    (top / "plain.txt").unlink()
    r = mdflow(repo, "checkout", "d")
    if links == "symlink":  # no link type can write it: said so, the others are written
        assert r.code != 0 and "executable file is never a symlink" in r.err, r.err
        assert "add copy to cache.link" in r.err
        assert (top / "plain.txt").is_symlink() and not (top / "run.sh").exists()
    else:
        assert r.code == 0, r.err
        assert os.access(top / "run.sh", os.X_OK) and not (top / "run.sh").is_symlink()
        assert mdflow(repo, "status", "--exit-code").code == 0
