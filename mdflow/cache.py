"""The content-addressed object store under `.mdflow/cache` (see docs/cache-layout.md)."""

from __future__ import annotations

import contextlib
import ctypes
import io
import itertools
import os
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from mdflow.debris import sweep, sweep_folder
from mdflow.forks import forked, tag
from mdflow.hashing import PREFIX, copy_fd, hash_bytes, hash_stream, hex_of, is_hash, slurp
from mdflow.paths import UMASK

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
# a new object file is made read-only at once when the umask leaves it 0444: no chmod later
_BORN_READ_ONLY = not UMASK & READ_ONLY
BATCH_SYNC_MIN = 8
_FAN, _REST = len(PREFIX), len(PREFIX) + 2  # an object's folder: the first two hex digits
CHUNKED_MIN = 4 << 20  # objects this large have recipes, travel as chunks (docs/remote-layout.md)


class Cache:
    """Maps hashes to object paths; writes objects once, atomically, read-only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        self.tmp = root / "tmp"
        self.quarantine_dir = root.parent / "quarantine"
        self.checkout_tmp = root.parent / "tmp"  # files on their way into the workspace

    def path(self, oid: str) -> Path:
        h = hex_of(oid)
        return self.root / h[:2] / h[2:]

    def has(self, oid: str) -> bool:
        if not is_hash(oid):  # hex_of's check, inline: asked for each of 10,000 objects
            raise ValueError(f"not an mdflow hash: {oid!r}")
        return os.path.isfile(f"{self._root}/{oid[_FAN:_REST]}/{oid[_REST:]}")

    def open(self, oid: str) -> BinaryIO:
        return self.path(oid).open("rb")

    def oids(self) -> Iterator[str]:
        """Every object name in the cache (stray files that are not objects are skipped)."""
        if not self.root.is_dir():
            return
        for fan in os.scandir(self.root):
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            for entry in os.scandir(fan.path):
                oid = PREFIX + fan.name + entry.name
                if is_hash(oid):
                    yield oid

    def put_bytes(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if not self.has(oid):
            with self.batch() as batch:
                batch.write_bytes(data)
        return oid

    def temp(self) -> Path:
        """A new empty file in `tmp/` (same filesystem as the objects: renames are atomic)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix=f"obj-{os.getpid()}-")
        os.close(fd)
        return Path(name)

    def quarantined(self, oid: str) -> bool:
        """Whether a copy of `oid` was ever moved to quarantine."""
        with contextlib.suppress(FileNotFoundError):
            prefix = f"{hex_of(oid)}."
            return any(n.startswith(prefix) for n in os.listdir(self.quarantine_dir))
        return False

    def quarantine(self, oid: str) -> Path | None:
        """Move a corrupt object aside, to a fresh name in `quarantine/` (earlier copies stay);
        None when it is gone already (another thread or process moved it)."""
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        fd, name = tempfile.mkstemp(dir=self.quarantine_dir, prefix=f"{hex_of(oid)}.{stamp}.")
        os.close(fd)
        try:
            os.replace(self.path(oid), name)
        except FileNotFoundError:
            os.unlink(name)
            return None
        return Path(name)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Batch]:
        """Stage objects, flush them to disk together, then give them their names."""
        batch = Batch(self)
        try:
            yield batch
            batch.commit()
        finally:
            batch.discard()


class Batch:
    """Objects written to temporary files, renamed into place only by `commit()`."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.staged: dict[str, str] = {}  # oid -> its temporary file
        self._writable: set[str] = set()  # temporary files made elsewhere: chmod at commit
        self._mutex = threading.Lock()
        self._names = itertools.count()
        # a forked worker's files are this process's to stage: named with its pid
        self._marker = f"stage-{os.getpid()}-{secrets.token_hex(6)}"
        self._marked = False
        self._folders: set[str] = set()  # made already

    def write_bytes(self, data: bytes) -> str:
        return self.ingest(io.BytesIO(data))[0]

    def ingest(self, source: BinaryIO, *sinks: Callable[[bytes], object]) -> tuple[str, int]:
        """Copy a stream into a staged object, hashing exactly the bytes written."""
        tmp, fd = self._create()
        try:
            with open(fd, "wb") as out:
                oid, size = hash_stream(source, out.write, *sinks)
        except BaseException as e:  # a full disk must not stay full: the partial file goes
            _unlink_failed(tmp, e)
            raise
        return self._stage(tmp, oid), size

    def ingest_file(self, path: str) -> str:
        """Copy a file into a staged object through raw descriptors and this thread's one
        buffer (hashing.copy_fd), hashing exactly the bytes written."""
        tmp, oid, _ = self.copy_in(path)
        return self.keep(tmp, oid)

    def copy_in(self, path: str) -> tuple[str, str, int]:
        """The first half of `ingest_file`, which a forked worker can do: the temporary file,
        the hash and size of the bytes copied (a file may have grown since it was scanned);
        no file ('') when the cache holds that object already. A small file is hashed before
        it is written: its temporary file goes beside its final name (a rename in one folder
        costs less), and none is made for an object the cache holds."""
        src = os.open(path, os.O_RDONLY)
        try:
            data = slurp(src)
            if data is not None:
                oid, size = hash_bytes(data), len(data)
                if self.cache.has(oid):
                    return "", oid, size
                return self._write(data, oid), oid, size
            tmp, oid, size = self._copy(src)
        finally:
            os.close(src)
        if self.cache.has(oid):
            os.unlink(tmp)
            return "", oid, size
        return tmp, oid, size

    def _copy(self, src: int) -> tuple[str, str, int]:
        tmp, fd = self._create()
        try:
            oid, _ = copy_fd(src, fd)
            size = os.fstat(fd).st_size
        except BaseException as e:
            os.close(fd)
            _unlink_failed(tmp, e)
            raise
        os.close(fd)
        return tmp, oid, size

    def _write(self, data: bytes | memoryview, oid: str) -> str:
        """A temporary file holding `data`, beside the final name of `oid`."""
        tmp, fd = self._create(oid)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException as e:
            os.close(fd)
            _unlink_failed(tmp, e)
            raise
        os.close(fd)
        return tmp

    def keep(self, tmp: str, oid: str) -> str:
        """The second half of `ingest_file`: stage the file `copy_in` made, unless this batch
        holds its object already."""
        if tmp:
            self._stage(tmp, oid, look_in_cache=False)
        return oid

    def put_verified(self, data: bytes, expected: str) -> bool:
        """Stage `data` as `expected` if it hashes to it (hashed once, before any write).

        Data that does not match is not written and False is returned. The caller knows the
        cache lacks `expected` (the object is not looked up again); one already staged in this
        batch is not written twice.
        """
        if hash_bytes(data) != expected:
            return False
        with self._mutex:
            if expected in self.staged:
                return True
        self._stage(self._write(data, expected), expected, look_in_cache=False)
        return True

    def adopt(self, tmp: Path, expected: str, known: str | None = None) -> bool:
        """Stage a downloaded file (in `cache.tmp`) as `expected` if its content hashes to it.

        `known`: the hash of exactly the bytes the caller wrote to `tmp`, computed while
        writing them (the file is then not read again). A file that does not match is deleted
        and False is returned: nothing unverified ever enters the cache.
        """
        if known is None:
            with tmp.open("rb") as f:
                known, _ = hash_stream(f)
        actual = known
        if actual != expected:
            tmp.unlink()
            return False
        with self._mutex:
            self._writable.add(str(tmp))
        self._stage(str(tmp), actual)
        return True

    def _create(self, oid: str | None = None) -> tuple[str, int]:
        """A new temporary file and a descriptor open for writing: beside the final name of
        `oid` when it is known, else in `cache.tmp`. While a batch has files, its marker
        `tmp/stage-<pid>-<random>` says whose they are (see `remove_debris`).

        Cheaper than mkstemp (no random name per file), which counts for 10,000 small objects.
        """
        if not self._marked:
            self.cache.tmp.mkdir(parents=True, exist_ok=True)
            os.close(os.open(f"{self.cache.tmp}/{self._marker}", os.O_CREAT | os.O_WRONLY, 0o644))
            self._marked = True
        n = f"{tag()}{next(self._names)}"
        if oid is None:
            name = f"{self.cache.tmp}/{self._marker}-{n}"
        else:
            h = hex_of(oid)
            folder = f"{self.cache.root}/{h[:2]}"
            if folder not in self._folders:
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            name = f"{folder}/.{self._marker}-{n}"
        mode = READ_ONLY if _BORN_READ_ONLY else 0o600  # the descriptor still writes
        return name, os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)

    def _stage(self, tmp: str, oid: str, look_in_cache: bool = True) -> str:
        # the stat of cache.has runs before the mutex: a thread holding it across a system
        # call makes every other thread queue for the GIL and then for the mutex (a convoy)
        cached = look_in_cache and self.cache.has(oid)
        with self._mutex:
            duplicate = cached or oid in self.staged
            if not duplicate:
                self.staged[oid] = tmp
        if duplicate:
            os.unlink(tmp)
        return oid

    def commit(self) -> None:
        if not self.staged:
            return
        sync_paths(list(self.staged.values()))
        root = str(self.cache.root)
        folders: set[str] = set()
        moves = []
        for oid, tmp in self.staged.items():
            h = hex_of(oid)
            folder = f"{root}/{h[:2]}"
            if folder not in folders:
                if folder not in self._folders:
                    os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            if not _BORN_READ_ONLY or tmp in self._writable:
                os.chmod(tmp, READ_ONLY)
            moves.append((tmp, f"{folder}/{h[2:]}"))
        for _ in forked(_rename, moves):  # renames in one folder run in parallel
            pass
        sync_paths(sorted(folders))
        self.staged.clear()
        self._writable.clear()
        self._unmark()

    def discard(self) -> None:
        for tmp in self.staged.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if self._marked or os.path.exists(f"{self.cache.tmp}/{self._marker}"):
            sweep(self.cache.root, f".{self._marker}-")  # a worker's files never staged:
            sweep_folder(str(self.cache.tmp), f"{self._marker}-")  # beside names, or in tmp/
        self.staged.clear()
        self._writable.clear()
        self._unmark()

    def _unmark(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{self.cache.tmp}/{self._marker}")
        self._marked = False


def _rename(move: tuple[str, str]) -> None:
    os.replace(*move)


def _unlink_failed(tmp: str, e: BaseException) -> None:
    """Remove the temporary file of a failed write; an OSError learns the file it was about."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    if isinstance(e, OSError) and e.filename is None:
        e.filename = tmp


def sync_paths(paths: Sequence[str | Path]) -> None:
    """Make written data durable: fsync a few files, or one syncfs for many."""
    if len(paths) >= BATCH_SYNC_MIN and _syncfs(paths[0]):
        return
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _syncfs(path: str | Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
    except (OSError, AttributeError):
        return False
    try:
        return bool(libc.syncfs(fd) == 0)
    except AttributeError:
        return False
    finally:
        os.close(fd)
