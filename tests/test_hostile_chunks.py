"""Attacks on chunked pulls that stream packs into the objects (assembly.py, packs.Streamed).

Over a plain folder as the remote (fixtures of test_chunks). Hostile pack indexes are written
by hand; the limits of the process (open files, file size) are real ones, lowered for the
duration of one pull. The tests marked xfail are findings: they state what mdflow should do
and fail on what it does now.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
import resource
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from clones import Clone, new_clone
from conftest import clone, git, mdflow, use_server
from servers import Server, forward, send_head
from test_chunked_remote import ROWS, lines, write
from test_chunks import ROWS as CSV_ROWS
from test_chunks import csv, edits, entry, pushed_in_one_pack, put
from test_chunks import rows as csv_rows
from test_objects import corrupt

from mdflow import chunking, transfer
from mdflow.cache import Cache
from mdflow.chunking import Recipes
from mdflow.hashing import hash_bytes, hex_of
from mdflow.packs import Streamed
from mdflow.remote.folder import FolderStore
from mdflow.remote.formats import Inventory, InventoryV2, PackEntry, PackIndex
from mdflow.transfer import pull, push


def rewrite_index(idx: Path, objects: list[PackEntry]) -> None:
    index = PackIndex.model_validate_json(idx.read_bytes())
    idx.chmod(0o644)
    idx.write_bytes(index.model_copy(update={"objects": objects}).to_bytes())


# --- hostile pack indexes ----------------------------------------------------------------


def test_an_entry_listed_twice_with_the_same_bytes_still_pulls(
    remote: FolderStore,
    a: Clone,
    b: Clone,
) -> None:
    data, oid, recipe, pack = pushed_in_one_pack(remote, a)
    idx = pack.with_suffix(".idx")
    objects = PackIndex.model_validate_json(idx.read_bytes()).objects
    first = next(e for e in objects if e.hash == recipe.chunks[0].hash)
    rewrite_index(idx, [*objects, first])
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.transferred == {oid}, pulled.failed
    assert b.cache.path(oid).read_bytes() == data


def test_an_entry_listed_twice_with_other_bytes_reads_the_first(
    remote: FolderStore,
    a: Clone,
    b: Clone,
) -> None:
    """A second entry for a chunk, pointing at other bytes, is not read: the first is, and
    it is verified by its hash like any other, so the object comes back whole."""
    data, oid, recipe, pack = pushed_in_one_pack(remote, a)
    idx = pack.with_suffix(".idx")
    objects = PackIndex.model_validate_json(idx.read_bytes()).objects
    first = next(e for e in objects if e.hash == recipe.chunks[0].hash)
    rewrite_index(idx, [*objects, first._replace(offset=first.offset + 1)])
    pulled = pull(b.cache, b.index(remote), {oid})
    assert pulled.transferred == {oid}, pulled.failed
    assert b.cache.path(oid).read_bytes() == data
    assert list(b.cache.tmp.iterdir()) == []


def hand_made_pack(root: Path, data: bytes, spans: list[tuple[int, int]]) -> tuple[str, PackIndex]:
    """A pack of `data` on the folder remote whose index lists the `spans` (offset, size),
    each under the hash of the bytes it covers."""
    pack = hex_of(hash_bytes(data))
    (root / "packs").mkdir(parents=True, exist_ok=True)
    (root / "packs" / f"{pack}.pack").write_bytes(data)
    entries = [PackEntry(hash=hash_bytes(data[o : o + n]), offset=o, size=n) for o, n in spans]
    index = PackIndex(pack=pack, objects=entries)
    (root / "packs" / f"{pack}.idx").write_bytes(index.to_bytes())
    return pack, index


def streamed(cache: Cache, store: FolderStore, pack: str, index: PackIndex) -> dict[str, bytes]:
    got: dict[str, bytearray] = {}

    def sink(h: str, at: int, block: bytes) -> None:
        got.setdefault(h, bytearray()).extend(block)

    Streamed(cache, store, pack).read(index, frozenset(e.hash for e in index.objects), sink)
    return {h: bytes(v) for h, v in got.items()}


def test_overlapping_entries_are_refused(tmp_path: Path) -> None:
    """A pack mdflow writes never overlaps its entries: an index that does is refused
    before any of it is read (the stream reads forward only)."""
    data = random.Random(3).randbytes(300_000)
    store = FolderStore(tmp_path / "remote", "origin")
    pack, index = hand_made_pack(store.root, data, [(0, 200_000), (100_000, 200_000)])
    with pytest.raises(OSError, match=f"packs/{pack}.idx lists entries that overlap"):
        streamed(Cache(tmp_path / "cache"), store, pack, index)


def test_a_pack_longer_than_its_index_and_entries_out_of_order_read_right(
    tmp_path: Path,
) -> None:
    """Fine as it is: bytes after the last entry are not read; entries listed in any order
    are handed over in pack order, each from its offset (gaps skipped)."""
    data = random.Random(4).randbytes(400_000)
    store = FolderStore(tmp_path / "remote", "origin")
    pack, index = hand_made_pack(store.root, data, [(250_000, 50_000), (10, 100_000)])
    got = streamed(Cache(tmp_path / "cache"), store, pack, index)
    assert got == {e.hash: data[e.offset : e.offset + e.size] for e in index.objects}


# --- limits of the process ---------------------------------------------------------------


def close_leaked(before: set[str], under: Path) -> None:
    """Close the descriptors opened since `before` on files in `under` (what a failed pull
    left open), so that the findings below do not leak into other tests."""
    for fd in set(os.listdir("/proc/self/fd")) - before:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(under)):
                os.close(int(fd))


@contextmanager
def limit(which: int, soft: int) -> Iterator[None]:
    old = resource.getrlimit(which)
    resource.setrlimit(which, (soft, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(which, old)


def many_chunked(
    monkeypatch: pytest.MonkeyPatch, remote: FolderStore, a: Clone, n: int
) -> set[str]:
    """`n` distinct objects of 256 KiB, chunked (the chunked size lowered for this test)."""
    for module in (chunking, transfer):
        monkeypatch.setattr(module, "CHUNKED_MIN", 128 << 10)
    with a.cache.batch() as batch:
        oids = {batch.write_bytes(random.Random(i).randbytes(256 << 10)) for i in range(n)}
    pushed = push(a.cache, a.index(remote), oids)
    assert pushed.transferred == oids and a.index(remote).sync().recipes.keys() >= oids
    return oids


def test_pulling_more_chunked_objects_than_open_files_allowed(
    monkeypatch: pytest.MonkeyPatch,
    remote: FolderStore,
    a: Clone,
    b: Clone,
) -> None:
    oids = many_chunked(monkeypatch, remote, a, 60)
    index = b.index(remote).sync()  # the inventory read before the limit
    before = set(os.listdir("/proc/self/fd"))
    failure: OSError | None = None
    with limit(resource.RLIMIT_NOFILE, len(before) + 30):
        try:
            pulled = pull(b.cache, index, oids)
        except OSError as e:
            failure = e
    left = list(b.cache.tmp.iterdir()) if b.cache.tmp.exists() else []
    leaked = len(os.listdir("/proc/self/fd")) - len(before)
    close_leaked(before, b.cache.tmp)
    assert (len(left), leaked) == (0, 0)  # temp files, descriptors
    assert failure is None, failure
    assert pulled.transferred == oids, pulled.failed


def test_a_pull_refused_by_a_file_size_limit_leaves_nothing_in_tmp(
    remote: FolderStore,
    a: Clone,
    b: Clone,
) -> None:
    _, oid, _, _ = pushed_in_one_pack(remote, a)
    index = b.index(remote).sync()
    before = set(os.listdir("/proc/self/fd"))
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with limit(resource.RLIMIT_FSIZE, 1 << 20):
            pull(b.cache, index, {oid})
    except OSError:
        pass  # failing is right (the object cannot be written); leaking is not
    finally:
        signal.signal(signal.SIGXFSZ, old)
    leaked = len(os.listdir("/proc/self/fd")) - len(before)
    close_leaked(before, b.cache.tmp)
    assert list(b.cache.tmp.iterdir()) == []
    assert leaked == 0
    assert not b.cache.has(oid)


@pytest.fixture
def small_b(tmp_path: Path) -> Iterator[Clone]:
    """Clone b with its cache on a real 4 MiB file system (tmpfs; the tests run as root)."""
    clone = new_clone(tmp_path, "b")
    clone.cache.root.mkdir(parents=True)
    where = str(clone.cache.root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", where], check=True)
    try:
        yield clone
    finally:
        subprocess.run(["umount", "-l", where], check=True)


def test_a_chunked_pull_onto_a_full_disk_fails_its_object_and_frees_what_it_wrote(
    remote: FolderStore, a: Clone, small_b: Clone
) -> None:
    """Fine as it is: a 6.5 MiB object streamed into a 4 MiB file system fails by name (no
    space left), and nothing stays in tmp/."""
    _, oid, _, _ = pushed_in_one_pack(remote, a)
    pulled = pull(small_b.cache, small_b.index(remote), {oid})
    assert pulled.transferred == set()
    assert "No space left on device" in pulled.failed[oid], pulled.failed
    assert list(small_b.cache.tmp.iterdir()) == []


class CuttingProxy:
    """A FAKE for a fault a real server cannot be made to show on demand: forwards to `target`,
    except that while `cut` is set, a pack is answered with its full length announced and half
    its bytes sent before the connection is dropped."""

    def __init__(self, target: str) -> None:
        self.cut, self.cuts = False, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                status, data, rh = forward(self, target)
                dropped = proxy.cut and self.command == "GET" and ".pack" in self.path
                send_head(self, status, rh, len(data))
                if dropped and len(data) > 1 << 20:
                    proxy.cuts += 1
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_connection_dropped_mid_pack_fails_the_object_and_a_rerun_pulls_it(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    """Fine as it is: a server that drops the connection half-way through a pack fails the
    object by name with nothing left in the cache's tmp/ nor the workspace; the next pull
    completes."""
    proxy = CuttingProxy(mlflow_server.url)
    try:
        use_server(repo, proxy.url, f"mdflow/{repo.parent.name}-cut")
        data = write(repo / "data/big.csv", lines(ROWS))
        assert mdflow(repo, "add", "data/big.csv").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "v1")
        assert mdflow(repo, "push").code == 0
        git(repo, "commit", "-qam", "link v1")
        mate = clone(repo, tmp_path / "mate")
        proxy.cut = True
        pulled = mdflow(mate, "pull", "--json")
        assert pulled.code == 1 and proxy.cuts >= 1, pulled.err
        (why,) = json.loads(pulled.out)["failed"].values()
        assert "packs/" in why, why
        assert list((mate / ".mdflow/cache/tmp").iterdir()) == []
        assert not (mate / "data/big.csv").exists()
        proxy.cut = False
        assert mdflow(mate, "pull").code == 0
        assert (mate / "data/big.csv").read_bytes() == data
    finally:
        proxy.close()


def drop_from_inventories(root: Path, chunk: str) -> None:
    """The remote's inventories without `chunk` (as if its pack had never been listed)."""
    for p in sorted(root.glob("inventory/*")):
        model = InventoryV2 if p.suffix == ".v2" else Inventory
        inv = model.model_validate_json(p.read_bytes())
        packs = {k: [o for o in v if o != chunk] for k, v in inv.packs.items()}
        p.chmod(0o644)
        p.write_bytes(inv.model_copy(update={"packs": packs}).to_bytes())


def test_a_corrupt_chunk_shared_with_a_failed_object_is_named_for_the_other(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    base = csv_rows(CSV_ROWS)
    x, y = put(a, csv(base)), put(a, edits(base)["one cell"])
    push(a.cache, a.index(remote), {x})
    push(a.cache, a.index(remote), {y})
    rx, ry = Recipes(a.cache).get(x), Recipes(a.cache).get(y)
    assert rx is not None and ry is not None
    only_x = ({c.hash for c in rx.chunks} - {c.hash for c in ry.chunks}).pop()
    shared = rx.chunks[0].hash
    drop_from_inventories(remote.root, only_x)  # x fails: a chunk not on the remote
    pack, offset = entry(remote.root, shared)
    corrupt(pack, at=offset + 10)  # and the chunk both hold is corrupt
    pulled = pull(b.cache, b.index(remote), {x, y})
    assert pulled.transferred == set()
    assert f"chunk {only_x} is not on remote origin" in pulled.failed[x]
    assert f"corrupt on remote origin (chunk {shared}" in pulled.failed[y], pulled.failed[y]


def test_an_object_of_one_chunk_repeated_travels_whole(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """Fine as it is: 6 MiB of zeros is one chunk named 24 times by its recipe (stored once);
    the pull writes it to every place."""
    data = b"\0" * (6 << 20)
    oid = put(a, data)
    assert push(a.cache, a.index(remote), {oid}).transferred == {oid}
    recipe = Recipes(a.cache).get(oid)
    assert recipe is not None and len({c.hash for c in recipe.chunks}) == 1 < len(recipe.chunks)
    assert pull(b.cache, b.index(remote), {oid}).transferred == {oid}
    assert b.cache.path(oid).read_bytes() == data and list(b.cache.tmp.iterdir()) == []


class WholeOnly(FolderStore):
    """A store that reads no ranges and opens no streams (as MLflow's client path): packs are
    downloaded whole. A real folder store, two capabilities turned off."""

    def open(self, src: str) -> None:  # type: ignore[override]
        return None

    def read_range(self, src: str, offset: int, size: int) -> None:  # type: ignore[override]
        return None


def test_packs_from_a_store_that_cannot_stream_pull_and_leave_nothing(
    tmp_path: Path, a: Clone, b: Clone
) -> None:
    """Fine as it is: whole packs downloaded, chunks verified, the downloaded pack removed;
    a pack cut short fails its object the same way."""
    store = WholeOnly(tmp_path / "remote", "origin")
    data, oid, _, pack = pushed_in_one_pack(store, a)
    assert pull(b.cache, b.index(store), {oid}).transferred == {oid}
    assert b.cache.path(oid).read_bytes() == data and list(b.cache.tmp.iterdir()) == []
    c = new_clone(tmp_path, "c")
    pack.chmod(0o644)
    pack.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])
    pulled = pull(c.cache, c.index(store), {oid})
    assert pulled.transferred == set() and "corrupt on remote origin" in pulled.failed[oid]
    assert list(c.cache.tmp.iterdir()) == []


# --- a recipe's size against the pointer's -------------------------------------------------


def test_a_recipe_of_another_size_than_expected_is_refused_before_its_chunks_travel(
    remote: FolderStore, a: Clone, b: Clone
) -> None:
    """A recipe may name one chunk a million times: what the pointer or manifest says the
    object's size is bounds what a pull writes, before its hash would refuse the object."""
    data, oid, _, _ = pushed_in_one_pack(remote, a)
    pulled = pull(b.cache, b.index(remote), {oid}, sizes={oid: len(data) + 1})
    assert pulled.transferred == set()
    assert (
        f"gives {len(data)} bytes where the pointer or manifest gives {len(data) + 1}"
        in (pulled.failed[oid])
    )
    assert pulled.wire < len(data) // 10  # inventories and the recipe, no chunk
    assert not b.cache.has(oid) and list(b.cache.tmp.iterdir()) == []
    pulled = pull(b.cache, b.index(remote), {oid}, sizes={oid: len(data)})
    assert pulled.transferred == {oid} and b.cache.has(oid)
