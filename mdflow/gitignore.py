"""Entries mdflow adds to, and removes from, the `.gitignore` beside a dataset."""

from __future__ import annotations

import re
from pathlib import Path

_SPECIAL = re.compile(r"([\\*?\[\]!#])")


def entry_for(name: str) -> str:
    """An anchored pattern matching exactly `name` in its folder."""
    escaped = _SPECIAL.sub(r"\\\1", name)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def add(folder: Path, name: str) -> bool:
    """Add the entry for `name` to `folder/.gitignore`; return False if it was there."""
    path = folder / ".gitignore"
    entry = entry_for(name)
    text = path.read_text() if path.exists() else ""
    if entry in text.splitlines():
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + entry + "\n")
    return True


def remove(folder: Path, name: str) -> bool:
    path = folder / ".gitignore"
    if not path.exists():
        return False
    entry = entry_for(name)
    lines = path.read_text().splitlines()
    kept = [line for line in lines if line != entry]
    if len(kept) == len(lines):
        return False
    if kept:
        path.write_text("\n".join(kept) + "\n")
    else:
        path.unlink()
    return True
