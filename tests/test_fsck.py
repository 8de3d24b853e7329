"""`mdflow fsck`: a flipped byte in an object is found, quarantined, and reported by status."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import git, make_tree, mdflow, obj, pointer_hash, write_csv


def flip_byte(path: Path) -> bytes:
    """Corrupt a read-only object in place, keeping its size; return the new bytes."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(0o444)
    return bytes(data)


def states(repo: Path) -> dict[str, str]:
    r = mdflow(repo, "status", "--json")
    assert r.code == 0, r.err
    return {s["path"]: s["state"] for s in json.loads(r.out)}


def add_commit(repo: Path, *paths: str) -> None:
    r = mdflow(repo, "add", *paths)
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")


def test_fsck_on_a_sound_cache_exits_0(repo: Path) -> None:
    write_csv(repo / "t.csv", 30)
    make_tree(repo / "d")
    add_commit(repo, "t.csv", "d")
    r = mdflow(repo, "fsck")
    assert r.code == 0, r.out
    # t.csv, d's manifest, and d's 7 files of which dup1/dup2 share one object
    assert r.out.splitlines() == ["checked 8 objects, 0 corrupt"]


def test_flipped_byte_is_quarantined_and_reported(repo: Path) -> None:
    write_csv(repo / "t.csv", 30)
    add_commit(repo, "t.csv")
    oid = pointer_hash(repo, "t.csv")
    bad = flip_byte(obj(repo, oid))

    r = mdflow(repo, "fsck")
    assert r.code == 1
    assert f"corrupt: {oid}" in r.out
    assert not obj(repo, oid).exists()
    quarantined = list((repo / ".mdflow/quarantine").iterdir())
    assert len(quarantined) == 1
    assert quarantined[0].name.startswith(oid.removeprefix("xxh3-128:"))
    assert quarantined[0].read_bytes() == bad

    r = mdflow(repo, "fsck")
    assert r.code == 0, r.out
    assert "0 corrupt" in r.out
    assert states(repo) == {"t.csv": "missing-cache"}
    text = mdflow(repo, "status")
    assert text.out.startswith("missing-cache:") and "t.csv" in text.out


def test_fsck_json_names_the_corrupt_object(repo: Path) -> None:
    write_csv(repo / "t.csv", 30)
    (repo / "u.bin").write_bytes(b"fine\n")
    add_commit(repo, "t.csv", "u.bin")
    oid = pointer_hash(repo, "t.csv")
    flip_byte(obj(repo, oid))
    r = mdflow(repo, "fsck", "--json")
    assert r.code == 1
    assert json.loads(r.out) == {"checked": 2, "corrupt": [oid]}
    assert obj(repo, pointer_hash(repo, "u.bin")).exists()


@pytest.mark.parametrize("which", ["file", "manifest"])
def test_corrupt_object_of_a_folder_makes_the_folder_missing_cache(repo: Path, which: str) -> None:
    make_tree(repo / "d")
    add_commit(repo, "d")
    assert states(repo) == {"d": "clean"}  # also records d as complete in the stat cache
    manifest_oid = pointer_hash(repo, "d")
    manifest = json.loads(obj(repo, manifest_oid).read_bytes())
    oid = next(f["hash"] for f in manifest["files"] if f["path"] == "nested/deeper/b.bin")
    if which == "manifest":
        oid = manifest_oid
    flip_byte(obj(repo, oid))
    r = mdflow(repo, "fsck")
    assert r.code == 1 and oid in r.out
    assert states(repo) == {"d": "missing-cache"}


def test_readding_the_data_repairs_the_cache(repo: Path) -> None:
    write_csv(repo / "t.csv", 30)
    add_commit(repo, "t.csv")
    oid = pointer_hash(repo, "t.csv")
    flip_byte(obj(repo, oid))
    assert mdflow(repo, "fsck").code == 1
    r = mdflow(repo, "add", "t.csv")
    assert r.code == 0, r.err
    assert obj(repo, oid).exists()
    assert mdflow(repo, "fsck").code == 0
    assert states(repo) == {"t.csv": "clean"}


def test_quarantine_never_overwrites_an_earlier_copy(repo: Path) -> None:
    write_csv(repo / "t.csv", 30)
    add_commit(repo, "t.csv")
    oid = pointer_hash(repo, "t.csv")
    hexd = oid.removeprefix("xxh3-128:")
    quarantine = repo / ".mdflow/quarantine"
    quarantine.mkdir()
    now = int(time.time())
    earlier = {}  # copies an earlier fsck quarantined, one for each second around now
    for t in range(now - 1, now + 10):
        name = f"{hexd}.{time.strftime('%Y%m%dT%H%M%S', time.localtime(t))}"
        earlier[name] = f"earlier corrupt copy {t}\n".encode()
        (quarantine / name).write_bytes(earlier[name])
    flip_byte(obj(repo, oid))
    assert mdflow(repo, "fsck").code == 1
    kept = {p.name: p.read_bytes() for p in quarantine.iterdir()}
    assert len(kept) == len(earlier) + 1
    assert {name: kept.get(name) for name in earlier} == earlier
