"""Packs: many objects or chunks in one file, with an index (docs/remote-layout.md).

`upload` writes a pack from members (whole small objects, or chunks: ranges of cached
objects) and uploads it with its index; `Pack.fetch` downloads one, whole or only the byte
ranges holding the entries wanted, and reads entries out of it, mapped; `Streamed` hands
the entries wanted to a reader as the pack arrives, writing no file of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mdflow.cache import Cache
from mdflow.hashing import hash_file, hex_of
from mdflow.remote.formats import PackEntry, PackIndex, parse
from mdflow.remote.store import ObjectStore, RemoteError

# what a pack may be (docs/remote-layout.md): a reader refuses more before downloading it
PACK_LIMIT = 64 << 20  # bytes of a pack
PACK_ENTRIES = 100_000  # entries of a pack, which keeps its index under INDEX_LIMIT
INDEX_LIMIT = 16 << 20  # bytes of a pack's index
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


def read_index(cache: Cache, store: ObjectStore, pack: str) -> tuple[PackIndex, int]:
    """The index of `pack`, downloaded (no more than INDEX_LIMIT) and parsed, and its size in
    bytes. It must describe a pack mdflow could have written (see `extent`)."""
    name = f"packs/{pack}.idx"
    tmp = cache.temp()
    try:
        store.get(name, tmp, INDEX_LIMIT)
        data = tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    if len(data) > INDEX_LIMIT:
        raise RemoteError(f"{name} on remote {store.name} is larger than a pack index can be")
    index = parse(PackIndex, data, name)
    extent(index, f"{name} on remote {store.name}")
    return index, len(data)


def extent(index: PackIndex, name: str) -> int:
    """The size of the pack an index describes (where its last entry ends): at most
    PACK_LIMIT bytes, with at most PACK_ENTRIES entries (else RemoteError)."""
    if len(index.objects) > PACK_ENTRIES:
        raise RemoteError(f"{name} lists more entries than a pack holds ({PACK_ENTRIES:,})")
    end = max((e.offset + e.size for e in index.objects), default=0)
    if end > PACK_LIMIT:
        raise RemoteError(f"{name} describes a pack of {end:,} bytes, more than a pack holds")
    return end


def get_pack(store: ObjectStore, pack: str, index: PackIndex, local: Path) -> int:
    """Download a whole pack, no further than its index says it goes; its size."""
    end = extent(index, f"packs/{pack}.idx")
    store.get(f"packs/{pack}.pack", local, end)
    size = local.stat().st_size
    if size > end:
        raise RemoteError(f"packs/{pack}.pack on remote {store.name} is longer than its index")
    return size


class Pack:
    """A downloaded pack, whole or the ranges holding the chunks wanted: its index and its
    bytes, mapped; deleted when closed."""

    def __init__(self, path: Path, entries: PackIndex, received: int) -> None:
        self.path, self.received = path, received
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
        entries, received = read_index(cache, store, pack)
        pack_tmp = cache.temp()
        try:
            ranges = _ranges(entries, wanted)
            if ranges is not None and _get_ranges(store, f"packs/{pack}.pack", pack_tmp, ranges):
                return cls(pack_tmp, entries, received + sum(n for _, n in ranges))
            return cls(pack_tmp, entries, received + get_pack(store, pack, entries, pack_tmp))
        except BaseException:
            pack_tmp.unlink(missing_ok=True)
            raise

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


Sink = Callable[[str, int, bytes], None]  # (entry, offset in the entry, bytes)
BLOCK = 1 << 20


class Streamed:
    """The entries wanted of one pack, handed block by block to a sink as they arrive: the
    byte ranges holding them when they are a small part of the pack and the store reads
    ranges, else the whole pack as one stream (or, from a store that streams nothing, a
    downloaded copy). Unverified: the sink hashes what it is given. `received` counts the
    index and the bytes read."""

    def __init__(self, cache: Cache, store: ObjectStore, pack: str) -> None:
        self.cache, self.store, self.pack, self.received = cache, store, pack, 0

    def index(self) -> PackIndex:
        entries, size = read_index(self.cache, self.store, self.pack)
        self.received += size
        return entries

    def read(self, entries: PackIndex, wanted: frozenset[str], sink: Sink) -> None:
        """Every entry of `wanted` the index lists, to `sink`, in pack order."""
        firsts = {e.hash: e for e in reversed(entries.objects) if e.hash in wanted}
        spans = sorted((e.offset, e.size, e.hash) for e in firsts.values())  # one each
        if any(o < p + n for (p, n, _), (o, _, _) in itertools.pairwise(spans)):
            raise OSError(f"packs/{self.pack}.idx lists entries that overlap")
        src = f"packs/{self.pack}.pack"
        ranges = _ranges(entries, wanted)
        if ranges is not None and self._ranges(src, ranges, spans, sink):
            return
        stream = self.store.open(src)
        if stream is None:
            with Pack.download(self.cache, self.store, self.pack) as whole:
                self.received += whole.received
                for _, _, h in spans:
                    view = whole.read(h)
                    sink(h, 0, b"" if view is None else bytes(view))
            return
        with stream:
            at = 0
            for offset, size, h in spans:
                self._skip(stream, offset - at)
                self._copy(stream, h, size, sink)
                at = offset + size

    def _ranges(
        self, src: str, ranges: list[tuple[int, int]], spans: list[tuple[int, int, str]], sink: Sink
    ) -> bool:
        """The spans out of range requests; False when the store reads no ranges."""
        for start, length in ranges:
            data = self.store.read_range(src, start, length)
            if data is None:
                return False
            self.received += len(data)
            for offset, size, h in spans:
                if start <= offset and offset + size <= start + length:
                    sink(h, 0, data[offset - start : offset - start + size])
        return True

    def _skip(self, stream: BinaryIO, n: int) -> None:
        while n > 0:
            got = stream.read(min(n, BLOCK))
            if not got:
                raise OSError(f"packs/{self.pack}.pack is shorter than its index says")
            self.received += len(got)
            n -= len(got)

    def _copy(self, stream: BinaryIO, h: str, size: int, sink: Sink) -> None:
        done = 0
        while done < size:
            got = stream.read(min(size - done, BLOCK))
            if not got:
                raise OSError(f"packs/{self.pack}.pack is shorter than its index says")
            self.received += len(got)
            sink(h, done, got)
            done += len(got)
