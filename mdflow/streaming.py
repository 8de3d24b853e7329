"""Reading one remote object while it downloads (`mdflow.open` on data that is not local).

A loose object streams from the remote, is hashed and copied aside as it is read, and enters
the cache only when its end matched its hash; packed and chunked objects are pulled first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO

import xxhash

from mdflow.cache import Cache
from mdflow.hashing import PREFIX
from mdflow.remote.inventory import RemoteIndex
from mdflow.remote.store import RemoteError
from mdflow.transfer import CHUNK, object_path, pull


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
