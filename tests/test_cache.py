from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

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
