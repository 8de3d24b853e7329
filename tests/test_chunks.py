"""Large objects as content-defined chunks, over a plain folder as the remote.

Edits of a CSV send and receive about the bytes they change; chunks and recipes are verified;
an interrupted push resumes without leaving a recipe that names missing chunks; remotes of the
earlier layout still pull. Two `Cache`s are two clones, one `FolderStore` is their remote.
"""

from __future__ import annotations

import random
import threading
import tracemalloc
from pathlib import Path

import pytest
from clones import Clone, new_clone
from conftest import mdflow
from test_objects import DiesAfter, FailingPuts, Killed, Observer, assert_holds, corrupt

from mdflow import chunking, transfer
from mdflow.chunking import CHUNKED_MIN, CHUNKER, Recipes
from mdflow.hashing import hash_bytes
from mdflow.remote import inventory
from mdflow.remote.folder import FolderStore
from mdflow.remote.formats import InventoryV2, PackIndex, Recipe
from mdflow.repo import Repo
from mdflow.transfer import SMALL, pull, push

ROWS = 160_000  # about 6.5 MiB of CSV: above CHUNKED_MIN


def rows(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{i},{rng.random():.6f},{rng.randint(0, 10**6)},name{rng.randint(0, 999)}\n"
        for i in range(n)
    ]


def csv(lines: list[str]) -> bytes:
    return "".join(lines).encode()


def edits(base: list[str]) -> dict[str, bytes]:
    """The edits of issue 15 at small scale: the new file's bytes, by edit."""
    appended = base + rows(len(base) // 100, seed=2)
    middle = len(base) // 2
    inserted = base[:middle] + [f"new{i},0.5,7,inserted\n" for i in range(10)] + base[middle:]
    cell = list(base)
    cell[middle] = cell[middle].replace(",name", ",renamed", 1)
    return {"append 1%": csv(appended), "insert 10 rows": csv(inserted), "one cell": csv(cell)}


def put(clone: Clone, data: bytes) -> str:
    with clone.cache.batch() as batch:
        return batch.write_bytes(data)


def paged(clone: Clone, oid: str) -> tuple[bytes, list[bytes]]:
    """The format-2 recipe of a cached object as the remote holds it, and its pages."""
    recipe = Recipes(clone.cache).get(oid)
    assert recipe is not None
    top, pages = chunking.paginate(recipe)
    return top.to_bytes(), [p.to_bytes() for p in pages.values()]


def recipe_size(clone: Clone, oid: str, pages: int = 1 << 30) -> int:
    """The bytes of an object's recipe and of its `pages` largest pages (all by default)."""
    top, blobs = paged(clone, oid)
    return len(top) + sum(sorted(map(len, blobs))[-pages:])


def bound(new_bytes: int, recipe: int) -> int:
    """What an edit may send: the changed bytes, the chunks around them (at most two of the
    largest on each side of the edit) and the new recipe, plus a pack index."""
    return new_bytes + 4 * CHUNKER.max + recipe + 4096


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of about 4 chunks instead of 256, so that a file of a few MiB has many."""
    monkeypatch.setattr(chunking, "PAGE_EVERY", 4)


def v2_inventories(root: Path) -> list[InventoryV2]:
    return [
        InventoryV2.model_validate_json(p.read_bytes()) for p in sorted(root.glob("inventory/*.v2"))
    ]


def test_a_large_object_travels_as_chunks_and_comes_back_whole(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    data = csv(rows(ROWS))
    assert len(data) >= CHUNKED_MIN
    oid = put(a, data)
    pushed = push(a.cache, a.index(remote), {oid})
    assert pushed.failed == {} and pushed.transferred == {oid}
    assert pushed.bytes == len(data)
    assert len(data) <= pushed.wire <= len(data) + recipe_size(a, oid) + 64 * 1024
    assert not list(remote.root.glob("objects/**/*.*")) and not (remote.root / "objects").exists()
    (names,) = v2_inventories(remote.root)
    recipe = Recipes(a.cache).get(oid)
    assert recipe is not None and names.recipes == {oid: hash_bytes(paged(a, oid)[0])}
    assert len(recipe.chunks) > 10 and max(c.size for c in recipe.chunks) <= CHUNKER.max

    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.failed == {} and pulled.transferred == {oid} and pulled.bytes == len(data)
    assert_holds(b.cache, {oid: data})
    assert Recipes(b.cache).get(oid) == recipe  # the local chunk index has it now

    again = push(b.cache, b.index(remote), {oid})  # the remote has it: nothing to do
    assert again.transferred == set() and again.wire == 0


@pytest.mark.parametrize("edit", ["append 1%", "insert 10 rows", "one cell"])
def test_an_edit_sends_and_receives_about_what_changed(
    remote: FolderStore, a: Clone, b: Clone, edit: str, small_pages: None
) -> None:
    base = rows(ROWS)
    old = put(a, csv(base))
    assert push(a.cache, a.index(remote), {old}).failed == {}
    assert pull(b.cache, b.index(remote), {old}).failed == {}  # the teammate holds the old one

    data = edits(base)[edit]
    new = put(a, data)
    changed = len(data) - len(csv(base)) if edit == "append 1%" else 200
    pushed = push(a.cache, a.index(remote), {new})
    assert pushed.transferred == {new} and pushed.bytes == len(data)
    # the recipe's pages around the edit travel, not the whole recipe: no page is stored twice
    assert len(paged(a, new)[1]) >= 8 and recipe_size(a, new, 2) < recipe_size(a, new) / 2
    assert pushed.wire <= bound(changed, recipe_size(a, new, pages=2))
    old_pages = set(chunking.paginate(chunking.cut(a.cache.path(old), old))[1])
    new_pages = set(chunking.paginate(chunking.cut(a.cache.path(new), new))[1])
    assert len(new_pages - old_pages) <= 2  # the pages the edit touched
    entries = stored(remote.root)
    assert all(entries.count(p) == 1 for p in old_pages | new_pages)

    pulled = pull(b.cache, b.index(remote), {new})
    assert pulled.transferred == {new} and pulled.failed == {}
    assert pulled.wire <= bound(changed, recipe_size(a, new, pages=2))
    assert_holds(b.cache, {new: data})


def test_pull_reuses_chunks_of_objects_added_here_without_a_recipe(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """The local chunk index is rebuilt when missing: an object `mdflow add`ed (never pushed
    or pulled) is cut when a pull needs chunks."""
    base = rows(ROWS)
    old, data = put(a, csv(base)), edits(base)["insert 10 rows"]
    new = put(a, data)
    assert push(a.cache, a.index(remote), {old, new}).failed == {}
    put(b, csv(base))  # b made the old version itself
    assert not Recipes(b.cache).folder.exists()
    pulled = pull(b.cache, b.index(remote), {new})
    assert pulled.transferred == {new}
    assert pulled.wire <= bound(200, recipe_size(a, new))
    assert Recipes(b.cache).get(old) is not None and Recipes(b.cache).get(new) is not None


def test_a_damaged_local_recipe_is_cut_again(remote: FolderStore, a: Clone, b: Clone) -> None:
    base = rows(ROWS)
    old = put(a, csv(base))
    push(a.cache, a.index(remote), {old})
    pull(b.cache, b.index(remote), {old})
    path = Recipes(b.cache).path(old)
    path.write_bytes(path.read_bytes()[:100])  # torn
    new = put(a, edits(base)["one cell"])
    push(a.cache, a.index(remote), {new})
    pulled = pull(b.cache, b.index(remote), {new})
    assert pulled.transferred == {new} and pulled.wire <= bound(200, recipe_size(a, new))


def stored(root: Path) -> list[str]:
    """Every entry of every pack on the remote, repeated as often as it is stored."""
    return [
        e.hash
        for p in sorted(root.glob("packs/*.idx"))
        for e in PackIndex.model_validate_json(p.read_bytes()).objects
    ]


def chunk_packs(root: Path, oid: str, recipe: Recipe) -> list[Path]:
    chunks = {c.hash for c in recipe.chunks}
    return [
        root / "packs" / f"{p.stem}.pack"
        for p in sorted(root.glob("packs/*.idx"))
        if {e.hash for e in PackIndex.model_validate_json(p.read_bytes()).objects} & chunks
    ]


def pushed_in_one_pack(remote: FolderStore, a: Clone) -> tuple[bytes, str, Recipe, Path]:
    """A chunked object pushed from `a`: its bytes, id, recipe and the one pack of its chunks."""
    data = csv(rows(ROWS))
    oid = put(a, data)
    push(a.cache, a.index(remote), {oid})
    recipe = Recipes(a.cache).get(oid)
    assert recipe is not None
    (pack,) = chunk_packs(remote.root, oid, recipe)
    return data, oid, recipe, pack


def test_a_corrupt_chunk_on_the_remote_is_refused_and_named(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    data, oid, _, pack = pushed_in_one_pack(remote, a)
    corrupt(pack, at=len(data) // 2)
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.transferred == set()
    assert "corrupt on remote origin (chunk xxh3-128:" in pulled.failed[oid]
    assert f"in packs/{pack.stem})" in pulled.failed[oid]
    assert not b.cache.has(oid)
    assert list(b.cache.tmp.iterdir()) == []  # no partial file, no downloaded pack left


def test_a_pack_cut_short_on_the_remote_fails_its_object_and_leaves_nothing(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """Packs are read as they arrive, into the object being assembled: a pack that ends
    before its index says fails the object, with no partial object or pack left behind."""
    _, oid, _, pack = pushed_in_one_pack(remote, a)
    pack.chmod(0o644)
    pack.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.transferred == set()
    assert f"packs/{pack.stem}.pack is shorter than its index says" in pulled.failed[oid]
    assert not b.cache.has(oid)
    assert list(b.cache.tmp.iterdir()) == []


def test_a_pack_index_giving_a_chunk_another_size_is_refused(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """A hostile index cannot make a chunk longer than its recipe says (nor write past it)."""
    _, oid, recipe, pack = pushed_in_one_pack(remote, a)
    idx = pack.with_suffix(".idx")
    index = PackIndex.model_validate_json(idx.read_bytes())
    first = recipe.chunks[0].hash
    grown = [e._replace(size=e.size + 1) if e.hash == first else e for e in index.objects]
    idx.chmod(0o644)
    idx.write_bytes(index.model_copy(update={"objects": grown}).to_bytes())
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.failed[oid] == f"corrupt on remote origin (chunk {first} in packs/{pack.stem})"
    assert not b.cache.has(oid) and list(b.cache.tmp.iterdir()) == []


def test_a_corrupt_cached_chunk_is_downloaded_instead(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """Chunks copied out of cached objects are verified: a damaged one is read from its pack."""
    base = rows(ROWS)
    first, second = csv(base), edits(base)["one cell"]
    old = put(a, first)
    push(a.cache, a.index(remote), {old})
    assert pull(b.cache, b.index(remote), {old}).transferred == {old}
    corrupt(b.cache.path(old), at=1000)  # inside the first chunk, which both versions share
    new = put(a, second)
    push(a.cache, a.index(remote), {new})
    pulled = pull(b.cache, b.index(remote), {new})
    assert pulled.transferred == {new}, pulled.failed
    assert b.cache.path(new).read_bytes() == second
    assert list(b.cache.tmp.iterdir()) == []


def entry(root: Path, name: str) -> tuple[Path, int]:
    """The pack holding `name` on the remote, and its offset there."""
    for idx in sorted(root.glob("packs/*.idx")):
        for e in PackIndex.model_validate_json(idx.read_bytes()).objects:
            if e.hash == name:
                return idx.with_suffix(".pack"), e.offset
    raise AssertionError(f"{name} is in no pack")


def test_a_corrupt_recipe_page_is_refused_and_named(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    data = csv(rows(ROWS))
    oid = put(a, data)
    push(a.cache, a.index(remote), {oid})
    (page,) = paged(a, oid)[1]
    name = hash_bytes(page)
    pack, offset = entry(remote.root, name)
    corrupt(pack, at=offset + 30)
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.transferred == set() and not b.cache.has(oid)
    assert f"page {name} of recipe" in pulled.failed[oid]
    assert "is corrupt or missing" in pulled.failed[oid]


def test_a_recipe_of_format_1_still_pulls(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recipe listing every chunk inline, as the first mdflow with chunked objects wrote
    them (its push named the whole recipe where pages are named now)."""
    data = csv(rows(ROWS))
    oid = put(a, data)
    monkeypatch.setattr(chunking, "paginate", lambda recipe: (recipe, {}))
    assert push(a.cache, a.index(remote), {oid}).transferred == {oid}
    monkeypatch.undo()
    recipe = Recipes(a.cache).get(oid)
    assert recipe is not None and recipe.mdflow == 1
    (names,) = v2_inventories(remote.root)
    assert names.recipes == {oid: hash_bytes(recipe.to_bytes())}
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.failed == {} and pulled.transferred == {oid}
    assert_holds(b.cache, {oid: data})


def test_a_recipe_that_names_another_object_is_refused(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    one, two = put(a, csv(rows(ROWS))), put(a, csv(rows(ROWS, seed=5)))
    push(a.cache, a.index(remote), {one, two})
    (names,) = v2_inventories(remote.root)
    swapped = InventoryV2(recipes={one: names.recipes[two]})
    (remote.root / "inventory" / "99999999T000000-000000000000.v2").write_bytes(swapped.to_bytes())
    pulled = pull(b.cache, b.index(remote), {one})
    assert one in pulled.failed and "is not the recipe of" in pulled.failed[one]
    assert not b.cache.has(one)


def test_a_push_killed_between_chunk_packs_and_recipe_resumes(
    remote: FolderStore, a: Clone, b: Clone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "CHECKPOINT", 0.0)  # an inventory after every upload
    monkeypatch.setattr(transfer, "PACK_MAX", 2 * SMALL)  # several chunk packs
    data = csv(rows(ROWS))
    oid = put(a, data)
    recipe = chunking.cut(a.cache.path(oid), oid)
    unique = {c.hash: c.size for c in recipe.chunks}
    packs = len(transfer._group([transfer.Member(h, Path(), 0, n) for h, n in unique.items()]))
    assert packs >= 3
    with pytest.raises(Killed):  # every chunk pack (two files each) uploaded, then killed
        push(a.cache, a.index(DiesAfter(remote, allowed=2 * packs)), {oid}, jobs=1)
    pushed = set().union(*(set().union(*i.packs.values()) for i in _inventories(remote.root)))
    assert {c.hash for c in recipe.chunks} <= pushed  # every chunk is listed...
    assert v2_inventories(remote.root) == []  # ...but no recipe is named: not on the remote
    assert pull(b.cache, b.index(remote), {oid}).failed.keys() == {oid}

    watched = Observer(remote)
    second = push(a.cache, a.index(watched), {oid}, jobs=1)
    assert second.transferred == {oid} and second.failed == {}
    uploads = [p for p in watched.puts if not p.startswith("inventory/")]
    assert len(uploads) == 2  # the recipe's pack and its index: no chunk again
    c = new_clone(tmp_path, "c")
    assert pull(c.cache, c.index(remote), {oid}).transferred == {oid}
    assert_holds(c.cache, {oid: data})


def test_a_push_killed_among_chunk_packs_resends_only_the_rest(
    remote: FolderStore, a: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "CHECKPOINT", 0.0)
    monkeypatch.setattr(transfer, "PACK_MAX", SMALL)
    oid = put(a, csv(rows(ROWS)))
    with pytest.raises(Killed):
        push(a.cache, a.index(DiesAfter(remote, allowed=4)), {oid}, jobs=1)  # two packs
    watched = Observer(remote)
    assert push(a.cache, a.index(watched), {oid}, jobs=1).transferred == {oid}
    recipe = Recipes(a.cache).get(oid)
    assert recipe is not None
    packs = len(chunk_packs(remote.root, oid, recipe))
    pack_uploads = [p for p in watched.puts if p.endswith(".pack")]
    assert len(pack_uploads) == packs - 2 + 1  # the chunk packs not sent yet, and the recipe's


def _inventories(root: Path) -> list[inventory.Inventory]:
    return [
        inventory.Inventory.model_validate_json(p.read_bytes())
        for p in sorted(root.glob("inventory/*.json"))
    ]


def test_two_clones_pushing_overlapping_chunks_at_once_end_consistent(
    remote: FolderStore, a: Clone, b: Clone, tmp_path: Path
) -> None:
    base = rows(ROWS)
    mine, theirs = csv(base), edits(base)["insert 10 rows"]
    one, two = put(a, mine), put(b, theirs)
    results = {}

    def run(clone: Clone, oid: str) -> None:
        results[oid] = push(clone.cache, clone.index(remote), {oid})

    threads = [threading.Thread(target=run, args=x) for x in ((a, one), (b, two))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[one].transferred == {one} and results[two].transferred == {two}
    c = new_clone(tmp_path, "c")
    pulled = pull(c.cache, c.index(remote), {one, two})
    assert pulled.failed == {} and pulled.transferred == {one, two}
    assert_holds(c.cache, {one: mine, two: theirs})
    assert push(a.cache, a.index(remote), {one, two}).transferred == set()  # nothing is missing


def test_a_remote_of_the_earlier_layout_still_pulls(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large objects loose and format-1 inventories only: what mdflow wrote before chunks
    (and what a clone without pyfastcdc still writes)."""
    data = csv(rows(ROWS))
    oid = put(a, data)
    monkeypatch.setattr(chunking, "available", lambda: False)
    assert push(a.cache, a.index(remote), {oid}).transferred == {oid}
    monkeypatch.undo()
    assert list(remote.root.glob("inventory/*.v2")) == []
    assert (remote.root / transfer.object_path(oid)).is_file()
    pulled = pull(b.cache, b.index(remote), {oid})
    inventories = sum(p.stat().st_size for p in remote.root.glob("inventory/*"))
    assert pulled.transferred == {oid} and pulled.wire == len(data) + inventories
    assert_holds(b.cache, {oid: data})
    assert push(b.cache, b.index(remote), {oid}).transferred == set()  # not pushed again


def test_an_inventory_of_a_newer_format_asks_to_upgrade(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that knows only format 1 (KNOWN = 1 plays an older mdflow) facing a chunked
    object fails, naming the object and asking to upgrade; it still reads the rest."""
    small, big = put(a, b"small\n"), put(a, csv(rows(ROWS)))
    push(a.cache, a.index(remote), {small, big})
    monkeypatch.setattr(inventory, "KNOWN", 1)
    pulled = pull(b.cache, b.index(remote), {small, big})
    assert pulled.transferred == {small}
    assert "upgrade mdflow" in pulled.failed[big] and ".v2" in pulled.failed[big]


def test_memory_stays_flat_in_the_file_size(remote: FolderStore, a: Clone, b: Clone) -> None:
    """Python allocations of a push and a pull of a 24 MiB object stay far below its size
    (chunks are copied one at a time, packs are mapped)."""
    data = random.Random(3).randbytes(24 << 20)
    oid = put(a, data)
    del data
    tracemalloc.start()
    try:
        push(a.cache, a.index(remote), {oid})
        _, pushed = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        pull(b.cache, b.index(remote), {oid})
        _, pulled = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pushed < 4 << 20 and pulled < 4 << 20
    assert b.cache.has(oid)


def test_inventory_names_say_their_format() -> None:
    assert inventory.format_of("20260101T000000-abc.json") == 1
    assert inventory.format_of("20260101T000000-abc.v2") == 2
    assert inventory.format_of("20260101T000000-abc.v17") == 17
    for other in ("x.v1", "x.v0", ".x.v2", ".x.v2.tmp", "x.txt", "x.v2x"):
        assert inventory.format_of(other) is None, other


def test_a_chunked_object_counts_as_pushed_offline(remote: FolderStore, a: Clone) -> None:
    """`mdflow status` reads what the inventories list without the remote: chunked objects
    are listed by their recipes."""
    oid = put(a, csv(rows(ROWS)))
    push(a.cache, a.index(remote), {oid})
    assert oid in inventory.listed_offline(a.state)
    assert a.index(remote).load().has(oid)


def test_a_failed_chunk_upload_fails_its_object_and_names_no_recipe(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "PACK_MAX", 2 * SMALL)
    oid = put(a, csv(rows(ROWS)))
    failed = push(a.cache, a.index(FailingPuts(remote, allowed=3)), {oid}, jobs=1)
    assert failed.transferred == set() and "server stopped" in failed.failed[oid]
    assert v2_inventories(remote.root) == []  # some chunk packs are listed, no recipe is
    assert pull(b.cache, b.index(remote), {oid}).failed.keys() == {oid}
    again = push(a.cache, a.index(remote), {oid})
    assert again.transferred == {oid} and again.failed == {}
    assert pull(b.cache, b.index(remote), {oid}).transferred == {oid}


def test_add_indexes_the_chunks_of_the_large_files_it_adds(repo: Path) -> None:
    """`mdflow add` keeps the recipe of every large object it stores (a file, or a folder's
    file), so a later pull reuses their chunks without cutting anything."""
    big, inner = csv(rows(ROWS)), csv(rows(ROWS, seed=3))
    (repo / "big.csv").write_bytes(big)
    (repo / "folder").mkdir()
    (repo / "folder" / "big.csv").write_bytes(inner)
    (repo / "folder" / "small.txt").write_text("small\n")
    assert mdflow(repo, "add", "big.csv", "folder").code == 0
    cache = Repo(repo).cache
    for data in (big, inner):
        oid = hash_bytes(data)
        assert Recipes(cache).get(oid) == chunking.cut(cache.path(oid), oid)
    assert not Recipes(cache).path(hash_bytes(b"small\n")).exists()
    assert len(list(Recipes(cache).folder.iterdir())) == 2


def test_many_objects_are_assembled_a_group_at_a_time(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each object being assembled holds a descriptor: a pull of more objects than a group
    assembles them a group at a time (two here), every one whole, with chunks shared across
    groups."""
    from mdflow import assembly

    monkeypatch.setattr(assembly, "GROUP", 2)
    shared = random.Random(5).randbytes(CHUNKED_MIN)
    blobs = [shared + random.Random(i).randbytes(1 << 20) for i in range(5)]
    oids = {put(a, blob): blob for blob in blobs}
    push(a.cache, a.index(remote), set(oids))
    pulled = pull(b.cache, b.index(remote), set(oids))
    assert pulled.transferred == set(oids), pulled.failed
    assert_holds(b.cache, oids)
