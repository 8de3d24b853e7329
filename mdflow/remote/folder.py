"""A plain folder as an object store: no MLflow, no server. Transfers, packs, verification
and resumption work the same on it as on an MLflow remote; tests use it for speed.

Writes are write-once: a temp file in the destination folder, fsync, rename, read-only.
"""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mdflow.remote.errors import RemoteError

READ_ONLY = 0o444


class FolderStore:
    def __init__(self, root: Path, name: str = "folder") -> None:
        self.root, self.name = root, name

    def store_id(self) -> str:
        return f"folder {self.root.resolve()}"

    def _path(self, rel: str) -> Path:
        """`rel` below the root; a path that would leave it is refused."""
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or any(p in ("..", ".", "") for p in parts):
            raise RemoteError(f"{rel!r} is not a path inside the store {self.root}")
        return self.root.joinpath(*parts)

    def list(self, folder: str) -> builtins.list[str]:
        try:
            with os.scandir(self._path(folder)) as it:
                return sorted(e.name for e in it if e.is_file() and not e.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise RemoteError(f"listing {folder} in {self.root} failed: {e.strerror}") from e

    def put(self, local: Path, dest: str) -> None:
        target = self._path(dest)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out, local.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, READ_ONLY)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:
            raise RemoteError(f"uploading {dest} to {self.root} failed: {e.strerror}") from e

    def get(self, src: str, local: Path, limit: int | None = None) -> None:
        try:
            if limit is None:
                shutil.copyfile(self._path(src), local)
            else:
                with self._path(src).open("rb") as f, local.open("wb") as out:
                    shutil.copyfileobj(_Bounded(f, limit + 1), out)
        except OSError as e:
            local.unlink(missing_ok=True)
            raise RemoteError(f"downloading {src} from {self.root} failed: {e.strerror}") from e

    def open(self, src: str) -> BinaryIO | None:
        try:
            return self._path(src).open("rb")
        except OSError as e:
            raise RemoteError(f"downloading {src} from {self.root} failed: {e.strerror}") from e

    def read_range(self, src: str, offset: int, size: int) -> bytes | None:
        try:
            with self._path(src).open("rb") as f:
                f.seek(offset)
                data = f.read(size)
        except OSError as e:
            raise RemoteError(f"downloading {src} from {self.root} failed: {e.strerror}") from e
        if len(data) != size:
            raise RemoteError(f"downloading {src} from {self.root} failed: it is too short")
        return data


class _Bounded:
    """The first `left` bytes of a file, read as a file."""

    def __init__(self, f: BinaryIO, left: int) -> None:
        self.f, self.left = f, left

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        return data
