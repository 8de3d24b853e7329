"""Content hashes: XXH3-128 written as `xxh3-128:<32 lowercase hex digits>`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import BinaryIO

import xxhash

PREFIX = "xxh3-128:"
HASH_PATTERN = r"^xxh3-128:[0-9a-f]{32}$"
_HASH_RE = re.compile(HASH_PATTERN)
SHA256_PATTERN = r"^[0-9a-f]{64}$"  # the optional second hash (`verify: sha256`)
CHUNK = 1 << 20


def is_hash(value: str) -> bool:
    return _HASH_RE.match(value) is not None


def hex_of(oid: str) -> str:
    """The 32 hex digits of a full hash string."""
    if not is_hash(oid):
        raise ValueError(f"not an mdflow hash: {oid!r}")
    return oid[len(PREFIX) :]


def hash_bytes(data: bytes) -> str:
    return PREFIX + xxhash.xxh3_128_hexdigest(data)


def hash_stream(
    stream: BinaryIO, *sinks: Callable[[bytes], object], chunk: int = CHUNK
) -> tuple[str, int]:
    """Hash a stream to its end, feeding every chunk to `sinks` too; return (hash, size)."""
    chunk = min(chunk, _size_hint(stream))
    return hash_chunks(iter(lambda: stream.read(chunk), b""), *sinks)


def _size_hint(stream: BinaryIO) -> int:
    """Small files are read with a small buffer: a 1 MiB read costs an mmap per call."""
    try:
        return max(os.fstat(stream.fileno()).st_size + 1, 4096)
    except (OSError, AttributeError, ValueError):
        return CHUNK


def hash_chunks(chunks: Iterable[bytes], *sinks: Callable[[bytes], object]) -> tuple[str, int]:
    hasher = xxhash.xxh3_128()
    size = 0
    for block in chunks:
        hasher.update(block)
        size += len(block)
        for sink in sinks:
            sink(block)
    return PREFIX + hasher.hexdigest(), size


def hash_file(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        return hash_stream(f)


def sha256_bytes(data: bytes) -> str:
    import hashlib  # only for `verify: sha256`: 4 ms of every command's start otherwise

    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    """SHA-256 of a file's bytes, as 64 lowercase hex digits."""
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
