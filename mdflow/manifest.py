"""Directory manifests: the cache object listing every file of a directory dataset.

Canonical JSON, one file per line, sorted by path: identical content gives an identical
manifest hash, and two manifests diff line by line (docs/cache-layout.md).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from mdflow.errors import FormatError, UnsafePathError, describe
from mdflow.format_version import Version1
from mdflow.hashing import HASH_PATTERN, SHA256_PATTERN
from mdflow.paths import check_relpath, is_plain_path

_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but " and \: JSON needs no escapes


class ManifestEntry(NamedTuple):
    """One file of a folder. A tuple, since a manifest lists up to hundreds of thousands (a
    model object each took 2.5 times the memory: 64.5 MiB for 100,000 files). Read from a
    JSON object with exactly these keys, `exec` optional, by `_entry`, which checks them."""

    path: str  # relative POSIX path inside the directory
    hash: str
    size: int
    exec: bool = False

    def line(self) -> str:
        return line(self.path, self.hash, self.size, self.exec)


class _Invalid(ValueError):
    """What makes a manifest invalid, and where (`files.3.size`); `unsafe` for a path that
    must never be written."""

    def __init__(self, where: str, why: str, unsafe: bool = False) -> None:
        super().__init__(f"invalid {where}: {why}")
        self.where, self.why, self.unsafe = where, why, unsafe

    def inside(self, where: str) -> _Invalid:
        return _Invalid(where + self.where, self.why, self.unsafe)


_KEYS = frozenset(ManifestEntry._fields)
_KEYS_BUT_EXEC = _KEYS - {"exec"}
_HASH = re.compile(HASH_PATTERN[1:-1]).fullmatch
_SHAPE = "an entry is an object with path, hash, size and exec"


def _entry(item: object) -> ManifestEntry:
    """An entry from its JSON object or made in memory, checked as the schema says, types
    strictly (`1` is no boolean, `"5"` no size); raise _Invalid, `where` inside the entry."""
    if type(item) is dict and (item.keys() == _KEYS or item.keys() == _KEYS_BUT_EXEC):
        e = ManifestEntry(item["path"], item["hash"], item["size"], item.get("exec", False))
    elif type(item) is ManifestEntry:
        e = item
    else:
        raise _problem(item)
    path, oid, size, executable = e
    if (
        type(path) is str
        and (is_plain_path(path) or _safe(path))
        and type(oid) is str
        and _HASH(oid)
        and type(size) is int
        and size >= 0
        and type(executable) is bool
    ):
        return e
    raise _problem(e._asdict())


def _safe(path: str) -> bool:
    """Whether a path that is not plain passes check_relpath and is valid Unicode."""
    try:
        check_relpath(path)
        path.encode()  # JSON can write a lone surrogate (`"\ud800"`): no file has that name
    except ValueError:
        return False
    return True


def _problem(item: object) -> _Invalid:
    """Why `item` is no valid entry (the slow path of _entry, for the message)."""
    if not isinstance(item, dict):
        return _Invalid("", _SHAPE)
    unknown = sorted(str(k) for k in item.keys() - _KEYS)
    missing = [k for k in ("path", "hash", "size") if k not in item]
    if unknown or missing:
        return _Invalid(f".{(unknown or missing)[0]}", "unknown key" if unknown else "missing")
    path, oid, size = item["path"], item["hash"], item["size"]
    if type(path) is not str:
        return _Invalid(".path", "not a string")
    try:
        check_relpath(path)
    except ValueError as e:
        return _Invalid(".path", str(e), unsafe=True)
    if not _safe(path):
        return _Invalid(".path", f"path {path!r} is not valid Unicode (a lone surrogate)")
    if type(oid) is not str or not _HASH(oid):
        return _Invalid(".hash", "not an xxh3-128 hash (xxh3-128: and 32 hex digits)")
    if type(size) is not int or size < 0:
        return _Invalid(".size", "not an integer >= 0")
    if type(item.get("exec", False)) is not bool:
        return _Invalid(".exec", "not true or false")
    return _Invalid("", _SHAPE)


def _files(items: object) -> list[ManifestEntry]:
    """A manifest's files from JSON objects or entries: each checked, and their paths sorted,
    unique, no file a folder of others; raise _Invalid."""
    if type(items) is not list:
        raise _Invalid("files", "not an array")
    entries = []
    for i, item in enumerate(items):
        try:
            entries.append(_entry(item))
        except _Invalid as e:
            raise e.inside(f"files.{i}") from None
    _check_order(entries)
    return entries


def _check_order(entries: list[ManifestEntry]) -> None:
    try:
        check_paths([e.path for e in entries])
    except ValueError as e:
        raise _Invalid("files", str(e)) from None


_ENTRY_SCHEMA = {
    "additionalProperties": False,
    "properties": {
        "exec": {"default": False, "title": "Exec", "type": "boolean"},
        "hash": {"pattern": HASH_PATTERN, "title": "Hash", "type": "string"},
        "path": {
            "description": "Relative POSIX path inside the directory.",
            "title": "Path",
            "type": "string",
        },
        "size": {"minimum": 0, "title": "Size", "type": "integer"},
    },
    "required": ["path", "hash", "size"],
    "title": "ManifestEntry",
    "type": "object",
}

Files = Annotated[
    list[ManifestEntry],
    PlainValidator(_files),
    WithJsonSchema({"items": _ENTRY_SCHEMA, "title": "Files", "type": "array"}),
]


class Manifest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow directory manifest")

    mdflow: Version1 = 1
    files: Files

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
        """Parse and check a manifest (json.loads and a check per entry: no model per file)."""
        try:
            files = _read(data)
        except _Invalid as e:
            raise (UnsafePathError if e.unsafe else FormatError)(
                f"manifest {origin}: {e}",
                "run mdflow fsck, then restore the object (mdflow add or pull)",
            ) from None
        return cls.model_construct(files=files)


def _read(data: bytes) -> list[ManifestEntry]:
    """The checked files of a manifest document. The JSON parser hands each object to its
    hook as soon as it is read, which makes an entry of it: no dict per file is ever held,
    and the parse peaks at about the memory of its result."""
    try:
        doc = json.loads(data.decode(), object_hook=_entry_or_object, parse_constant=_no_constant)
    except RecursionError:
        raise _Invalid("value", "nested too deeply") from None
    except ValueError as e:  # also not UTF-8, or an integer of over 4300 digits
        raise _Invalid("value", f"not JSON: {e}") from None
    return _document(doc)


def _entry_or_object(obj: dict[str, Any]) -> object:
    try:
        return _entry(obj)
    except _Invalid:  # the document itself, or a fault _document reports where it is
        return obj


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _document(doc: object) -> list[ManifestEntry]:
    """The entries of a parsed manifest: `mdflow: 1` and `files`, nothing else."""
    if type(doc) is not dict:
        raise _Invalid("value", "not an object with mdflow and files")
    unknown = sorted(doc.keys() - {"mdflow", "files"})
    if unknown:
        raise _Invalid(unknown[0], "unknown key")
    version = doc.get("mdflow", 1)
    if type(version) is not int or version != 1:
        raise _Invalid("mdflow", f"the format version must be 1, not {repr(version)[:20]}")
    if "files" not in doc:
        raise _Invalid("files", "missing")
    files = doc["files"]
    if type(files) is not list:
        raise _Invalid("files", "not an array")
    if not all(type(e) is ManifestEntry for e in files):  # the hook made no entry of them
        i, item = next((i, e) for i, e in enumerate(files) if type(e) is not ManifestEntry)
        raise _problem(item).inside(f"files.{i}")
    _check_order(files)
    return files


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
    return join_lines(itertools.starmap(line, entries))


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
