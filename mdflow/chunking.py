"""Content-defined chunks of large objects, and the recipes this clone keeps of them.

An object of at least `CHUNKED_MIN` bytes is cut by FastCDC into chunks of about 80 KiB and
described by a recipe (docs/remote-layout.md). The recipes of cached objects are kept in
`.mdflow/recipes/<h>` (docs/cache-layout.md): they are the local chunk index a pull reads to
take chunks from cached objects instead of downloading them. A recipe is derived data: a
missing or damaged one is cut again from its object.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from mdflow.cache import CHUNKED_MIN as CHUNKED_MIN  # objects this large are cut
from mdflow.cache import Cache
from mdflow.errors import FormatError
from mdflow.hashing import PREFIX, hash_bytes, hex_of
from mdflow.remote.formats import Chunker, PagedRecipe, PageRef, Recipe, RecipeChunk, RecipePage

CHUNKER = Chunker(name="fastcdc-2020", min=16 << 10, avg=64 << 10, max=256 << 10, seed=0)
PAGE_EVERY = 256  # a page ends after a chunk whose hash's last 32 bits it divides...
PAGE_MAX = 1024  # ...or after this many chunks


def available() -> bool:
    """Whether this clone can cut chunks (pyfastcdc installed); pulling never needs it."""
    try:
        import pyfastcdc  # noqa: F401
    except ImportError:
        return False
    return True


def cut(path: Path, oid: str) -> Recipe:
    """The recipe of the file at `path` (object `oid`): its chunks, read as a stream (a map
    of the whole file would hold as much resident memory as the file is large)."""
    from pyfastcdc import FastCDC

    cdc = FastCDC(CHUNKER.avg, min_size=CHUNKER.min, max_size=CHUNKER.max, seed=CHUNKER.seed)
    chunks = []
    size = 0
    with path.open("rb", buffering=0) as f:
        for c in cdc.cut_stream(f):
            chunks.append(RecipeChunk.model_construct(hash=PREFIX + _hex(c.data), size=c.length))
            size += c.length
    return Recipe(hash=oid, size=size, chunker=CHUNKER, chunks=chunks)


def paginate(recipe: Recipe) -> tuple[PagedRecipe, dict[str, RecipePage]]:
    """The format-2 recipe of `recipe`, and its pages by object name.

    Pages end where the chunks' own hashes say (docs/remote-layout.md), so an edit changes
    the pages around it and no other: the next version shares the rest."""
    pages: dict[str, RecipePage] = {}
    refs: list[PageRef] = []
    run: list[RecipeChunk] = []
    for i, c in enumerate(recipe.chunks, 1):
        run.append(c)
        end = int(c.hash[-8:], 16) % PAGE_EVERY == 0
        if end or len(run) >= PAGE_MAX or i == len(recipe.chunks):
            page = RecipePage.model_construct(mdflow=1, chunks=run)
            name = hash_bytes(page.to_bytes())
            pages[name] = page
            refs.append(PageRef.model_construct(hash=name, size=page.size))
            run = []
    paged = PagedRecipe.model_construct(
        mdflow=2, hash=recipe.hash, size=recipe.size, chunker=recipe.chunker, pages=refs
    )
    return paged, pages


def _hex(data: memoryview) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@dataclass(frozen=True)
class Located:
    """Where a chunk's bytes are in the cache: inside object `oid`, at `offset`."""

    oid: str
    offset: int
    size: int


class Recipes:
    """The recipes of cached large objects, in `.mdflow/recipes/` beside the cache."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.folder = cache.root.parent / "recipes"

    def path(self, oid: str) -> Path:
        return self.folder / hex_of(oid)

    def get(self, oid: str) -> Recipe | None:
        """The kept recipe of `oid`, or None (none kept, or a damaged one: it is removed)."""
        try:
            data = self.path(oid).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            recipe = Recipe.model_validate_json(data)
            recipe.check(oid, str(self.path(oid)))
        except (ValueError, FormatError):
            self.path(oid).unlink(missing_ok=True)
            return None
        return recipe

    def of(self, oid: str) -> Recipe:
        """The recipe of cached object `oid`: kept, else cut now and kept."""
        recipe = self.get(oid)
        if recipe is None:
            recipe = cut(self.cache.path(oid), oid)
            self.save(recipe)
        return recipe

    def keep(self, oids: list[tuple[str, int]]) -> None:
        """Cut and keep the recipes of the objects (name, size) of at least CHUNKED_MIN that
        have none: `mdflow add` indexes what it adds, so a pull reuses it with no rescan."""
        if any(size >= CHUNKED_MIN for _, size in oids) and available():
            for oid, size in oids:
                if size >= CHUNKED_MIN and not self.path(oid).exists():
                    self.of(oid)

    def save(self, recipe: Recipe) -> str:
        """Keep `recipe` (write-once: temp file, fsync, rename); return its object name."""
        data = recipe.to_bytes()
        target = self.path(recipe.hash)
        if not target.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".recipe-{os.getpid()}-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return hash_bytes(data)

    def index(self, cut_missing: bool = True) -> Local:
        """Every chunk of the cached large objects (where to read it), and every page of
        their recipes. Objects without a kept recipe are cut first when `cut_missing` and a
        chunker is installed."""
        found = Local()
        can_cut = cut_missing and available()
        for oid in self.cache.oids():
            path = self.cache.path(oid)
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # removed meanwhile (gc)
                continue
            if size < CHUNKED_MIN:
                continue
            try:
                recipe = self.of(oid) if can_cut else self.get(oid)
            except OSError:  # unreadable: its chunks are downloaded instead
                continue
            if recipe is None or recipe.size != size:
                continue
            offset = 0
            for c in recipe.chunks:
                found.chunks.setdefault(c.hash, Located(oid, offset, c.size))
                offset += c.size
            found.pages.update(paginate(recipe)[1])
        return found


@dataclass
class Local:
    """What the cache holds of chunked objects: chunks by hash, recipe pages by name."""

    chunks: dict[str, Located] = field(default_factory=dict)
    pages: dict[str, RecipePage] = field(default_factory=dict)
