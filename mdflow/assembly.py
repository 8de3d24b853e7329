"""Pulling chunked objects: recipes, then chunks from the cache or the remote, assembled.

A chunked object (docs/remote-layout.md) is rebuilt into a temporary file of its size:
chunks already inside cached objects are copied from there (the recipes this clone keeps, in
chunking.Recipes), the others written to their places as their packs arrive, a few packs at
a time (packs.Streamed: no copy of a pack on disk). Every chunk is verified by its hash, the
whole file by the object's hash before it enters the cache. Memory stays flat: a block of a
pack at a time per reader.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from mdflow.cache import Batch, Cache
from mdflow.chunking import Located, Recipes
from mdflow.errors import FormatError
from mdflow.hashing import PREFIX, hash_bytes, hex_of
from mdflow.packs import Pack, Sink, Streamed
from mdflow.remote.formats import (
    PagedRecipe,
    Recipe,
    RecipeChunk,
    RecipePage,
    parse,
    parse_recipe,
)
from mdflow.remote.inventory import RemoteIndex
from mdflow.remote.store import ObjectStore, RemoteError

PARALLEL = 4  # packs read at once
GROUP = 16  # objects assembled at once: each holds a descriptor open


@dataclass
class Assembled:
    transferred: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # oid -> why
    bytes: int = 0  # the sizes of the objects assembled
    wire: int = 0  # the bytes downloaded: recipes and packs


class _Failed(Exception):
    """One object cannot be assembled: why."""


def pull_chunked(
    cache: Cache, index: RemoteIndex, oids: list[str], sizes: Mapping[str, int]
) -> Assembled:
    """Assemble the chunked objects `oids` (all named by a recipe in `index`) into the cache;
    `sizes`: what the pointers and manifests say the objects' sizes are, where known."""
    out = Assembled()
    local = Recipes(cache).index()
    recipes = _recipes(cache, index, oids, local.pages, out, sizes)
    if not recipes:
        return out
    items = list(recipes.items())
    with cache.batch() as batch:
        for start in range(0, len(items), GROUP):
            group = dict(items[start : start + GROUP])
            with _Objects(cache, group) as objects:
                remote = objects.fill_local(local.chunks)
                out.wire += _stream(cache, index, objects, remote)
                for oid, recipe in group.items():
                    why = objects.finish(oid, batch)
                    if why is not None:
                        out.failed[oid] = why
                        continue
                    out.transferred.add(oid)
                    out.bytes += recipe.size
    return out


def _recipes(
    cache: Cache,
    index: RemoteIndex,
    oids: list[str],
    pages: dict[str, RecipePage],
    out: Assembled,
    sizes: Mapping[str, int],
) -> dict[str, Recipe]:
    """Download and check the recipes of `oids`, and the pages of theirs not in `pages`; the
    whole recipes are kept in .mdflow/recipes/. Failures go to `out`. A recipe of another
    size than `sizes` gives is refused: its chunks could fill the disk before the object's
    hash refuses it (one chunk named a million times is downloaded once)."""
    found: dict[str, Recipe | PagedRecipe] = {}
    wanted = {index.recipes[o]: o for o in oids}
    blobs = _fetch_into(cache, index, set(wanted), oids, out)
    for rid, oid in wanted.items():
        where = f"recipe {rid} of {oid}"
        try:
            if rid not in blobs:
                raise FormatError(f"{where} is corrupt or missing on remote {index.store.name}")
            found[oid] = parse_recipe(blobs[rid], where)
            found[oid].check(oid, where)
            expected = sizes.get(oid)
            if expected is not None and found[oid].size != expected:
                raise FormatError(
                    f"{where} on remote {index.store.name} gives {found[oid].size} bytes where "
                    f"the pointer or manifest gives {expected}",
                    "the remote is damaged: push the object again from a clone that has it",
                )
        except FormatError as e:
            found.pop(oid, None)
            out.failed[oid] = str(e)
    named = {p.hash for r in found.values() if isinstance(r, PagedRecipe) for p in r.pages}
    pages = {**pages, **_pages(cache, index, named - pages.keys(), list(found), out)}
    whole: dict[str, Recipe] = {}
    kept = Recipes(cache)
    for oid, recipe in found.items():
        where = f"recipe {index.recipes[oid]} of {oid} on remote {index.store.name}"
        try:
            whole[oid] = _whole(recipe, pages, where)
        except _Failed as e:
            out.failed[oid] = str(e)
            continue
        kept.save(whole[oid])
    return whole


def _fetch_into(
    cache: Cache, index: RemoteIndex, hashes: set[str], oids: list[str], out: Assembled
) -> dict[str, bytes]:
    """`_fetch`, counting the bytes in `out`; a failure fails every object of `oids`."""
    try:
        blobs, received = _fetch(cache, index, hashes)
    except (RemoteError, FormatError) as e:
        out.failed.update(dict.fromkeys(oids, str(e)))
        return {}
    out.wire += received
    return blobs


def _pages(
    cache: Cache, index: RemoteIndex, names: set[str], oids: list[str], out: Assembled
) -> dict[str, RecipePage]:
    """The recipe pages `names`, downloaded, verified and parsed (the bad ones left out)."""
    got: dict[str, RecipePage] = {}
    if not names:
        return got
    for name, data in _fetch_into(cache, index, names, oids, out).items():
        with contextlib.suppress(FormatError):
            got[name] = parse(RecipePage, data, f"recipe page {name}")
    return got


def _whole(recipe: Recipe | PagedRecipe, pages: dict[str, RecipePage], where: str) -> Recipe:
    """The recipe with its chunks listed whole: a format-2 recipe's pages put end to end."""
    if isinstance(recipe, Recipe):
        return recipe
    chunks: list[RecipeChunk] = []
    for ref in recipe.pages:
        page = pages.get(ref.hash)
        if page is None:
            raise _Failed(f"page {ref.hash} of {where} is corrupt or missing")
        if page.size != ref.size:
            raise _Failed(f"page {ref.hash} of {where} does not add up to its size")
        chunks += page.chunks
    return Recipe.model_construct(
        mdflow=1, hash=recipe.hash, size=recipe.size, chunker=recipe.chunker, chunks=chunks
    )


def _fetch(cache: Cache, index: RemoteIndex, hashes: set[str]) -> tuple[dict[str, bytes], int]:
    """Small objects (recipes) read into memory, each verified: (the good ones, bytes received)."""
    store = index.store
    got: dict[str, bytes] = {}
    received = 0
    by_pack: dict[str, set[str]] = {}
    for h in hashes:
        if h in index.loose:
            data, n = _download(cache, store, f"objects/{hex_of(h)[:2]}/{hex_of(h)[2:]}")
            received += n
            if hash_bytes(data) == h:
                got[h] = data
        elif h in index.packed:
            by_pack.setdefault(index.packed[h], set()).add(h)
    for pack, wanted in by_pack.items():
        with Pack.download(cache, store, pack, frozenset(wanted)) as p:
            received += p.received
            for h in wanted:
                view = p.read(h)
                blob = None if view is None else bytes(view)
                del view
                if blob is not None and hash_bytes(blob) == h:
                    got[h] = blob
    return got, received


def _download(cache: Cache, store: ObjectStore, src: str) -> tuple[bytes, int]:
    tmp = cache.temp()
    try:
        store.get(src, tmp)
        data = tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    return data, len(data)


class _Files:
    """Reads chunks out of cached objects, keeping the last one open."""

    def __init__(self, cache: Cache) -> None:
        self.cache, self.oid, self.fd = cache, "", -1

    def __enter__(self) -> _Files:
        return self

    def read(self, place: Located) -> bytes | None:
        if place.oid != self.oid:
            self.__exit__()
            try:
                self.fd = os.open(self.cache.path(place.oid), os.O_RDONLY)
            except FileNotFoundError:  # removed since the index was read (gc)
                return None
            self.oid = place.oid
        return os.pread(self.fd, place.size, place.offset)

    def __exit__(self, *_: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.oid, self.fd = "", -1


def _stream(cache: Cache, index: RemoteIndex, objects: _Objects, remote: set[str]) -> int:
    """Download the chunks `remote` into place, a few packs at a time, each pack read as it
    arrives (no copy of it on disk); the bytes received."""
    where = index.store.name
    by_pack: dict[str, set[str]] = {}
    for h in remote:
        pack = index.packed.get(h)
        if pack is None:
            objects.fail(h, f"chunk {h} is not on remote {where}")
        else:
            by_pack.setdefault(pack, set()).add(h)

    def one(pack: str) -> int:
        reader, wanted = Streamed(cache, index.store, pack), by_pack[pack]
        got: dict[str, _Chunk] = {}
        sizes: dict[str, int] = {}
        try:
            entries = reader.index()
            sizes = {e.hash: e.size for e in entries.objects}
            fits = frozenset(h for h in wanted if sizes.get(h) == objects.sizes[h])
            reader.read(entries, fits, objects.sink(got))
        except Exception as e:  # also urllib3's own errors, raised by a stream being read
            why = str(e) if isinstance(e, (RemoteError, FormatError)) else None
            why = why or f"downloading packs/{pack} from {where} failed: {e}"
            for h in wanted:
                if h not in got or got[h].size < objects.sizes[h]:
                    objects.fail(h, why)
        for h in wanted:
            objects.check(h, got.get(h), h in sizes, pack, where)
        return reader.received

    if not by_pack:
        return 0
    with ThreadPoolExecutor(min(PARALLEL, len(by_pack))) as pool:
        return sum(pool.map(one, sorted(by_pack)))


class _Chunk:
    """A chunk arriving: its hash so far and its bytes."""

    def __init__(self) -> None:
        self.hasher, self.size = xxhash.xxh3_128(), 0


class _Objects:
    """The objects being assembled, each into a temporary file of its size, and where each
    chunk goes in them. Chunks arrive in any order and from several threads; a chunk is
    verified by its hash once whole (a bad one fails every object holding it), an object by
    its own hash before it is staged."""

    def __init__(self, cache: Cache, recipes: dict[str, Recipe]) -> None:
        self.places: dict[str, list[tuple[int, int]]] = {}  # chunk -> (descriptor, offset)
        self.sizes: dict[str, int] = {}
        self.users: dict[str, set[str]] = {}  # chunk -> the objects holding it
        self.files: dict[str, tuple[Path, int]] = {}
        self.failed: dict[str, str] = {}
        self.done: set[str] = set()
        self.cache = cache
        try:
            for oid, recipe in recipes.items():
                self._prepare(oid, recipe)
        except BaseException:
            self.__exit__()
            raise

    def _prepare(self, oid: str, recipe: Recipe) -> None:
        tmp = self.cache.temp()
        try:
            fd = os.open(tmp, os.O_RDWR)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.files[oid] = (tmp, fd)
        os.ftruncate(fd, recipe.size)
        offset = 0
        for c in recipe.chunks:
            self.places.setdefault(c.hash, []).append((fd, offset))
            self.sizes[c.hash] = c.size
            self.users.setdefault(c.hash, set()).add(oid)
            offset += c.size

    def __enter__(self) -> _Objects:
        return self

    def fill_local(self, local: dict[str, Located]) -> set[str]:
        """Copy the chunks the cache holds (verified); the others, to download."""
        remote = set()
        with _Files(self.cache) as files:
            for h in sorted(self.places, key=lambda h: _order(local.get(h))):
                place = local.get(h)
                data = files.read(place) if place is not None else None
                if data is None or hash_bytes(data) != h:
                    remote.add(h)
                    continue
                for fd, offset in self.places[h]:
                    os.pwrite(fd, data, offset)
                self.done.add(h)
        return remote

    def sink(self, got: dict[str, _Chunk]) -> Sink:
        """Where one pack's reader writes its blocks (`got`: that pack's chunks so far)."""

        def write(h: str, at: int, data: bytes) -> None:
            chunk = got.setdefault(h, _Chunk()) if at == 0 else got[h]
            chunk.hasher.update(data)
            chunk.size += len(data)
            if chunk.size <= self.sizes[h]:
                for fd, offset in self.places[h]:
                    os.pwrite(fd, data, offset + at)

        return write

    def check(self, h: str, chunk: _Chunk | None, listed: bool, pack: str, remote: str) -> None:
        """Whether chunk `h` arrived whole (`listed`: the pack's index names it)."""
        if h in self.done:
            return
        if not listed:
            self.fail(h, f"chunk {h} is missing from packs/{pack} on remote {remote}")
        elif chunk is None or chunk.size != self.sizes[h] or PREFIX + chunk.hasher.hexdigest() != h:
            self.fail(h, f"corrupt on remote {remote} (chunk {h} in packs/{pack})")
        else:
            self.done.add(h)

    def fail(self, h: str, why: str) -> None:
        """Fail the objects holding `h`; the first reason given for an object is kept."""
        for oid in self.users[h]:
            self.failed.setdefault(oid, why)

    def finish(self, oid: str, batch: Batch) -> str | None:
        """Stage the object when whole and verified; else why not."""
        tmp, fd = self.files.pop(oid)
        os.close(fd)
        why = self.failed.get(oid)
        if why is None and batch.adopt(tmp, oid):
            return None
        tmp.unlink(missing_ok=True)
        return why or "assembled from its chunks, it does not match its hash"

    def __exit__(self, *_: object) -> None:
        for tmp, fd in self.files.values():
            os.close(fd)
            tmp.unlink(missing_ok=True)
        self.files.clear()


def _order(place: Located | None) -> tuple[str, int]:
    return ("", 0) if place is None else (place.oid, place.offset)
