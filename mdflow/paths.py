"""Validation of relative paths read from pointers and manifests."""

from __future__ import annotations

import os


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once at import, while single-threaded


def check_relpath(value: str) -> str:
    """Accept a relative POSIX path with no `..`, `.` or empty segment; raise ValueError."""
    if not value:
        raise ValueError("empty path")
    if "\\" in value or "\0" in value:
        raise ValueError(f"path {value!r} contains a backslash or NUL")
    if value.startswith("/"):
        raise ValueError(f"path {value!r} is absolute")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError(f"path {value!r} has an empty, '.' or '..' segment")
    return value
