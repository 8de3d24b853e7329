"""Object storage: a flat store of named files, the half of a remote that holds the bytes.

Paths are POSIX paths relative to the store's root (for MLflow, the store run's artifacts);
the layout inside is docs/remote-layout.md. A store is never asked which objects it holds:
the inventory files that pushes write say so (`RemoteIndex.has` in remote/inventory.py), so
a no-op push or pull needs no server; the protocol has no `has` on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from mdflow.remote.errors import RemoteError

__all__ = ["Deferred", "ObjectStore", "RemoteError"]


class ObjectStore(Protocol):
    name: str  # the remote's name, for messages

    def store_id(self) -> str:
        """Which store this is. Files listed by inventories of another store are not in this
        one, even under the same remote name."""
        ...

    def list(self, folder: str) -> list[str]:
        """Names of the files directly in `folder` ([] when it does not exist)."""
        ...

    def put(self, local: Path, dest: str) -> None:
        """Upload the file `local` to `dest` (a path ending with the stored file's name)."""
        ...

    def get(self, src: str, local: Path, limit: int | None = None) -> None:
        """Download `src` to the path `local` (whose folder exists); with `limit`, no more
        than `limit` + 1 bytes of it (the caller tells a file too large by its size)."""
        ...

    def open(self, src: str) -> BinaryIO | None:
        """`src` as a file object that reads while it downloads, or None when this store
        cannot stream (then `get` it)."""
        ...

    def read_range(self, src: str, offset: int, size: int) -> bytes | None:
        """`size` bytes of `src` from `offset` (a few chunks out of a pack), or None when
        this store cannot read part of a file (then `get` it whole)."""
        ...


class Deferred:
    """An object store opened on first use: what `connect` returns is asked only when a
    transfer needs the store, so a no-op push or pull never connects."""

    def __init__(self, name: str, connect: Callable[[], ObjectStore]) -> None:
        self.name = name
        self._connect = connect

    def store_id(self) -> str:
        return self._connect().store_id()

    def list(self, folder: str) -> list[str]:
        return self._connect().list(folder)

    def put(self, local: Path, dest: str) -> None:
        self._connect().put(local, dest)

    def get(self, src: str, local: Path, limit: int | None = None) -> None:
        self._connect().get(src, local, limit)

    def open(self, src: str) -> BinaryIO | None:
        return self._connect().open(src)

    def read_range(self, src: str, offset: int, size: int) -> bytes | None:
        return self._connect().read_range(src, offset, size)
