"""Moving cache objects to and from a remote (docs/remote-layout.md).

Small objects travel in packs, large ones alone, both in parallel. What the remote holds is
read from its inventory files; each push writes one last, so an interrupted push only leaves
unreferenced artifacts and the next push resumes. Everything pulled is verified by its hash
before it enters the cache. Transfers report what failed instead of stopping at the first error.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mdflow import chunking
from mdflow.assembly import pull_chunked
from mdflow.cache import Batch, Cache
from mdflow.chunking import CHUNKED_MIN, Recipes
from mdflow.hashing import hash_bytes, hex_of
from mdflow.packs import PACK_ENTRIES, PACK_LIMIT, Member, get_pack, read_index, upload
from mdflow.pool import parallel
from mdflow.progress import Progress
from mdflow.remote.formats import Inventory, InventoryV2, PackEntry
from mdflow.remote.inventory import RemoteIndex
from mdflow.remote.store import ObjectStore, RemoteError

SMALL = 1 << 20
CHUNK = 1 << 20  # read size of a streamed object
PACK_MAX = PACK_LIMIT  # a push's packs (smaller in tests, to make several)
CHECKPOINT = 10.0  # seconds between the inventories a long push publishes as it goes
UNPACK_WORKERS = min(8, os.cpu_count() or 2)  # threads verifying and writing one pack's objects


@dataclass
class TransferResult:
    transferred: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # oid -> why
    bytes: int = 0  # logical: the sizes of the objects transferred
    wire: int = 0  # the bytes sent or received: packs, chunks, recipes
    failed_packs: list[tuple[list[str], str]] = field(default_factory=list)  # (oids, why)

    def merged(self, other: TransferResult) -> TransferResult:
        return TransferResult(
            self.transferred | other.transferred,
            {**self.failed, **other.failed},
            self.bytes + other.bytes,
            self.wire + other.wire,
            self.failed_packs + other.failed_packs,
        )


def object_path(oid: str) -> str:
    h = hex_of(oid)
    return f"objects/{h[:2]}/{h[2:]}"


@dataclass
class _Task:
    kind: str  # "loose": one large object; "objects": a pack of them; "parts": of chunks, recipes
    members: list[Member]


@dataclass
class _Chunked:
    """A large object pushed as chunks: its recipe object, and all the parts it needs on the
    remote before the recipe may be named (the recipe, its pages, its chunks)."""

    recipe_id: str
    parts: list[str]


def push(
    cache: Cache, index: RemoteIndex, oids: set[str], jobs: int | None = None
) -> TransferResult:
    """Upload what the remote lacks. Inventories already read settle a no-op push offline."""
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
    spill = cache.temp()
    try:
        return _upload(cache, index, todo, result, jobs, spill)
    finally:
        spill.unlink(missing_ok=True)


def _upload(
    cache: Cache,
    index: RemoteIndex,
    todo: list[str],
    result: TransferResult,
    jobs: int | None,
    spill: Path,
) -> TransferResult:
    """Upload the objects `todo` (in the cache, not on the remote), in parallel."""
    store = index.store
    sizes = {o: cache.path(o).stat().st_size for o in todo}
    tasks, chunked = _plan(cache, index, todo, sizes, spill)
    pending = dict(chunked)  # chunked objects not yet named by a published recipe
    parts_failed: dict[str, str] = {}  # chunk or recipe -> why its upload failed
    inventory, since = Inventory(), time.monotonic()
    total = sum(m.size for t in tasks for m in t.members)  # what travels: chunks, not objects
    with Progress(f"push to {store.name}", total, len(todo)) as bar:

        def run(task: _Task) -> tuple[str | None, str | None, int]:
            """Upload one large object or one pack: (pack id, why it failed, bytes sent)."""
            try:
                if task.kind == "loose":
                    m = task.members[0]
                    store.put(m.path, object_path(m.hash))
                    return None, None, m.size
                pack_id, sent = upload(cache, store, task.members)
                return pack_id, None, sent
            except RemoteError as e:
                return None, str(e), 0
            finally:
                files = 0 if task.kind == "parts" else len(task.members)
                bar.advance(sum(m.size for m in task.members), files)

        for task, (pack_id, why, sent) in parallel(run, tasks, jobs):
            hashes = [m.hash for m in task.members]
            result.wire += sent
            if why is not None:
                _failed(result, parts_failed, task, why)
                continue
            if pack_id is None:
                inventory.loose.append(hashes[0])
            else:
                inventory.packs[pack_id] = hashes
            if task.kind != "parts":
                result.transferred.update(hashes)
                result.bytes += sum(m.size for m in task.members)
            if time.monotonic() - since >= CHECKPOINT:  # a killed push resumes from here
                result.wire += _publish(index, inventory, pending)
                inventory, since = Inventory(), time.monotonic()
        result.wire += _publish(index, inventory, pending)
        for oid, c in chunked.items():
            bar.advance(0, 1)
            if oid in pending:
                why = next((parts_failed[p] for p in c.parts if p in parts_failed), None)
                result.failed[oid] = why or "its chunks did not all reach the remote"
            else:
                result.transferred.add(oid)
                result.bytes += sizes[oid]
    return result


def _failed(result: TransferResult, parts: dict[str, str], task: _Task, why: str) -> None:
    """Record a failed upload: objects fail at once, chunks and recipes fail their objects."""
    hashes = [m.hash for m in task.members]
    if task.kind == "parts":
        parts.update(dict.fromkeys(hashes, why))
        return
    result.failed.update(dict.fromkeys(hashes, why))
    if task.kind == "objects":  # one failure to report, not one per object
        result.failed_packs.append((hashes, why))


def _plan(
    cache: Cache, index: RemoteIndex, todo: list[str], sizes: dict[str, int], spill: Path
) -> tuple[list[_Task], dict[str, _Chunked]]:
    """The uploads of a push: large objects alone, small ones packed, and for objects of at
    least CHUNKED_MIN the chunks no inventory lists (packed, in file order), then the
    recipes and recipe pages it lacks, written to `spill` to be uploaded from."""
    can_cut = chunking.available()
    big = {o for o in todo if sizes[o] >= CHUNKED_MIN and can_cut}
    whole = [Member(o, cache.path(o), 0, sizes[o]) for o in todo if o not in big]
    tasks = [_Task("loose", [m]) for m in whole if m.size >= SMALL]
    tasks += [_Task("objects", g) for g in _group([m for m in whole if m.size < SMALL])]
    chunked: dict[str, _Chunked] = {}
    parts: list[Member] = []
    planned: set[str] = set()
    texts: dict[str, bytes] = {}  # recipes and pages the remote lacks
    recipes = Recipes(cache)
    for oid in sorted(big):
        recipe = recipes.of(oid)
        paged, pages = chunking.paginate(recipe)
        top = paged.to_bytes()
        rid = hash_bytes(top)
        chunked[oid] = _Chunked(rid, [rid, *pages, *(c.hash for c in recipe.chunks)])
        texts.update((n, p.to_bytes()) for n, p in pages.items() if not index.has(n))
        if not index.has(rid):
            texts[rid] = top
        offset = 0
        for c in recipe.chunks:
            if c.hash not in planned and not index.has(c.hash):
                planned.add(c.hash)
                parts.append(Member(c.hash, cache.path(oid), offset, c.size))
            offset += c.size
    tasks += [_Task("parts", g) for g in _group(parts)]
    tasks += [_Task("parts", g) for g in _group(_spill(spill, texts))]  # after their chunks
    return tasks, chunked


def _spill(path: Path, texts: dict[str, bytes]) -> list[Member]:
    """Write `texts` end to end into `path`: the members to upload them from."""
    members = []
    with path.open("wb") as out:
        for name, data in texts.items():
            members.append(Member(name, path, out.tell(), len(data)))
            out.write(data)
    return members


def _publish(index: RemoteIndex, inventory: Inventory, pending: dict[str, _Chunked]) -> int:
    """Record what was uploaded, then name the recipes whose parts are all listed now; return
    the bytes of the inventories sent."""
    sent = index.record(inventory)
    ready = {o: c.recipe_id for o, c in pending.items() if all(index.has(x) for x in c.parts)}
    if ready:
        sent += index.record(InventoryV2(recipes=ready))
        for oid in ready:
            del pending[oid]
    return sent


def _group(members: list[Member]) -> list[list[Member]]:
    groups: list[list[Member]] = []
    current: list[Member] = []
    total = 0
    for m in members:
        if current and (total + m.size > PACK_MAX or len(current) == PACK_ENTRIES):
            groups.append(current)
            current, total = [], 0
        current.append(m)
        total += m.size
    if current:
        groups.append(current)
    return groups


def pull(
    cache: Cache,
    index: RemoteIndex,
    oids: set[str],
    jobs: int | None = None,
    sizes: Mapping[str, int] | None = None,
) -> TransferResult:
    """Download what the cache lacks, verifying every object before it enters the cache.
    `sizes`: the objects' sizes as the pointers and manifests give them, where known; a
    chunked object whose recipe says otherwise is refused before any of it is fetched.

    Pass the same `index` to several pulls of one command: the remote is listed once.
    """
    result = TransferResult()
    todo = sorted(o for o in oids if not cache.has(o))
    if not todo:
        return result
    before = index.received
    store = index.sync().store
    result.wire = index.received - before  # the inventories read
    for oid in todo:
        if not index.has(oid):
            result.failed[oid] = index.missing(oid)
    chunked = [o for o in todo if o in index.recipes]  # chunks: reuse what is cached
    loose = [o for o in todo if o in index.loose and o not in index.recipes]
    by_pack: dict[str, list[str]] = {}
    for oid in todo:
        if oid in index.packed and oid not in index.recipes and oid not in index.loose:
            by_pack.setdefault(index.packed[oid], []).append(oid)
    tasks = [("loose", o, [o]) for o in loose] + [("pack", p, g) for p, g in by_pack.items()]
    with cache.batch() as batch, Progress(f"pull from {store.name}", 0, len(todo)) as bar:

        def run(task: tuple[str, str, list[str]]) -> TransferResult:
            kind, name, wanted = task
            try:
                if kind == "loose":
                    return _pull_loose(cache, store, batch, name, (sizes or {}).get(name))
                return _pull_pack(cache, store, batch, name, set(wanted))
            except RemoteError as e:
                return TransferResult(failed=dict.fromkeys(wanted, str(e)))
            finally:
                bar.advance(0, len(wanted))

        for _, part in parallel(run, tasks, jobs):  # merged here, in one thread
            result = result.merged(part)
    if chunked:
        done = pull_chunked(cache, index, chunked, sizes or {})
        result = result.merged(TransferResult(done.transferred, done.failed, done.bytes, done.wire))
    return result


def _pull_loose(
    cache: Cache, store: ObjectStore, batch: Batch, oid: str, size: int | None
) -> TransferResult:
    """One loose object; of a known `size`, no more than one byte past it is downloaded (the
    hash then refuses it)."""
    tmp = cache.temp()
    try:
        store.get(object_path(oid), tmp, size)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    size = tmp.stat().st_size
    if batch.adopt(tmp, oid):  # staged: the batch renames it into the cache
        return TransferResult({oid}, {}, size, size)
    why = f"corrupt on remote {store.name} ({object_path(oid)})"
    return TransferResult(failed={oid: why}, wire=size)


def _pull_pack(
    cache: Cache, store: ObjectStore, batch: Batch, pack: str, wanted: set[str]
) -> TransferResult:
    """Download a pack, then verify and stage the wanted objects in parallel, each hashed once."""
    result = TransferResult()
    index, index_size = read_index(cache, store, pack)
    pack_tmp = cache.temp()
    try:
        result.wire = index_size + get_pack(store, pack, index, pack_tmp)
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
