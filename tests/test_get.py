"""`mdflow get`: a dataset version from another repository, without its working tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import git, mdflow, new_repo, read_tree, shared_project


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes, bytes, Path]:
    """A repository sharing its data through an embedded store, as a file:// URL."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root = new_repo(tmp_path / "upstream")
    v1, v2 = shared_project(root, str(tmp_path / "store"))
    return root.as_uri(), v1, v2, root


def test_get_files_and_folders_at_any_revision(
    tmp_path: Path, source: tuple[str, bytes, bytes, Path]
) -> None:
    url, v1, v2, upstream = source
    here = tmp_path / "elsewhere"  # not a repository
    here.mkdir()
    r = mdflow(here, "get", url, "data/t.csv")
    assert r.code == 0, r.err
    assert (here / "t.csv").read_bytes() == v2 and "data/t.csv at " in r.out
    assert mdflow(here, "get", url, "data/t.csv", "--rev", "v1", "-o", "old.csv").code == 0
    assert (here / "old.csv").read_bytes() == v1
    assert mdflow(here, "get", url, "data/images", "-o", "imgs").code == 0
    assert read_tree(here / "imgs") == read_tree(upstream / "data/images")
    assert os.access(here / "imgs/tools/run.sh", os.X_OK)
    assert mdflow(here, "get", url, "data/images/nested").code == 0
    assert read_tree(here / "nested") == read_tree(upstream / "data/images/nested")
    assert mdflow(here, "get", str(upstream), "data/images/a.txt").code == 0  # a local path
    assert (here / "a.txt").read_bytes() == b"hello\n"
    assert git(upstream, "status", "--porcelain") == ""

    r = mdflow(here, "get", url, "data/t.csv")
    assert r.code == 1 and "already exists" in r.err and r.err.count("\n") == 1
    r = mdflow(here, "get", url, "data/nothing.csv")
    assert r.code == 1 and "not tracked by mdflow" in r.err
    r = mdflow(here, "get", str(tmp_path / "no-such-repo"), "data/t.csv")
    assert r.code == 1 and "no such repository" in r.err


def test_list_another_repository_at_any_revision(
    tmp_path: Path, source: tuple[str, bytes, bytes, Path]
) -> None:
    url, _, _, upstream = source
    here = tmp_path / "elsewhere"  # not a repository
    here.mkdir()
    r = mdflow(here, "list", url)
    assert r.code == 0, r.err
    header, images, table = r.out.splitlines()
    assert header.split() == ["PATH", "KIND", "SIZE", "FILES", "ROWS", "COLS"]
    assert images.split()[:2] == ["data/images", "dir"] and images.split()[4] == "7"
    assert table.split()[:2] == ["data/t.csv", "file"] and table.split()[-2:] == ["5", "3"]
    old = json.loads(mdflow(here, "list", url, "data/t.csv", "--rev", "v1", "--json").out)
    assert [(d["path"], d["rows"]) for d in old] == [("data/t.csv", 3)]
    assert old[0]["commit"] == git(upstream, "rev-parse", "v1").strip()
    inner = json.loads(mdflow(here, "list", str(upstream), "data/images/nested", "--json").out)
    assert [d["path"] for d in inner] == ["data/images"]  # the folder dataset holding it
    r = mdflow(here, "list", url, "data/nothing")
    assert r.code == 1 and f"mdflow list {url}" in r.err and r.err.count("\n") == 1
    assert not list((tmp_path / "user-cache").rglob("*.csv"))  # no data was downloaded
