"""What every command's printing shares: notes on stderr, JSON, table cells, and the repository.

Imports nothing heavy: `mdflow --help` loads this module.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import TYPE_CHECKING, Any

from mdflow.render import human, plural

if TYPE_CHECKING:
    from mdflow.checkout import CheckoutReport
    from mdflow.repo import Repo

__all__ = ["checkout_summary", "dash", "human", "note", "plural", "print_json", "repo"]


def note(text: str) -> None:
    """A line for the person at the terminal (a hint, a warning): stderr, not the output."""
    print(text, file=sys.stderr)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def dash(n: int | None) -> str:
    """A table cell for a count that may be unknown."""
    return "-" if n is None else str(n)


def repo() -> Repo:
    """The repository around the working directory (the handlers' one way to find it)."""
    from mdflow.repo import Repo

    return Repo.find()


def checkout_summary(r: CheckoutReport, discard: str) -> None:
    """What a checkout wrote, and the files it kept (`discard`: the command that would not)."""
    print(f"{len(r.restored)} restored, {len(r.removed)} removed, {r.unchanged} unchanged")
    if r.debris:
        note(f"removed {plural(len(r.debris), 'partial file')} of an interrupted checkout")
    for key in r.corrupt:
        note(
            f"corrupt in cache: {key} (not written; object moved to .mdflow/quarantine/) "
            f"— fetch it again: mdflow pull {shlex.quote(key)}"
        )
    for key in r.kept_modified:
        note(
            f"kept {key}: it differs and its content is not in the cache "
            f"(mdflow add it, or {discard} to discard it)"
        )
