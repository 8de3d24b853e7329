"""Packs: many objects or chunks in one file, with an index (docs/remote-layout.md).

`upload` writes a pack from members (whole small objects, or chunks: ranges of cached
objects) and uploads it with its index; `Pack.fetch` downloads one, whole or only the byte
ranges holding the entries wanted, and reads entries out of it, mapped.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mdflow.cache import Cache
from mdflow.hashing import hash_file, hex_of
from mdflow.remote.formats import PackEntry, PackIndex, parse
from mdflow.remote.store import ObjectStore

RANGE_GAP = 256 << 10  # entries of a pack closer than this are read in one range request
RANGES_MAX = 32  # more ranges than this in one pack: the whole pack is read instead


@dataclass(frozen=True)
class Member:
    """Bytes to upload under a name: `size` bytes of the file `path` from `offset`."""

    hash: str
    path: Path
    offset: int
    size: int


def upload(cache: Cache, store: ObjectStore, members: list[Member]) -> tuple[str, int]:
    """Write one pack and its index to temp files, upload both; (pack id, bytes sent)."""
    tmp = cache.temp()
    entries = []
    offset = 0
    try:
        with tmp.open("wb") as out, _Reader() as read:
            for m in members:
                out.write(read(m))
                entries.append(PackEntry(hash=m.hash, offset=offset, size=m.size))
                offset += m.size
        pack_id = hex_of(hash_file(str(tmp))[0])
        index = PackIndex(pack=pack_id, objects=sorted(entries, key=lambda e: e.hash))
        idx = tmp.with_suffix(".idx")
        idx.write_bytes(index.to_bytes())
        store.put(tmp, f"packs/{pack_id}.pack")
        store.put(idx, f"packs/{pack_id}.idx")
        return pack_id, offset + idx.stat().st_size
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".idx").unlink(missing_ok=True)


class _Reader:
    """Reads members, keeping the last file open (a pack of chunks reads one file)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.fd = -1

    def __enter__(self) -> Callable[[Member], bytes]:
        return self.read

    def read(self, m: Member) -> bytes:
        if m.path != self.path:
            self.__exit__()
            self.fd, self.path = os.open(m.path, os.O_RDONLY), m.path
        data = os.pread(self.fd, m.size, m.offset)
        if len(data) != m.size:
            raise OSError(f"{m.path} is shorter than its recipe says: run mdflow fsck")
        return data

    def __exit__(self, *_: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd, self.path = -1, None


class Pack:
    """A downloaded pack, whole or the ranges holding the chunks wanted: its index and its
    bytes, mapped; deleted when closed."""

    def __init__(
        self, path: Path, entries: PackIndex, received: int, held: frozenset[str] | None
    ) -> None:
        self.path, self.received, self.held = path, received, held
        self.where = {e.hash: (e.offset, e.size) for e in entries.objects}
        self.file = path.open("rb")
        size = os.fstat(self.file.fileno()).st_size
        self.data = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    @classmethod
    @contextlib.contextmanager
    def download(
        cls, cache: Cache, store: ObjectStore, pack: str, wanted: frozenset[str] | None = None
    ) -> Iterator[Pack]:
        p = cls.fetch(cache, store, pack, wanted)
        try:
            yield p
        finally:
            p.close()

    @classmethod
    def fetch(
        cls, cache: Cache, store: ObjectStore, pack: str, wanted: frozenset[str] | None = None
    ) -> Pack:
        """Download the pack's index, then the ranges holding `wanted` when they are a small
        part of it and the store reads ranges, else the whole pack."""
        idx_tmp, pack_tmp = cache.temp(), cache.temp()
        try:
            store.get(f"packs/{pack}.idx", idx_tmp)
            entries = parse(PackIndex, idx_tmp.read_bytes(), f"packs/{pack}.idx")
            received = idx_tmp.stat().st_size
            ranges = _ranges(entries, wanted)
            if ranges is not None and _get_ranges(store, f"packs/{pack}.pack", pack_tmp, ranges):
                return cls(pack_tmp, entries, received + sum(n for _, n in ranges), wanted)
            store.get(f"packs/{pack}.pack", pack_tmp)
            return cls(pack_tmp, entries, received + pack_tmp.stat().st_size, None)
        except BaseException:
            pack_tmp.unlink(missing_ok=True)
            raise
        finally:
            idx_tmp.unlink(missing_ok=True)

    def holds(self, h: str) -> bool:
        return self.held is None or h in self.held

    def read(self, h: str) -> memoryview | None:
        """The bytes the index gives `h` (unverified), None when it lists no such entry or
        the pack is shorter than the index says."""
        if h not in self.where:
            return None
        offset, size = self.where[h]
        if self.data is None or offset + size > len(self.data):
            return None if size else memoryview(b"")
        return memoryview(self.data)[offset : offset + size]

    def close(self) -> None:
        if self.data is not None:
            with contextlib.suppress(BufferError):  # a view still held: freed with it
                self.data.close()
        self.file.close()
        self.path.unlink(missing_ok=True)


def _ranges(entries: PackIndex, wanted: frozenset[str] | None) -> list[tuple[int, int]] | None:
    """The byte ranges of the pack holding `wanted` (neighbours closer than RANGE_GAP merged),
    or None when the whole pack is as good: most of it is wanted, or too many ranges."""
    if wanted is None:
        return None
    spans = sorted((e.offset, e.size) for e in entries.objects if e.hash in wanted)
    total = max((e.offset + e.size for e in entries.objects), default=0)
    if sum(n for _, n in spans) * 2 > total:
        return None
    merged: list[tuple[int, int]] = []
    for offset, size in spans:
        if merged and offset - sum(merged[-1]) <= RANGE_GAP:
            start = merged[-1][0]
            merged[-1] = (start, max(sum(merged[-1]), offset + size) - start)
        else:
            merged.append((offset, size))
    return merged if len(merged) <= RANGES_MAX else None


def _get_ranges(store: ObjectStore, src: str, local: Path, ranges: list[tuple[int, int]]) -> bool:
    """Write the ranges of `src` at their offsets in `local` (a sparse file); False when the
    store reads no ranges (nothing written then)."""
    with local.open("r+b") as f:
        for offset, size in ranges:
            data = store.read_range(src, offset, size)
            if data is None:
                return False
            os.pwrite(f.fileno(), data, offset)
    return True
