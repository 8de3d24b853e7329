"""Moving cache objects to and from a remote (docs/remote-layout.md).

Small objects travel in packs, large ones alone, both in parallel. What the remote holds is
read from its inventory files; each push writes one last, so an interrupted push only leaves
unreferenced artifacts and the next push resumes. Everything pulled is verified by its hash
before it enters the cache. Transfers report what failed instead of stopping at the first error.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import xxhash

from mdflow.cache import Batch, Cache
from mdflow.hashing import PREFIX, hash_file, hex_of
from mdflow.pool import parallel
from mdflow.progress import Progress
from mdflow.remote.formats import Inventory, PackEntry, PackIndex, parse
from mdflow.remote.inventory import RemoteIndex
from mdflow.remote.store import ObjectStore, RemoteError

SMALL = 1 << 20
CHUNK = 1 << 20  # read size of a streamed object
PACK_MAX = 64 << 20
CHECKPOINT = 10.0  # seconds between the inventories a long push publishes as it goes
UNPACK_WORKERS = min(8, os.cpu_count() or 2)  # threads verifying and writing one pack's objects


@dataclass
class TransferResult:
    transferred: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # oid -> why
    bytes: int = 0
    failed_packs: list[tuple[list[str], str]] = field(default_factory=list)  # (oids, why)

    def merged(self, other: TransferResult) -> TransferResult:
        return TransferResult(
            self.transferred | other.transferred,
            {**self.failed, **other.failed},
            self.bytes + other.bytes,
            self.failed_packs + other.failed_packs,
        )


def object_path(oid: str) -> str:
    h = hex_of(oid)
    return f"objects/{h[:2]}/{h[2:]}"


def push(
    cache: Cache, index: RemoteIndex, oids: set[str], jobs: int | None = None
) -> TransferResult:
    """Upload what the remote lacks. Inventories already read settle a no-op push offline."""
    store = index.store
    index.load()
    result = TransferResult()
    if all(index.has(o) for o in oids):
        return result
    index.sync()
    todo = sorted(o for o in oids if not index.has(o))
    for oid in todo:
        if not cache.has(oid):
            result.failed[oid] = "not in the local cache"
    todo = [o for o in todo if o not in result.failed]
    sizes = {o: cache.path(o).stat().st_size for o in todo}
    large = [o for o in todo if sizes[o] >= SMALL]
    packs = _group([o for o in todo if sizes[o] < SMALL], sizes)
    tasks = [[o] for o in large] + packs
    inventory, since = Inventory(), time.monotonic()
    with Progress(f"push to {store.name}", sum(sizes.values()), len(todo)) as bar:

        def run(group: list[str]) -> tuple[bool, str | None]:
            """Upload one large object or one pack; (succeeded, pack id)."""
            try:
                if len(group) == 1 and group[0] in large:
                    store.put(cache.path(group[0]), object_path(group[0]))
                    return True, None
                return True, _push_pack(cache, store, group)
            except RemoteError as e:
                result.failed.update((oid, str(e)) for oid in group)
                if group in packs:  # one failure to report, not one per object
                    result.failed_packs.append((group, str(e)))
                return False, None
            finally:
                bar.advance(sum(sizes[o] for o in group), len(group))

        for group, (ok, pack_id) in parallel(run, tasks, jobs):
            if not ok:
                continue
            if pack_id is None:
                inventory.loose.append(group[0])
            else:
                inventory.packs[pack_id] = group
            result.transferred.update(group)
            result.bytes += sum(sizes[o] for o in group)
            if time.monotonic() - since >= CHECKPOINT:  # a killed push resumes from here
                index.record(inventory)
                inventory, since = Inventory(), time.monotonic()
    index.record(inventory)
    return result


def _group(oids: list[str], sizes: dict[str, int]) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    total = 0
    for oid in oids:
        if current and total + sizes[oid] > PACK_MAX:
            groups.append(current)
            current, total = [], 0
        current.append(oid)
        total += sizes[oid]
    if current:
        groups.append(current)
    return groups


def _push_pack(cache: Cache, store: ObjectStore, oids: list[str]) -> str:
    """Write one pack and its index to temp files, upload both; return the pack id."""
    tmp = cache.temp()
    entries = []
    offset = 0
    with tmp.open("wb") as out:
        for oid in oids:
            data = cache.path(oid).read_bytes()
            out.write(data)
            entries.append(PackEntry(hash=oid, offset=offset, size=len(data)))
            offset += len(data)
    try:
        pack_id = hex_of(hash_file(str(tmp))[0])
        index = PackIndex(pack=pack_id, objects=sorted(entries, key=lambda e: e.hash))
        idx = tmp.with_suffix(".idx")
        idx.write_bytes(index.to_bytes())
        store.put(tmp, f"packs/{pack_id}.pack")
        store.put(idx, f"packs/{pack_id}.idx")
        return pack_id
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".idx").unlink(missing_ok=True)


def pull(
    cache: Cache, index: RemoteIndex, oids: set[str], jobs: int | None = None
) -> TransferResult:
    """Download what the cache lacks, verifying every object before it enters the cache.

    Pass the same `index` to several pulls of one command: the remote is listed once.
    """
    result = TransferResult()
    todo = sorted(o for o in oids if not cache.has(o))
    if not todo:
        return result
    store = index.sync().store
    for oid in todo:
        if not index.has(oid):
            result.failed[oid] = f"not on remote {store.name}"
    loose = [o for o in todo if o in index.loose and o not in result.failed]
    by_pack: dict[str, list[str]] = {}
    for oid in todo:
        if oid not in result.failed and oid not in index.loose:
            by_pack.setdefault(index.packed[oid], []).append(oid)
    tasks = [("loose", o, [o]) for o in loose] + [("pack", p, g) for p, g in by_pack.items()]
    with cache.batch() as batch, Progress(f"pull from {store.name}", 0, len(todo)) as bar:

        def run(task: tuple[str, str, list[str]]) -> TransferResult:
            kind, name, wanted = task
            try:
                if kind == "loose":
                    return _pull_loose(cache, store, batch, name)
                return _pull_pack(cache, store, batch, name, set(wanted))
            except RemoteError as e:
                return TransferResult(failed=dict.fromkeys(wanted, str(e)))
            finally:
                bar.advance(0, len(wanted))

        for _, part in parallel(run, tasks, jobs):  # merged here, in one thread
            result = result.merged(part)
    return result


def _pull_loose(cache: Cache, store: ObjectStore, batch: Batch, oid: str) -> TransferResult:
    tmp = cache.temp()
    try:
        store.get(object_path(oid), tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    size = tmp.stat().st_size
    if batch.adopt(tmp, oid):  # staged: the batch renames it into the cache
        return TransferResult({oid}, {}, size)
    return TransferResult(failed={oid: f"corrupt on remote {store.name} ({object_path(oid)})"})


def _pull_pack(
    cache: Cache, store: ObjectStore, batch: Batch, pack: str, wanted: set[str]
) -> TransferResult:
    """Download a pack, then verify and stage the wanted objects in parallel, each hashed once."""
    result = TransferResult()
    idx_tmp, pack_tmp = cache.temp(), cache.temp()
    try:
        store.get(f"packs/{pack}.idx", idx_tmp)
        index = parse(PackIndex, idx_tmp.read_bytes(), f"packs/{pack}.idx")
        store.get(f"packs/{pack}.pack", pack_tmp)
        entries = [e for e in index.objects if e.hash in wanted]
        with pack_tmp.open("rb") as f, _mapped(f) as data:

            def unpack(e: PackEntry) -> bool:
                return batch.put_verified(data[e.offset : e.offset + e.size], e.hash)

            for entry, ok in parallel(unpack, entries, UNPACK_WORKERS):
                if ok:
                    result.transferred.add(entry.hash)
                    result.bytes += entry.size
                else:
                    result.failed[entry.hash] = f"corrupt on remote {store.name} (in packs/{pack})"
        for oid in wanted - {e.hash for e in index.objects}:
            result.failed[oid] = f"missing from packs/{pack} on remote {store.name}"
    finally:
        idx_tmp.unlink(missing_ok=True)
        pack_tmp.unlink(missing_ok=True)
    return result


@contextlib.contextmanager
def _mapped(f: BinaryIO) -> Iterator[mmap.mmap | bytes]:
    """The file's bytes, mapped rather than read (a pack may be 64 MiB)."""
    if os.fstat(f.fileno()).st_size == 0:
        yield b""
        return
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        yield mapped


def open_object(
    cache: Cache, index: RemoteIndex, oid: str, on_close: Callable[[], None] | None = None
) -> BinaryIO:
    """Read object `oid`: from the cache, else streamed from the remote while it downloads.

    A streamed object is copied aside as it is read; when the reader reaches the end, the hash
    is checked: a match puts the copy into the cache, a mismatch raises OSError. Bytes read
    before the end are not verified yet; a reader that stops early leaves nothing behind.
    Objects in packs (under 1 MiB) and stores that cannot stream are pulled first.
    `on_close` runs when a streamed object is closed (it holds the remote open till then), and
    at once, before this returns or raises, when the object does not stream.
    """
    streamed = False
    try:
        if not cache.has(oid):
            store = index.sync().store
            stream = store.open(object_path(oid)) if oid in index.loose else None
            if stream is not None:
                streamed = True
                return io.BufferedReader(_Verified(cache, stream, oid, store.name, on_close), CHUNK)
            failed = pull(cache, index, {oid}).failed
            if oid in failed:
                raise RemoteError(f"{oid}: {failed[oid]}")
        return cache.open(oid)
    finally:
        if not streamed and on_close is not None:
            on_close()


class _Verified(io.RawIOBase):
    """A remote object read as it arrives, hashed and copied; verified at its end."""

    def __init__(
        self,
        cache: Cache,
        upstream: BinaryIO,
        oid: str,
        where: str,
        on_close: Callable[[], None] | None,
    ) -> None:
        self.cache, self.upstream, self.oid, self.where = cache, upstream, oid, where
        self.on_close = on_close
        self.tmp = cache.temp()
        self.copy = self.tmp.open("wb")
        self.hasher = xxhash.xxh3_128()
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.upstream.read(len(buffer))
        if not data:
            self._finish()
            return 0
        buffer[: len(data)] = data
        self.hasher.update(data)
        self.copy.write(data)
        return len(data)

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.copy.close()
        if PREFIX + self.hasher.hexdigest() != self.oid:
            self.tmp.unlink(missing_ok=True)
            raise OSError(f"object {self.oid} is corrupt on remote {self.where}")
        with self.cache.batch() as batch:
            batch.adopt(self.tmp, self.oid, known=self.oid)  # hashed while copied

    def close(self) -> None:
        if not self.closed:
            self.upstream.close()
            if not self.done:
                self.copy.close()
                self.tmp.unlink(missing_ok=True)
            if self.on_close is not None:
                self.on_close()
        super().close()
