from __future__ import annotations

import io
from pathlib import Path

import xxhash

from mdflow.hashing import hash_bytes, hash_file, hash_stream, hex_of, is_hash


def test_format_is_prefix_and_32_lowercase_hex() -> None:
    oid = hash_bytes(b"abc")
    assert oid == "xxh3-128:" + xxhash.xxh3_128_hexdigest(b"abc")
    assert is_hash(oid) and len(hex_of(oid)) == 32
    assert not is_hash(oid.upper())


def test_stream_equals_bytes_across_chunk_boundaries(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000
    seen: list[bytes] = []
    oid, size = hash_stream(io.BytesIO(data), seen.append, chunk=1000)
    assert (oid, size) == (hash_bytes(data), len(data))
    assert b"".join(seen) == data
    f = tmp_path / "f"
    f.write_bytes(data)
    assert hash_file(str(f)) == (oid, size)
