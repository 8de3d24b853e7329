"""`mdflow import` and `mdflow update`: datasets that remember the repository they come from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import git, mdflow, new_repo, shared_project, write_csv

from mdflow.pointer import Pointer


def test_import_then_update_to_the_newest_version(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    upstream = new_repo(tmp_path / "upstream")
    v1, v2 = shared_project(upstream, str(tmp_path / "store"))
    url = upstream.as_uri()
    head = git(upstream, "rev-parse", "HEAD").strip()

    r = mdflow(repo, "import", url, "data/t.csv", "--rev", "main", "-o", "raw/t.csv")
    assert r.code == 0, r.err
    assert (repo / "raw/t.csv").read_bytes() == v2
    text = (repo / "raw/t.csv.mdflow").read_text()
    pointer = Pointer.from_yaml(text, "t.csv.mdflow")
    assert pointer.rows == 5 and pointer.source is not None
    assert yaml.safe_load(text)["source"] == {
        "repo": url,
        "path": "data/t.csv",
        "rev": "main",
        "commit": head,
    }
    assert "/t.csv" in (repo / "raw/.gitignore").read_text()
    assert mdflow(repo, "status", "--exit-code").code == 0
    assert mdflow(repo, "import", url, "data/t.csv", "--rev", "v1", "-o", "raw/old.csv").code == 0
    assert (repo / "raw/old.csv").read_bytes() == v1
    assert mdflow(repo, "import", url, "data/images").code == 0
    assert (repo / "images/a.txt").read_bytes() == b"hello\n"
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "imports")
    assert mdflow(repo, "add", "raw/t.csv").code == 0  # re-adding keeps the source
    assert (repo / "raw/t.csv.mdflow").read_text() == text

    r = mdflow(repo, "update", "raw/t.csv", "raw/old.csv")
    assert r.code == 0 and r.out.count("is up to date") == 2
    write_csv(upstream / "data/t.csv", 8)  # upstream publishes a new version
    assert mdflow(upstream, "add", "data/t.csv").code == 0
    assert mdflow(upstream, "push").code == 0
    git(upstream, "commit", "-qam", "v3")
    r = mdflow(repo, "update", "raw/t.csv", "raw/old.csv")
    assert r.code == 0, r.err
    assert "updated raw/t.csv" in r.out and "raw/old.csv is up to date" in r.out  # a tag stays
    assert (repo / "raw/t.csv").read_text().count("\n") == 9
    updated = Pointer.from_yaml((repo / "raw/t.csv.mdflow").read_bytes(), "t.csv.mdflow")
    assert updated.rows == 8 and updated.source is not None
    assert updated.source.commit == git(upstream, "rev-parse", "HEAD").strip()
    assert mdflow(repo, "status", "--exit-code").code == 0
    assert mdflow(repo, "update", "raw/t.csv", "--rev", "v1").code == 0
    assert (repo / "raw/t.csv").read_bytes() == v1

    (repo / "mine.txt").write_text("x")
    mdflow(repo, "add", "mine.txt")
    r = mdflow(repo, "update", "mine.txt")
    assert r.code == 1 and "was not imported" in r.err
    r = mdflow(repo, "import", url, "data/t.csv", "-o", "raw/t.csv")
    assert r.code == 1 and "already exists" in r.err
    r = mdflow(repo, "import", "https://user:secret@example.com/x.git", "data/t.csv")
    assert r.code == 1 and "password" in r.err
