"""Directory manifests: the cache object listing every file of a directory dataset.

Canonical JSON, one file per line, sorted by path: identical content gives an identical
manifest hash, and two manifests diff line by line (docs/cache-layout.md).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mdflow.errors import FormatError, UnsafePathError, describe
from mdflow.format_version import Version1
from mdflow.hashing import HASH_PATTERN, SHA256_PATTERN
from mdflow.paths import check_relpath

_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but " and \: JSON needs no escapes


class ManifestEntry(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    path: str = Field(description="Relative POSIX path inside the directory.")
    hash: str = Field(pattern=HASH_PATTERN)
    size: int = Field(ge=0)
    exec: bool = False

    _check_path = field_validator("path")(classmethod(lambda cls, v: check_relpath(v)))

    def line(self) -> str:
        return line(self.path, self.hash, self.size, self.exec)


class Manifest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow directory manifest")

    mdflow: Version1 = 1
    files: list[ManifestEntry]

    @field_validator("files")
    @classmethod
    def _sorted_unique(cls, files: list[ManifestEntry]) -> list[ManifestEntry]:
        check_paths([f.path for f in files])
        return files

    @classmethod
    def of(cls, entries: Iterable[ManifestEntry]) -> Manifest:
        return cls(files=sorted(entries, key=lambda e: e.path))

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.files)

    @classmethod
    def from_bytes(cls, data: bytes, origin: str) -> Manifest:
        try:
            return cls.model_validate_json(data)
        except ValidationError as e:
            unsafe = e.errors()[0]["loc"][-1:] == ("path",)
            raise (UnsafePathError if unsafe else FormatError)(
                f"manifest {origin}: {describe(e)}",
                "run mdflow fsck, then restore the object (mdflow add or pull)",
            ) from None


def check_paths(paths: list[str]) -> None:
    """The paths of a manifest's files are sorted, unique, and none is a folder of others;
    raise ValueError."""
    if any(a >= b for a, b in itertools.pairwise(paths)):
        raise ValueError("files must be sorted by path and unique")
    _refuse_file_as_folder(paths)


def _refuse_file_as_folder(paths: list[str]) -> None:
    """A path cannot be a file and a folder of other files (`a` and `a/b`)."""
    known = set(paths)
    walked: set[str] = set()  # folders checked already, with all above them
    for path in paths:
        parent = path.rpartition("/")[0]
        while parent and parent not in walked:
            if parent in known:
                raise ValueError(f"{parent!r} is both a file and a folder: the folder of {path!r}")
            walked.add(parent)
            parent = parent.rpartition("/")[0]


def line(path: str, oid: str, size: int, executable: bool) -> str:
    """One file's line of the canonical manifest."""
    quoted = f'"{path}"' if _PLAIN.fullmatch(path) else json.dumps(path, ensure_ascii=False)
    return (
        f'{{"path": {quoted}, "hash": "{oid}", '
        f'"size": {size}, "exec": {"true" if executable else "false"}}}'
    )


def canonical_bytes(entries: Iterable[ManifestEntry]) -> bytes:
    return join_lines(e.line() for e in entries)


def join_lines(lines: Iterable[str]) -> bytes:
    """The manifest document made of file lines already in path order."""
    body = ",\n".join(lines)
    body = f"\n{body}\n" if body else ""
    return f'{{"mdflow": 1, "files": [{body}]}}\n'.encode()


class Digests(BaseModel):
    """A folder's digest list (`verify: sha256`): the SHA-256 of its manifest and of each file.

    Canonical JSON like the manifest, one file per line in the manifest's order; the pointer
    records its xxh3-128 (`digests`, to find it) and its SHA-256 (`sha256`, to trust it).
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow folder digest list")

    mdflow: Version1 = 1
    manifest: str = Field(pattern=SHA256_PATTERN, description="SHA-256 of the manifest object.")
    files: list[tuple[str, str]] = Field(description="[path, SHA-256] in the manifest's order.")

    @field_validator("files")
    @classmethod
    def _valid(cls, files: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for path, digest in files:
            check_relpath(path)
            if not _SHA256.fullmatch(digest):
                raise ValueError(f"not a SHA-256: {digest!r}")
        if any(a[0] >= b[0] for a, b in itertools.pairwise(files)):
            raise ValueError("files must be sorted by path and unique")
        return files

    def to_bytes(self) -> bytes:
        lines = ",\n".join(f'[{json.dumps(p, ensure_ascii=False)}, "{d}"]' for p, d in self.files)
        body = f"\n{lines}\n" if lines else ""
        return f'{{"mdflow": 1, "manifest": "{self.manifest}", "files": [{body}]}}\n'.encode()

    @classmethod
    def from_bytes(cls, data: bytes, origin: str) -> Digests:
        try:
            return cls.model_validate_json(data)
        except ValidationError as e:
            raise FormatError(
                f"digest list {origin}: {describe(e)}", "fetch it again: mdflow pull"
            ) from None


_SHA256 = re.compile(SHA256_PATTERN[1:-1])
