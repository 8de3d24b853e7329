"""`verify: sha256`: pointers record SHA-256 digests beside the xxh3-128 name, and no byte
that does not match them reaches the workspace, a reader or the cache from a remote.

No one can make an xxh3-128 collision for a test, so a forged object (bytes with the name of
other bytes) is stood in for by its mirror image: a pointer whose SHA-256 names other bytes
than the object its hash names. The check sees the same thing either way: an object whose
xxh3-128 matches and whose SHA-256 does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import xxhash
from conftest import git, make_tree, mdflow, new_repo, obj, read_tree, write_csv
from test_bad_input import assert_one_line_error

import mdflow as api
from mdflow.errors import MdflowError

OTHER = "ab" * 32  # a SHA-256 of no bytes anyone committed


def sealed_repo(root: Path) -> Path:
    repo = new_repo(root)
    (repo / "mdflow.yaml").write_text((repo / "mdflow.yaml").read_text() + "verify: sha256\n")
    write_csv(repo / "data/t.csv", 20)
    make_tree(repo / "data/images")
    r = mdflow(repo, "add", "data/t.csv", "data/images")
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


def keys(pointer: Path) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in pointer.read_text().splitlines() if ": " in line)
    return dict(pairs)


def digest_list(repo: Path, rel: str) -> dict[str, object]:
    data = obj(repo, keys(repo / f"{rel}.mdflow")["digests"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == keys(repo / f"{rel}.mdflow")["sha256"]
    parsed: dict[str, object] = json.loads(data)
    return parsed


def forge(pointer: Path, digest: str = OTHER) -> None:
    """The pointer now vouches for other bytes than its object's (see the module's note)."""
    text = pointer.read_text()
    pointer.write_text(re.sub(r"(?m)^sha256: [0-9a-f]{64}$", f"sha256: {digest}", text))


def test_add_records_the_sha256_of_files_and_of_every_file_of_a_folder(tmp_path: Path) -> None:
    repo = sealed_repo(tmp_path / "r")
    data = (repo / "data/t.csv").read_bytes()
    assert keys(repo / "data/t.csv.mdflow")["sha256"] == hashlib.sha256(data).hexdigest()
    listed = digest_list(repo, "data/images")
    files = read_tree(repo / "data/images")
    assert dict(listed["files"]) == {  # type: ignore[call-overload]
        p: hashlib.sha256(b).hexdigest() for p, b in files.items()
    }
    manifest = obj(repo, keys(repo / "data/images.mdflow")["hash"]).read_bytes()
    assert listed["manifest"] == hashlib.sha256(manifest).hexdigest()
    # an unchanged folder keeps its list; a changed one gets a new list naming the new bytes
    before = keys(repo / "data/images.mdflow")
    assert mdflow(repo, "add", "data/images").code == 0
    assert keys(repo / "data/images.mdflow") == before
    (repo / "data/images/a.txt").write_bytes(b"changed\n")
    assert mdflow(repo, "add", "data/images").code == 0
    after = dict(digest_list(repo, "data/images")["files"])  # type: ignore[call-overload]
    assert after["a.txt"] == hashlib.sha256(b"changed\n").hexdigest()
    assert mdflow(repo, "status", "--exit-code").code == 0


def test_checkout_refuses_a_file_whose_bytes_are_not_the_committed_ones(tmp_path: Path) -> None:
    repo = sealed_repo(tmp_path / "r")
    forge(repo / "data/t.csv.mdflow")
    (repo / "data/t.csv").unlink()
    r = mdflow(repo, "checkout")
    assert r.code == 1
    assert "data/t.csv" in r.err and "mdflow pull data/t.csv" in r.err
    assert not (repo / "data/t.csv").exists()
    assert list((repo / ".mdflow/quarantine").iterdir())  # the object is set aside


@pytest.mark.parametrize("link", ["hardlink", "symlink"])
def test_links_are_checked_too(tmp_path: Path, link: str) -> None:
    repo = sealed_repo(tmp_path / "r")
    local = repo / ".mdflow/config.local.yaml"
    local.write_text(f"cache:\n  link: [{link}, copy]\n")
    forge(repo / "data/t.csv.mdflow")
    (repo / "data/t.csv").unlink()
    assert mdflow(repo, "checkout").code == 1
    assert not (repo / "data/t.csv").exists()


def test_one_forged_file_of_a_folder_is_not_written_the_others_are(tmp_path: Path) -> None:
    repo = sealed_repo(tmp_path / "r")
    pointer = repo / "data/images.mdflow"
    listed = digest_list(repo, "data/images")
    listed["files"] = [[p, OTHER if p == "a.txt" else d] for p, d in listed["files"]]  # type: ignore[attr-defined]
    body = json.dumps(listed).encode()  # any JSON form parses; the pointer names its bytes
    oid = "xxh3-128:" + xxhash.xxh3_128_hexdigest(body)
    obj(repo, oid).parent.mkdir(exist_ok=True)
    obj(repo, oid).write_bytes(body)
    text = re.sub(r"(?m)^digests: .*$", f"digests: {oid}", pointer.read_text())
    pointer.write_text(text)
    forge(pointer, hashlib.sha256(body).hexdigest())
    for p in (repo / "data/images").rglob("*"):
        if p.is_file():
            p.unlink()
    r = mdflow(repo, "checkout", "data/images")
    assert r.code == 1 and "data/images/a.txt" in r.err
    written = read_tree(repo / "data/images")
    assert "a.txt" not in written and "dup1.txt" in written


def test_a_digest_list_that_is_not_the_committed_one_is_a_one_line_error(tmp_path: Path) -> None:
    repo = sealed_repo(tmp_path / "r")
    forge(repo / "data/images.mdflow")
    r = mdflow(repo, "checkout", "--force", "data/images")
    assert_one_line_error(r)
    assert "digest list of data/images" in r.err and "mdflow pull data/images" in r.err


def test_pull_refuses_objects_that_do_not_match_and_keeps_them_out_of_the_cache(
    tmp_path: Path,
) -> None:
    upstream = sealed_repo(tmp_path / "up")
    store = tmp_path / "store"
    assert mdflow(upstream, "remote", "add", "origin", str(store), "--default").code == 0
    assert mdflow(upstream, "push").code == 0
    git(upstream, "commit", "-qam", "remote and runs")
    # a teammate's clone pulls everything, verified end to end
    teammate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(upstream), str(teammate))
    r = mdflow(teammate, "pull")
    assert r.code == 0, r.err
    assert read_tree(teammate / "data/images") == read_tree(upstream / "data/images")
    # a commit vouching for other bytes than the remote serves: refused, named, not cached
    third = tmp_path / "third"
    git(tmp_path, "clone", "-q", str(upstream), str(third))
    forge(third / "data/t.csv.mdflow")
    r = mdflow(third, "pull", "data/t.csv")
    assert r.code == 1
    assert "does not match the SHA-256 in data/t.csv.mdflow" in r.err and "origin" in r.err
    assert not obj(third, keys(third / "data/t.csv.mdflow")["hash"]).exists()
    assert not (third / "data/t.csv").exists()


def test_the_python_api_refuses_bytes_that_do_not_match(tmp_path: Path) -> None:
    repo = sealed_repo(tmp_path / "r")
    assert api.read("data/t.csv", repo=str(repo)).shape[0] == 20
    forge(repo / "data/t.csv.mdflow")
    git(repo, "commit", "-qam", "forged")
    with pytest.raises(MdflowError, match="does not match the SHA-256"):
        api.read("data/t.csv", repo=str(repo))


def test_gc_keeps_the_digest_list_of_every_version(tmp_path: Path) -> None:
    repo = sealed_repo(tmp_path / "r")
    listed = keys(repo / "data/images.mdflow")["digests"]
    assert mdflow(repo, "gc", "--force", "--prune", "now").code == 0
    assert obj(repo, listed).exists()
    assert mdflow(repo, "checkout", "--force").code == 0
