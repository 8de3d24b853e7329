"""Pulling chunked objects: recipes, then chunks from the cache or the remote, assembled.

A chunked object (docs/remote-layout.md) is rebuilt in recipe order into a temporary file:
chunks already inside cached objects are read from there (the recipes this clone keeps, in
chunking.Recipes), the others from their packs, downloaded a few ahead and deleted once used.
Every chunk is verified by its hash as it is copied, the whole file by the object's hash
before it enters the cache. Memory stays flat: one chunk at a time, packs mapped.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import xxhash

from mdflow.cache import Batch, Cache
from mdflow.chunking import Located, Recipes
from mdflow.errors import FormatError
from mdflow.hashing import PREFIX, hash_bytes, hex_of
from mdflow.packs import Pack
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

AHEAD = 3  # packs downloaded ahead of the one being read


@dataclass
class Assembled:
    transferred: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # oid -> why
    bytes: int = 0  # the sizes of the objects assembled
    wire: int = 0  # the bytes downloaded: recipes and packs


class _Failed(Exception):
    """One object cannot be assembled: why."""


def pull_chunked(cache: Cache, index: RemoteIndex, oids: list[str]) -> Assembled:
    """Assemble the chunked objects `oids` (all named by a recipe in `index`) into the cache."""
    out = Assembled()
    local = Recipes(cache).index()
    recipes = _recipes(cache, index, oids, local.pages, out)
    if not recipes:
        return out
    store = index.store
    uses = [
        (index.packed[c.hash], c.hash)
        for r in recipes.values()
        for c in r.chunks
        if c.hash not in local.chunks and c.hash in index.packed
    ]
    with _Fetcher(cache, store, uses, AHEAD) as packs, cache.batch() as batch:
        for oid, recipe in recipes.items():
            try:
                _assemble(cache, batch, recipe, local.chunks, index, packs)
            except (_Failed, RemoteError, FormatError) as e:
                out.failed[oid] = str(e)
                continue
            out.transferred.add(oid)
            out.bytes += recipe.size
    out.wire += packs.received  # counted as packs close, the last ones on leaving
    return out


def _recipes(
    cache: Cache,
    index: RemoteIndex,
    oids: list[str],
    pages: dict[str, RecipePage],
    out: Assembled,
) -> dict[str, Recipe]:
    """Download and check the recipes of `oids`, and the pages of theirs not in `pages`; the
    whole recipes are kept in .mdflow/recipes/. Failures go to `out`."""
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


def _assemble(
    cache: Cache,
    batch: Batch,
    recipe: Recipe,
    local: dict[str, Located],
    index: RemoteIndex,
    packs: _Fetcher,
) -> None:
    """Write the object of `recipe` from its chunks, verified, and stage it in `batch`."""
    tmp = cache.temp()
    hasher = xxhash.xxh3_128()
    try:
        with tmp.open("wb") as out, _Files(cache) as files:
            for c in recipe.chunks:
                place = local.get(c.hash)
                data = files.read(place) if place is not None else None
                if data is None or hash_bytes(data) != c.hash:
                    data = _remote_chunk(index, packs, c.hash)
                hasher.update(data)
                out.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if PREFIX + hasher.hexdigest() != recipe.hash:
        tmp.unlink(missing_ok=True)
        raise _Failed(f"assembled from its chunks, it does not match its hash ({index.store.name})")
    batch.adopt(tmp, recipe.hash, known=recipe.hash)


def _remote_chunk(index: RemoteIndex, packs: _Fetcher, chunk: str) -> bytes:
    where = index.store.name
    pack = index.packed.get(chunk)
    if pack is None:
        raise _Failed(f"chunk {chunk} is not on remote {where}")
    p = packs.get(pack)
    if p.holds(chunk):
        view = p.read(chunk)
        data = None if view is None else bytes(view)  # a copy: the pack may be deleted now
        del view
    else:  # a chunk not planned from this pack (a cached one was corrupt): read it alone
        with Pack.download(packs.cache, packs.store, pack, frozenset({chunk})) as alone:
            view = alone.read(chunk)
            data = None if view is None else bytes(view)
            del view
            packs.received += alone.received
    packs.release(pack)
    if data is None:
        raise _Failed(f"chunk {chunk} is missing from packs/{pack} on remote {where}")
    if hash_bytes(data) != chunk:
        raise _Failed(f"corrupt on remote {where} (chunk {chunk} in packs/{pack})")
    return data


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


class _Fetcher:
    """The packs a pull reads chunks from, downloaded in order of first use, `ahead` at a
    time, and deleted once their last use is done."""

    def __init__(
        self, cache: Cache, store: ObjectStore, uses: list[tuple[str, str]], ahead: int
    ) -> None:
        self.cache, self.store, self.ahead = cache, store, max(1, ahead)
        self.order = list(dict.fromkeys(p for p, _ in uses))
        self.position = {p: i for i, p in enumerate(self.order)}
        self.left = Counter(p for p, _ in uses)
        self.wanted: dict[str, set[str]] = {}
        for pack, chunk in uses:
            self.wanted.setdefault(pack, set()).add(chunk)
        self.futures: dict[str, Future[Pack]] = {}
        self.pool = ThreadPoolExecutor(self.ahead)
        self.submitted = 0
        self.received = 0

    def __enter__(self) -> _Fetcher:
        return self

    def get(self, pack: str) -> Pack:
        """The pack, downloaded (raises RemoteError when that failed)."""
        last = self.position.get(pack, self.submitted) + self.ahead
        while self.submitted < min(last, len(self.order)):
            self._submit(self.order[self.submitted])
            self.submitted += 1
        if pack not in self.futures:  # a use not planned, or planned and done: fetch it again
            self._submit(pack)
        return self.futures[pack].result()

    def _submit(self, pack: str) -> None:
        wanted = frozenset(self.wanted.get(pack, ()))
        self.futures[pack] = self.pool.submit(Pack.fetch, self.cache, self.store, pack, wanted)

    def release(self, pack: str) -> None:
        """One use of `pack` is done; the last one deletes it."""
        self.left[pack] -= 1
        if self.left[pack] <= 0 and pack in self.futures:
            self._close(self.futures.pop(pack))

    def _close(self, future: Future[Pack]) -> None:
        with contextlib.suppress(Exception):
            p = future.result()
            self.received += p.received
            p.close()

    def __exit__(self, *_: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for future in self.futures.values():
            if not future.cancelled():
                self._close(future)
        self.futures.clear()
