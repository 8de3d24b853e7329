"""Content hashes: XXH3-128 written as `xxh3-128:<32 lowercase hex digits>`."""

from __future__ import annotations

import os
import re
import threading
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


def hash_bytes(data: bytes | memoryview) -> str:
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


def copy_fd(src: int, dst: int, sha256: str | None = None) -> tuple[str, str | None]:
    """Copy a whole file between descriptors; the hash of the bytes copied, and their SHA-256
    when one is expected (read once, into this thread's one buffer: a fresh block per file or
    per read costs a page fault per page, and zeroing 1 MiB per small file costs more than
    copying it; no file object either: each costs three system calls more)."""
    hasher = xxhash.xxh3_128()
    second = None
    if sha256 is not None:
        import hashlib

        second = hashlib.sha256()
    buffer, whole = _buffer()
    while n := os.readv(src, [buffer]):
        view = whole[:n]
        hasher.update(view)
        if second is not None:
            second.update(view)
        while view:
            view = view[os.write(dst, view) :]
    return PREFIX + hasher.hexdigest(), second.hexdigest() if second is not None else None


def slurp(src: int) -> memoryview | None:
    """All of a file that fits in this thread's buffer, read to its end (a view of the
    buffer, valid until its next use); None for a larger file, the descriptor rewound."""
    buffer, whole = _buffer()
    n = 0
    while got := os.readv(src, [whole[n:]]):
        n += got
        if n == len(buffer):
            os.lseek(src, 0, os.SEEK_SET)
            return None
    return whole[:n]


_local = threading.local()


def _buffer() -> tuple[bytearray, memoryview]:
    found: tuple[bytearray, memoryview] | None = getattr(_local, "buffer", None)
    if found is None:
        buffer = bytearray(CHUNK)
        found = _local.buffer = (buffer, memoryview(buffer))
    return found
