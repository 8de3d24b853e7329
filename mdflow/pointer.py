"""Pointer files (`<data>.mdflow`): the YAML that stands in Git for a dataset.

See docs/pointer-spec.md. Known keys are written in a fixed order; unknown keys survive a
rewrite after them, so pointers written by newer mdflow versions are not damaged.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mdflow import urls, yamlfile
from mdflow.errors import FormatError, describe
from mdflow.format_version import Version1
from mdflow.hashing import HASH_PATTERN, SHA256_PATTERN
from mdflow.paths import UMASK, check_relpath

FORMAT_VERSION = 1
SUFFIX = ".mdflow"
KEY_ORDER = (
    "mdflow",
    "path",
    "kind",
    "hash",
    "sha256",
    "digests",
    "size",
    "files",
    "rows",
    "columns",
    "run",
    "url",
    "source",
)


class ImportSource(BaseModel):
    """Where an imported dataset comes from (`mdflow import`; `mdflow update` follows it)."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    repo: str = Field(description="Git URL or local path of the source repository.")
    path: str = Field(description="Data path in the source repository, from its root (POSIX).")
    rev: str | None = Field(
        None, description="Revision followed by mdflow update (branch, tag); none: the default."
    )
    commit: str = Field(pattern=r"^[0-9a-f]{40}$", description="Commit the version was read at.")

    _check_path = field_validator("path")(classmethod(lambda cls, v: check_relpath(v)))


class Pointer(BaseModel):
    """One dataset version as recorded in Git."""

    model_config = ConfigDict(defer_build=True, extra="allow", title="mdflow pointer")

    mdflow: Version1 = Field(1, description="Pointer format version.")
    path: str = Field(description="Data path relative to the pointer's folder (POSIX).")
    kind: Literal["file", "dir"] = "file"
    hash: str = Field(pattern=HASH_PATTERN, description="xxh3-128 of the file or manifest.")
    sha256: str | None = Field(
        None,
        pattern=SHA256_PATTERN,
        description="verify: sha256 — SHA-256 of the file, or of the folder's digest list.",
    )
    digests: str | None = Field(
        None,
        pattern=HASH_PATTERN,
        description="verify: sha256, folders — xxh3-128 of the digest list object.",
    )
    size: int = Field(ge=0, description="Bytes (sum over files for a directory).")
    files: int | None = Field(None, ge=0, description="Directories: number of files.")
    rows: int | None = Field(None, ge=0, description="Tables: data rows.")
    columns: int | None = Field(None, ge=0, description="Tables: columns.")
    run: str | None = Field(
        None, pattern=r"^runs:/[0-9a-zA-Z]+$", description="MLflow run of this version."
    )
    url: str | None = Field(None, description="Web page of that run on the MLflow server.")
    source: ImportSource | None = Field(
        None, description="Imported datasets: the repository and revision they come from."
    )

    _check_path = field_validator("path")(classmethod(lambda cls, v: check_relpath(v)))
    # a run's page never carries credentials, even in a pointer written before they were refused
    _redact_url = field_validator("url")(classmethod(lambda cls, v: v and urls.redact(v)))

    @model_validator(mode="after")
    def _digests_with_folders(self) -> Pointer:
        """A folder's sha256 is that of its digest list: both keys, or neither."""
        if self.digests is not None and self.kind != "dir":
            raise ValueError("digests: only folders have a digest list")
        if self.kind == "dir" and (self.sha256 is None) != (self.digests is None):
            raise ValueError("sha256 and digests: a folder has both or neither")
        return self

    def tops(self) -> set[str]:
        """The objects this pointer names: its file or manifest, and a folder's digest list."""
        return {self.hash, self.digests} if self.digests else {self.hash}

    def to_yaml(self) -> str:
        data: dict[str, Any] = {}
        for key in KEY_ORDER:
            value = getattr(self, key)
            if isinstance(value, BaseModel):  # absent known keys dropped, unknown ones kept
                extra = value.model_extra or {}
                dump = value.model_dump().items()
                data[key] = {k: v for k, v in dump if v is not None or k in extra}
            elif value is not None:
                data[key] = value
        data.update(self.model_extra or {})
        return yamlfile.dump(data, width=1 << 30)

    @classmethod
    def from_yaml(cls, text: str | bytes, origin: str) -> Pointer:
        try:
            data = yamlfile.load(text)
        except yaml.YAMLError as e:
            raise FormatError(f"{origin}: not valid YAML ({_first_line(e)})", _FIX) from None
        except RecursionError:  # PyYAML recurses once per level of `[[[...` or `{a: {a: ...`
            raise FormatError(f"{origin}: not valid YAML (nested too deeply)", _FIX) from None
        if not isinstance(data, dict):
            raise FormatError(f"{origin}: not a pointer (expected a YAML mapping)", _FIX)
        version = data.get("mdflow")
        if version != FORMAT_VERSION or isinstance(version, bool):
            if isinstance(version, int) and version > FORMAT_VERSION:
                raise FormatError(
                    f"{origin}: pointer format {version} is newer than this mdflow reads",
                    "upgrade mdflow (pip install -U mdflow-data)",
                )
            raise FormatError(f"{origin}: unknown pointer format version {version!r}", _FIX)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise FormatError(f"{origin}: {describe(e)}", _FIX) from None


_FIX = "fix or restore the file (git checkout -- <pointer>), or re-add the data with mdflow add"


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0]


def pointer_path_for(data: Path) -> Path:
    return data.with_name(data.name + SUFFIX)


def data_path_for(pointer_file: Path, pointer: Pointer) -> Path:
    return pointer_file.parent / pointer.path


def load(pointer_file: Path, origin: str | None = None) -> Pointer:
    return Pointer.from_yaml(pointer_file.read_bytes(), origin or str(pointer_file))


def save(pointer_file: Path, pointer: Pointer) -> bool:
    """Write atomically; return False (and write nothing) when the bytes would not change."""
    text = pointer.to_yaml().encode()
    try:
        if pointer_file.read_bytes() == text:
            return False
    except FileNotFoundError:
        pass
    write_atomic(pointer_file, text)
    return True


def write_atomic(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
