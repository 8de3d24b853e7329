from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from conftest import mdflow_proc

from mdflow.cache import Cache
from mdflow.hashing import hash_bytes


def test_object_path_fan_out_and_read_only(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    oid = cache.put_bytes(b"hello")
    h = oid.split(":")[1]
    path = tmp_path / "cache" / h[:2] / h[2:]
    assert path.read_bytes() == b"hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list(cache.oids()) == [oid]


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with cache.batch() as b:
        a, _ = b.ingest(io.BytesIO(b"same"))
        c, _ = b.ingest(io.BytesIO(b"same"))
    assert a == c == hash_bytes(b"same")
    assert list(cache.oids()) == [a]
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with pytest.raises(RuntimeError), cache.batch() as b:
        b.ingest(io.BytesIO(b"data"))
        raise RuntimeError("crash before commit")
    assert list(cache.oids()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_many_objects_commit_with_one_sync(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with cache.batch() as b:
        oids = [b.ingest(io.BytesIO(str(i).encode()))[0] for i in range(50)]
    assert all(cache.has(o) for o in oids)


def test_put_verified_stages_only_matching_data(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    good, bad = hash_bytes(b"good"), hash_bytes(b"expected")
    with cache.batch() as b:
        assert b.put_verified(b"good", good)
        assert b.put_verified(b"good", good)  # twice in one batch: written once
        assert not b.put_verified(b"tampered", bad)
        assert len(list((tmp_path / "cache" / "tmp").iterdir())) == 1
    assert list(cache.oids()) == [good]
    assert cache.path(good).read_bytes() == b"good"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o277])
def test_added_objects_are_read_only_for_all_whatever_the_umask(repo: Path, umask: int) -> None:
    """Objects are made 0444 at creation when the umask allows it, else chmod-ed at commit:
    the same modes either way (downloaded objects: test_objects.assert_holds)."""
    (repo / "data").mkdir()
    for i in range(5):
        (repo / "data" / f"f{i}.txt").write_text(f"file {i}\n")
    (repo / "one.bin").write_bytes(b"one file\n")
    for target in ("data", "one.bin"):
        r = mdflow_proc(repo, "add", target, umask=umask)
        assert r.code == 0, r.err
    objects = [p for p in (repo / ".mdflow/cache").glob("??/*") if p.is_file()]
    assert len(objects) == 7  # five files, one manifest, one file
    assert {stat.S_IMODE(p.stat().st_mode) for p in objects} == {0o444}
