"""Transfers, packs, verification and resumption over a plain folder as the remote.

The same logic as the MLflow tests (test_remote.py, test_transfer.py), in-process and fast:
two `Cache`s are two clones, each with its own state folder for its `RemoteIndex`, and one
`FolderStore` folder is the remote they share.
"""

from __future__ import annotations

import builtins
import math
import random
import shutil
import stat
import threading
from pathlib import Path
from typing import BinaryIO

import pytest
from clones import Clone, new_clone

from mdflow import packs, transfer
from mdflow.cache import Cache
from mdflow.errors import FormatError
from mdflow.hashing import hash_bytes, hex_of
from mdflow.remote.errors import RemoteError
from mdflow.remote.folder import FolderStore
from mdflow.remote.formats import Inventory, PackIndex
from mdflow.remote.store import Deferred, ObjectStore
from mdflow.streaming import open_object
from mdflow.transfer import SMALL, object_path, pull, push


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def add(cache: Cache, blobs: builtins.list[bytes]) -> dict[str, bytes]:
    """Put `blobs` in the cache, flushed together; return them by oid."""
    with cache.batch() as batch:
        return {batch.write_bytes(data): data for data in blobs}


def mixed(cache: Cache) -> tuple[dict[str, bytes], set[str]]:
    """Objects of every kind in the cache: (all by oid, the oids stored loose on a remote)."""
    large = [blob(1, SMALL), blob(2, SMALL + 17)]  # at least SMALL: each one alone
    small = [b"", blob(3, SMALL - 1)] + [f"small object {i}\n".encode() for i in range(60)]
    objects = add(cache, large + small)
    return objects, {hash_bytes(d) for d in large}


def files(root: Path, folder: str) -> builtins.list[Path]:
    return sorted(p for p in (root / folder).rglob("*") if p.is_file())


def inventories(root: Path) -> builtins.list[Inventory]:
    return [Inventory.model_validate_json(p.read_bytes()) for p in files(root, "inventory")]


def listed(inventory: Inventory) -> set[str]:
    return set(inventory.loose).union(*inventory.packs.values())


def leftovers(cache: Cache) -> builtins.list[Path]:
    """Temporary files left in the cache's tmp folder."""
    return sorted(cache.tmp.iterdir()) if cache.tmp.is_dir() else []


def corrupt(path: Path, at: int) -> None:
    """Flip one byte of a stored (read-only) file."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    path.chmod(0o444)


def assert_holds(cache: Cache, objects: dict[str, bytes]) -> None:
    """Every object is in the cache, byte-identical, read-only, and nothing is left in tmp."""
    for oid, data in objects.items():
        assert cache.path(oid).read_bytes() == data
        assert hash_bytes(cache.path(oid).read_bytes()) == oid
        assert stat.S_IMODE(cache.path(oid).stat().st_mode) & 0o222 == 0
    assert leftovers(cache) == []


def pack_indexes(root: Path) -> dict[str, PackIndex]:
    return {p.stem: PackIndex.model_validate_json(p.read_bytes()) for p in root.glob("packs/*.idx")}


class Unreachable:
    """`connect` for a `Deferred` store whose server is down: counts attempts, each fails."""

    def __init__(self) -> None:
        self.attempts = 0

    def __call__(self) -> ObjectStore:
        self.attempts += 1
        raise RemoteError("the store is unreachable")


class Relay:
    """An object store that passes every call to `inner`; subclasses watch or change some."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.name = inner, inner.name

    def store_id(self) -> str:
        return self.inner.store_id()

    def list(self, folder: str) -> builtins.list[str]:
        return self.inner.list(folder)

    def put(self, local: Path, dest: str) -> None:
        self.inner.put(local, dest)

    def get(self, src: str, local: Path, limit: int | None = None) -> None:
        self.inner.get(src, local, limit)

    def open(self, src: str) -> BinaryIO | None:
        return self.inner.open(src)

    def read_range(self, src: str, offset: int, size: int) -> bytes | None:
        return self.inner.read_range(src, offset, size)


class Observer(Relay):
    """An observer, not a fake: records the listings and uploads of the real store it passes
    every call to, in the order they happen."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.lists: builtins.list[str] = []
        self.puts: builtins.list[str] = []
        self._lock = threading.Lock()

    def list(self, folder: str) -> builtins.list[str]:
        with self._lock:
            self.lists.append(folder)
        return super().list(folder)

    def put(self, local: Path, dest: str) -> None:
        super().put(local, dest)
        with self._lock:
            self.puts.append(dest)


class FailingPuts(Relay):
    """A fake, for a fault a test cannot cause otherwise (as root, a read-only folder still
    accepts writes): after `allowed` uploads of objects and packs succeed, the next ones fail
    with RemoteError, like a server that goes down mid-push. Inventories still go through when
    `inventory_fails` is False (the push ends by recording what succeeded)."""

    def __init__(self, inner: ObjectStore, allowed: int, inventory_fails: bool = False) -> None:
        super().__init__(inner)
        self.allowed, self.inventory_fails = allowed, inventory_fails
        self._lock = threading.Lock()

    def put(self, local: Path, dest: str) -> None:
        with self._lock:
            if dest.startswith("inventory/"):
                fail = self.inventory_fails
            else:
                fail = self.allowed <= 0
                self.allowed -= 1
        if fail:
            raise RemoteError(f"uploading {dest} failed: server stopped")
        super().put(local, dest)


# --- round trips --------------------------------------------------------------------------


def test_round_trip_large_loose_small_packed(remote: FolderStore, a: Clone, b: Clone) -> None:
    objects, large = mixed(a.cache)
    small = set(objects) - large
    total = sum(len(d) for d in objects.values())

    pushed = push(a.cache, a.index(remote), set(objects))
    assert pushed.failed == {}
    assert pushed.transferred == set(objects)
    assert pushed.bytes == total

    loose = {p.relative_to(remote.root).as_posix() for p in files(remote.root, "objects")}
    assert loose == {object_path(o) for o in large}
    assert [p.suffix for p in files(remote.root, "packs")] == [".idx", ".pack"]
    (inventory,) = inventories(remote.root)
    assert set(inventory.loose) == large
    assert [set(v) for v in inventory.packs.values()] == [small]

    pulled = pull(b.cache, b.index(remote), set(objects))
    assert pulled.failed == {}
    assert pulled.transferred == set(objects)
    assert pulled.bytes == total
    assert_holds(b.cache, objects)
    assert set(b.cache.oids()) == set(objects)


def test_a_pack_of_empty_objects_only(remote: FolderStore, a: Clone, b: Clone) -> None:
    objects = add(a.cache, [b""])
    assert push(a.cache, a.index(remote), set(objects)).transferred == set(objects)
    (pack,) = remote.root.glob("packs/*.pack")
    assert pack.stat().st_size == 0
    pulled = pull(b.cache, b.index(remote), set(objects))
    assert pulled.transferred == set(objects) and pulled.bytes == 0
    assert_holds(b.cache, objects)


def test_small_objects_are_grouped_into_packs(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "PACK_MAX", 4000)
    objects = add(a.cache, [blob(i, 1000) for i in range(25)])  # 4 to a pack: 7 packs
    assert push(a.cache, a.index(remote), set(objects)).transferred == set(objects)

    packs = sorted(remote.root.glob("packs/*.pack"))
    indexes = pack_indexes(remote.root)
    assert len(packs) == math.ceil(25 / 4)
    assert sorted(indexes) == [p.stem for p in packs]
    seen: set[str] = set()
    for pack in packs:
        data = pack.read_bytes()
        index = indexes[pack.stem]
        assert index.pack == pack.stem == hex_of(hash_bytes(data))  # the name verifies it
        hashes = [e.hash for e in index.objects]
        assert hashes == sorted(hashes) and not seen & set(hashes)
        assert sum(e.size for e in index.objects) == len(data) <= 4000
        for e in index.objects:
            assert data[e.offset : e.offset + e.size] == objects[e.hash]
        seen |= set(hashes)
    assert seen == set(objects)
    (inventory,) = inventories(remote.root)
    assert {p: set(v) for p, v in inventory.packs.items()} == {
        p: {e.hash for e in i.objects} for p, i in indexes.items()
    }
    assert pull(b.cache, b.index(remote), set(objects)).transferred == set(objects)
    assert_holds(b.cache, objects)


def test_a_small_object_larger_than_a_pack_travels_alone(
    remote: FolderStore, a: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "PACK_MAX", 4000)
    objects = add(a.cache, [blob(i, 1000) for i in range(9)] + [blob(99, 5000)])
    assert push(a.cache, a.index(remote), set(objects)).transferred == set(objects)
    oversized = hash_bytes(blob(99, 5000))
    for index in pack_indexes(remote.root).values():
        hashes = {e.hash for e in index.objects}
        assert hashes == {oversized} or (
            oversized not in hashes and sum(e.size for e in index.objects) <= 4000
        )
    assert files(remote.root, "objects") == []  # still below SMALL: packed, not loose


def test_push_writes_what_makes_data_reachable_last(
    remote: FolderStore, a: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "PACK_MAX", 4000)
    objects = add(a.cache, [blob(i, 1000) for i in range(12)] + [blob(50, SMALL)])
    observer = Observer(remote)
    push(a.cache, a.index(observer), set(objects))
    *data, last = observer.puts
    assert last.startswith("inventory/") and len(data) == 1 + 2 * 3
    for pack in pack_indexes(remote.root):
        assert data.index(f"packs/{pack}.pack") < data.index(f"packs/{pack}.idx")
    assert observer.lists == ["inventory"]


def test_a_clone_pushes_only_what_no_inventory_lists(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    objects, _ = mixed(a.cache)
    push(a.cache, a.index(remote), set(objects))
    assert pull(b.cache, b.index(remote), set(objects)).failed == {}
    new = add(b.cache, [b"made by b\n", blob(7, SMALL)])
    pushed = push(b.cache, b.index(remote), set(objects) | set(new))
    assert pushed.transferred == set(new) and pushed.failed == {}
    assert pushed.bytes == sum(len(d) for d in new.values())
    assert len(inventories(remote.root)) == 2
    assert pull(a.cache, a.index(remote), set(new)).transferred == set(new)
    assert_holds(a.cache, {**objects, **new})


def test_push_names_objects_missing_from_the_local_cache(remote: FolderStore, a: Clone) -> None:
    objects = add(a.cache, [b"here\n"])
    absent = hash_bytes(b"never added\n")
    pushed = push(a.cache, a.index(remote), {*objects, absent})
    assert pushed.transferred == set(objects)
    assert pushed.failed == {absent: "not in the local cache"}
    (inventory,) = inventories(remote.root)
    assert listed(inventory) == set(objects)


# --- no store needed ------------------------------------------------------------------------


def test_noop_push_and_pull_never_connect(remote: FolderStore, a: Clone) -> None:
    objects, _ = mixed(a.cache)
    index = a.index(remote)
    push(a.cache, index, set(objects))

    connect = Unreachable()
    offline = a.index(Deferred("origin", connect))  # a later command: inventories from disk
    again = push(a.cache, offline, set(objects))
    assert again.transferred == set() and again.failed == {} and again.bytes == 0
    part = set(list(objects)[:3])
    assert push(a.cache, offline, part).transferred == set()
    cached = pull(a.cache, offline, set(objects))
    assert cached.transferred == set() and cached.failed == {}
    assert connect.attempts == 0

    # the trap is real: anything that needs the store tries to connect and fails
    new = a.cache.put_bytes(b"not pushed yet\n")
    with pytest.raises(RemoteError, match="unreachable"):
        push(a.cache, offline, {new})
    assert connect.attempts == 1


def test_noop_push_with_the_store_folder_gone(tmp_path: Path, a: Clone) -> None:
    objects = add(a.cache, [b"one\n", blob(5, SMALL)])
    store = FolderStore(tmp_path / "gone", "origin")
    push(a.cache, a.index(store), set(objects))
    shutil.rmtree(store.root)
    assert push(a.cache, a.index(store), set(objects)).transferred == set()
    assert pull(a.cache, a.index(store), set(objects)).transferred == set()
    assert not store.root.exists()


# --- verification ---------------------------------------------------------------------------


def test_corrupt_loose_object_is_refused(remote: FolderStore, a: Clone, b: Clone) -> None:
    objects, large = mixed(a.cache)
    push(a.cache, a.index(remote), set(objects))
    bad = min(large)
    corrupt(remote.root / object_path(bad), 100)

    pulled = pull(b.cache, b.index(remote), set(objects))
    assert list(pulled.failed) == [bad]
    assert "corrupt on remote origin" in pulled.failed[bad]
    assert object_path(bad) in pulled.failed[bad]
    assert pulled.transferred == set(objects) - {bad}
    assert not b.cache.has(bad) and not b.cache.path(bad).exists()
    assert_holds(b.cache, {o: d for o, d in objects.items() if o != bad})


def test_a_loose_object_longer_than_its_pointer_says_is_not_downloaded_whole(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """A hostile remote serving an endless object: with the size the pointer gives, a pull
    stops one byte past it (the hash refuses it); without a size, the whole is read."""
    data = blob(9, SMALL)
    (oid,) = add(a.cache, [data])
    push(a.cache, a.index(remote), {oid})
    stored = remote.root / object_path(oid)
    stored.chmod(0o644)
    with stored.open("ab") as f:
        f.write(bytes(8 << 20))
    bounded = pull(b.cache, b.index(remote), {oid}, sizes={oid: len(data)})
    assert "corrupt on remote origin" in bounded.failed[oid] and not b.cache.has(oid)
    whole = pull(b.cache, b.index(remote), {oid})
    assert oid in whole.failed
    assert bounded.wire < len(data) + 64 * 1024  # the object's size + 1, the inventories
    assert whole.wire >= len(data) + (8 << 20)
    assert list(b.cache.tmp.iterdir()) == []


def test_corrupt_object_in_a_pack_is_refused_the_rest_pulled(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    objects = add(a.cache, [f"packed {i}\n".encode() for i in range(30)])
    push(a.cache, a.index(remote), set(objects))
    ((pack_id, index),) = pack_indexes(remote.root).items()
    victim = index.objects[len(index.objects) // 2]
    corrupt(remote.root / f"packs/{pack_id}.pack", victim.offset + 2)

    pulled = pull(b.cache, b.index(remote), set(objects))
    assert list(pulled.failed) == [victim.hash]
    assert "corrupt on remote origin" in pulled.failed[victim.hash]
    assert f"packs/{pack_id}" in pulled.failed[victim.hash]
    assert pulled.transferred == set(objects) - {victim.hash}
    assert pulled.bytes == sum(len(d) for o, d in objects.items() if o != victim.hash)
    assert not b.cache.path(victim.hash).exists()
    assert_holds(b.cache, {o: d for o, d in objects.items() if o != victim.hash})


def one_pack(remote: FolderStore, a: Clone) -> tuple[dict[str, bytes], str, PackIndex]:
    objects = add(a.cache, [f"packed {i}\n".encode() * 50 for i in range(30)])
    push(a.cache, a.index(remote), set(objects))
    ((pack_id, index),) = pack_indexes(remote.root).items()
    return objects, pack_id, index


def fetched(remote: FolderStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the store is asked for from now on (the store itself is unchanged)."""
    names: list[str] = []
    get = remote.get

    def recorded(src: str, local: Path, limit: int | None = None) -> None:
        names.append(src)
        get(src, local, limit)

    monkeypatch.setattr(remote, "get", recorded)
    return names


def test_a_pack_longer_than_its_index_says_is_not_downloaded_whole(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """A hostile remote serving an endless pack: a pull stops one byte past the end of the
    last entry of its index and refuses the pack."""
    objects, pack_id, index = one_pack(remote, a)
    stored = remote.root / f"packs/{pack_id}.pack"
    size = stored.stat().st_size
    stored.chmod(0o644)
    with stored.open("ab") as f:
        f.write(bytes(8 << 20))
    pulled = pull(b.cache, b.index(remote), set(objects))
    assert set(pulled.failed) == set(objects) and not pulled.transferred
    assert all("longer than its index" in why for why in pulled.failed.values())
    assert list(b.cache.tmp.iterdir()) == [] and not any(b.cache.has(o) for o in objects)
    assert sum(e.size for e in index.objects) == size


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("far", "more than a pack holds"),
        ("huge", "more than a pack holds"),
        ("entries", "more entries than a pack holds"),
        ("index", "larger than a pack index can be"),
    ],
)
def test_a_pack_index_no_pack_can_match_is_refused_before_the_pack_is_fetched(
    remote: FolderStore,
    a: Clone,
    b: Clone,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    message: str,
) -> None:
    objects, pack_id, index = one_pack(remote, a)
    entries = sorted(index.objects, key=lambda e: e.offset)
    last = entries[-1]
    if change == "far":  # an entry past the end of any pack
        entries[-1] = last._replace(offset=packs.PACK_LIMIT)
    elif change == "huge":
        entries[-1] = last._replace(size=packs.PACK_LIMIT)
    elif change == "entries":
        monkeypatch.setattr(packs, "PACK_ENTRIES", len(entries) - 1)
    else:
        monkeypatch.setattr(packs, "INDEX_LIMIT", 1000)
    idx = remote.root / f"packs/{pack_id}.idx"
    idx.chmod(0o644)
    idx.write_bytes(PackIndex(pack=pack_id, objects=entries).to_bytes())
    names = fetched(remote, monkeypatch)
    pulled = pull(b.cache, b.index(remote), set(objects))
    assert set(pulled.failed) == set(objects) and not pulled.transferred
    assert all(message in why and f"packs/{pack_id}.idx" in why for why in pulled.failed.values())
    assert f"packs/{pack_id}.idx" in names and f"packs/{pack_id}.pack" not in names
    assert list(b.cache.tmp.iterdir()) == []


def test_a_push_packs_at_most_pack_entries_objects(
    remote: FolderStore, a: Clone, b: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "PACK_ENTRIES", 10)
    monkeypatch.setattr(transfer, "PACK_ENTRIES", 10)
    objects = add(a.cache, [f"packed {i}\n".encode() for i in range(25)])
    push(a.cache, a.index(remote), set(objects))
    assert sorted(len(i.objects) for i in pack_indexes(remote.root).values()) == [5, 10, 10]
    assert pull(b.cache, b.index(remote), set(objects)).transferred == set(objects)


def test_object_the_remote_lacks_is_named(remote: FolderStore, a: Clone, b: Clone) -> None:
    objects = add(a.cache, [b"pushed\n", blob(6, SMALL)])
    push(a.cache, a.index(remote), set(objects))
    never = hash_bytes(b"never pushed\n")
    pulled = pull(b.cache, b.index(remote), {*objects, never})
    assert pulled.failed == {never: "not on remote origin"}
    assert pulled.transferred == set(objects)
    assert not b.cache.has(never)


def test_nothing_pushed_yet_everything_is_named(remote: FolderStore, b: Clone) -> None:
    wanted = {hash_bytes(b"x"), hash_bytes(b"y")}
    pulled = pull(b.cache, b.index(remote), wanted)
    assert pulled.failed == dict.fromkeys(wanted, "not on remote origin")
    assert pulled.transferred == set() and leftovers(b.cache) == []


def test_listed_object_deleted_from_the_store_is_a_failure(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    objects, large = mixed(a.cache)
    push(a.cache, a.index(remote), set(objects))
    gone = max(large)
    (remote.root / object_path(gone)).unlink()
    pulled = pull(b.cache, b.index(remote), set(objects))
    assert list(pulled.failed) == [gone]
    assert f"downloading {object_path(gone)}" in pulled.failed[gone]
    assert pulled.transferred == set(objects) - {gone}
    assert leftovers(b.cache) == []


def test_object_missing_from_its_pack_index_is_named(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    objects = add(a.cache, [f"packed {i}\n".encode() for i in range(5)])
    push(a.cache, a.index(remote), set(objects))
    ((pack_id, index),) = pack_indexes(remote.root).items()
    dropped = index.objects[0].hash
    idx = remote.root / f"packs/{pack_id}.idx"
    idx.chmod(0o644)
    idx.write_bytes(PackIndex(pack=pack_id, objects=index.objects[1:]).to_bytes())

    pulled = pull(b.cache, b.index(remote), set(objects))
    assert list(pulled.failed) == [dropped]
    assert f"missing from packs/{pack_id}" in pulled.failed[dropped]
    assert pulled.transferred == set(objects) - {dropped}


def test_malformed_pack_index_is_an_error_and_caches_nothing(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    objects = add(a.cache, [f"packed {i}\n".encode() for i in range(5)])
    push(a.cache, a.index(remote), set(objects))
    (idx,) = remote.root.glob("packs/*.idx")
    idx.chmod(0o644)
    idx.write_text('{"mdflow": 1, "pack": "nope", "objects": []}')
    with pytest.raises(FormatError, match="malformed"):
        pull(b.cache, b.index(remote), set(objects))
    assert list(b.cache.oids()) == [] and leftovers(b.cache) == []


# --- resumption -----------------------------------------------------------------------------


def test_interrupted_push_records_what_succeeded_then_resumes(
    remote: FolderStore, a: Clone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "PACK_MAX", 4000)
    large = [blob(10 + i, SMALL + i) for i in range(3)]
    objects = add(a.cache, large + [blob(i, 1000) for i in range(16)])  # 3 loose + 4 packs

    first = push(a.cache, a.index(FailingPuts(remote, allowed=4)), set(objects))
    assert first.failed and first.transferred
    assert not first.failed.keys() & first.transferred
    assert first.failed.keys() | first.transferred == set(objects)
    assert all("server stopped" in why for why in first.failed.values())
    assert first.bytes == sum(len(objects[o]) for o in first.transferred)
    (inventory,) = inventories(remote.root)
    assert listed(inventory) == first.transferred  # only what succeeded is reachable

    c = new_clone(tmp_path, "c")
    assert pull(c.cache, c.index(remote), first.transferred).transferred == first.transferred

    second = push(a.cache, a.index(remote), set(objects))
    assert second.failed == {}
    assert second.transferred == set(first.failed)  # nothing that succeeded goes again
    assert len(inventories(remote.root)) == 2

    d = new_clone(tmp_path, "d")
    pulled = pull(d.cache, d.index(remote), set(objects))
    assert pulled.failed == {} and pulled.transferred == set(objects)
    assert_holds(d.cache, objects)


class Killed(BaseException):
    """The push's process dying: nothing after it runs (no RemoteError handling, no final
    inventory)."""


class DiesAfter(Relay):
    """A fake for a SIGKILL in the middle of a push, which an in-process test cannot take:
    after `allowed` uploads of objects or packs, the next upload kills the push."""

    def __init__(self, inner: ObjectStore, allowed: int) -> None:
        super().__init__(inner)
        self.allowed = allowed

    def put(self, local: Path, dest: str) -> None:
        if not dest.startswith("inventory/"):
            if self.allowed <= 0:
                raise Killed
            self.allowed -= 1
        super().put(local, dest)


def test_a_killed_push_resumes_from_its_last_inventory(
    remote: FolderStore, a: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "CHECKPOINT", 0.0)  # an inventory after every upload
    objects = add(a.cache, [blob(40 + i, SMALL + i) for i in range(6)])  # six loose objects
    with pytest.raises(Killed):
        push(a.cache, a.index(DiesAfter(remote, allowed=3)), set(objects), jobs=1)
    uploaded = set().union(*(listed(i) for i in inventories(remote.root)))
    assert len(uploaded) == 3  # published as the push went, before it died

    watched = Observer(remote)
    second = push(a.cache, a.index(watched), set(objects), jobs=1)
    assert second.failed == {} and second.transferred == set(objects) - uploaded
    assert len([p for p in watched.puts if p.startswith("objects/")]) == 3  # the rest only


def test_push_whose_inventory_fails_leaves_nothing_reachable(
    remote: FolderStore, a: Clone, b: Clone, tmp_path: Path
) -> None:
    objects, _ = mixed(a.cache)
    failing = FailingPuts(remote, allowed=100, inventory_fails=True)
    with pytest.raises(RemoteError, match="inventory"):
        push(a.cache, a.index(failing), set(objects))
    assert inventories(remote.root) == []
    assert list((a.state / "inventory").iterdir()) == []  # not recorded locally either
    assert pull(b.cache, b.index(remote), set(objects)).failed.keys() == set(objects)

    again = push(a.cache, a.index(remote), set(objects))
    assert again.transferred == set(objects) and again.failed == {}
    c = new_clone(tmp_path, "c")
    assert pull(c.cache, c.index(remote), set(objects)).transferred == set(objects)
    assert_holds(c.cache, objects)


def test_replaced_store_forgets_old_inventories(tmp_path: Path, a: Clone, b: Clone) -> None:
    objects, _ = mixed(a.cache)
    old = FolderStore(tmp_path / "old", "origin")
    push(a.cache, a.index(old), set(objects))
    assert (a.state / "store").read_text().strip() == old.store_id()

    new = FolderStore(tmp_path / "new", "origin")  # same remote name, another store
    extra = add(a.cache, [b"after the store was replaced\n"])
    pushed = push(a.cache, a.index(new), set(objects) | set(extra))
    assert pushed.failed == {}
    assert pushed.transferred == set(objects) | set(extra)  # everything again
    assert (a.state / "store").read_text().strip() == new.store_id()
    assert len(list((a.state / "inventory").glob("*.json"))) == 1  # the old ones forgotten
    (inventory,) = inventories(new.root)
    assert listed(inventory) == set(objects) | set(extra)
    assert pull(b.cache, b.index(new), set(objects)).transferred == set(objects)


def test_pull_through_a_replaced_store_forgets_old_inventories(
    tmp_path: Path, a: Clone, b: Clone
) -> None:
    objects = add(a.cache, [b"one\n", blob(8, SMALL)])
    old = FolderStore(tmp_path / "old", "origin")
    push(a.cache, a.index(old), set(objects))
    assert pull(b.cache, b.index(old), {hash_bytes(b"one\n")}).failed == {}

    empty = FolderStore(tmp_path / "empty", "origin")
    pulled = pull(b.cache, b.index(empty), set(objects))
    big = hash_bytes(blob(8, SMALL))
    assert pulled.failed == {big: "not on remote origin"}  # not a download of a missing file
    assert list((b.state / "inventory").iterdir()) == []


def test_shared_index_lists_the_remote_once(remote: FolderStore, a: Clone, b: Clone) -> None:
    objects, large = mixed(a.cache)
    push(a.cache, a.index(remote), set(objects))
    counting = Observer(remote)
    index = b.index(counting)
    first = pull(b.cache, index, large)
    second = pull(b.cache, index, set(objects) - large)
    assert first.transferred == large and second.transferred == set(objects) - large
    assert counting.lists == ["inventory"]
    assert_holds(b.cache, objects)
    pull(b.cache, b.index(counting), {hash_bytes(b"absent")})  # another command lists again
    assert counting.lists == ["inventory", "inventory"]


# --- streaming reads (open_object) ----------------------------------------------------------


@pytest.fixture
def streamed(remote: FolderStore, a: Clone) -> tuple[str, bytes]:
    """A pushed object large enough to be stored loose and read in several chunks."""
    data = blob(42, 2 * SMALL + 5)
    oid = a.cache.put_bytes(data)
    add(a.cache, [b"a small one\n"])
    push(a.cache, a.index(remote), {oid, hash_bytes(b"a small one\n")})
    return oid, data


def test_open_streams_then_caches_at_the_end(
    remote: FolderStore, b: Clone, streamed: tuple[str, bytes]
) -> None:
    oid, data = streamed
    closed: builtins.list[bool] = []
    with open_object(b.cache, b.index(remote), oid, lambda: closed.append(True)) as f:
        head = f.read(1000)
        assert not b.cache.has(oid)  # still downloading: nothing cached yet
        rest = f.read()
        assert b.cache.has(oid)  # the end was read and verified
    assert head + rest == data
    assert closed == [True]
    assert_holds(b.cache, {oid: data})


def test_open_a_corrupt_stream_raises_at_the_end(
    remote: FolderStore, b: Clone, streamed: tuple[str, bytes]
) -> None:
    oid, data = streamed
    corrupt(remote.root / object_path(oid), len(data) - 1)
    with (
        open_object(b.cache, b.index(remote), oid) as f,
        pytest.raises(OSError, match="corrupt on remote origin"),
    ):
        f.read()
    assert not b.cache.path(oid).exists()
    assert leftovers(b.cache) == []


def test_open_a_reader_that_stops_early_leaves_nothing(
    remote: FolderStore, b: Clone, streamed: tuple[str, bytes]
) -> None:
    oid, data = streamed
    closed: builtins.list[bool] = []
    with open_object(b.cache, b.index(remote), oid, lambda: closed.append(True)) as f:
        assert f.read(10) == data[:10]
    assert closed == [True]
    assert not b.cache.path(oid).exists()
    assert leftovers(b.cache) == []


def test_open_a_packed_object_pulls_it_first(
    remote: FolderStore, b: Clone, streamed: tuple[str, bytes]
) -> None:
    oid = hash_bytes(b"a small one\n")
    with open_object(b.cache, b.index(remote), oid) as f:
        assert b.cache.has(oid)  # pulled and verified before it is opened
        assert f.read() == b"a small one\n"
    assert leftovers(b.cache) == []


def test_open_a_cached_object_needs_no_store(a: Clone, streamed: tuple[str, bytes]) -> None:
    oid, data = streamed
    connect = Unreachable()
    with open_object(a.cache, a.index(Deferred("origin", connect)), oid) as f:
        assert f.read() == data
    assert connect.attempts == 0


def test_open_an_object_the_remote_lacks(
    remote: FolderStore, b: Clone, streamed: tuple[str, bytes]
) -> None:
    never = hash_bytes(b"never pushed\n")
    with pytest.raises(RemoteError, match="not on remote origin"):
        open_object(b.cache, b.index(remote), never)
    assert not b.cache.has(never)


# --- FolderStore ------------------------------------------------------------------------------


OUTSIDE = ["../x", "/abs", "a/../../b", "a/..", "", "."]


@pytest.mark.parametrize("rel", OUTSIDE)
def test_folder_store_refuses_paths_outside_its_root(tmp_path: Path, rel: str) -> None:
    store = FolderStore(tmp_path / "root", "origin")
    local = tmp_path / "local"
    local.write_bytes(b"data")
    with pytest.raises(RemoteError, match="not a path inside the store"):
        store.put(local, rel)
    with pytest.raises(RemoteError, match="not a path inside the store"):
        store.get(rel, tmp_path / "got")
    with pytest.raises(RemoteError, match="not a path inside the store"):
        store.open(rel)
    with pytest.raises(RemoteError, match="not a path inside the store"):
        store.list(rel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local"]  # nothing written anywhere


def test_folder_store_writes_read_only_files_and_no_temp_files(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "root", "origin")
    local = tmp_path / "local"
    for i in range(3):
        local.write_bytes(f"content {i}".encode())
        store.put(local, f"objects/ab/{i}")
    local.write_bytes(b"content 0")
    store.put(local, "objects/ab/0")  # a resumed push may upload the same file again
    stored = files(store.root, "objects")
    assert [p.name for p in stored] == ["0", "1", "2"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in stored)
    assert [p for p in store.root.rglob(".*")] == []
    assert store.list("objects/ab") == ["0", "1", "2"]
    assert store.list("objects") == []  # files only, not folders
    got = tmp_path / "got"
    store.get("objects/ab/2", got)
    assert got.read_bytes() == b"content 2"
    stream = store.open("objects/ab/1")
    assert stream is not None
    with stream:
        assert stream.read() == b"content 1"


def test_folder_store_missing_things(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "root", "origin")
    assert store.list("inventory") == []
    assert store.list("no/such/folder") == []
    got = tmp_path / "got"
    got.write_bytes(b"partial")
    with pytest.raises(RemoteError, match="downloading objects/aa/bb"):
        store.get("objects/aa/bb", got)
    assert not got.exists()
    with pytest.raises(RemoteError, match="downloading objects/aa/bb"):
        store.open("objects/aa/bb")
    with pytest.raises(RemoteError, match="uploading objects/aa/bb"):
        store.put(tmp_path / "no such local file", "objects/aa/bb")
    assert [p for p in store.root.rglob("*") if p.is_file() or p.name.startswith(".")] == []


def test_folder_store_list_fails_as_a_remote_error(tmp_path: Path) -> None:
    """A store whose root is not a folder (a misconfigured remote) fails like any remote."""
    root = tmp_path / "root"
    root.write_bytes(b"a file, not a folder")
    store = FolderStore(root, "origin")
    with pytest.raises(RemoteError, match="listing inventory"):
        store.list("inventory")
