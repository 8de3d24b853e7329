"""`mdflow status`, `list` and `checkout`: the workspace against the pointers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mdflow import status as statuses
from mdflow.repo import Repo
from mdflow.state import Scan
from mdflow.status import Listed, Status

if TYPE_CHECKING:
    from mdflow.checkout import CheckoutReport


def status(
    repo: Repo, paths: list[str], remote: str | None = None, scans: dict[str, Scan] | None = None
) -> list[Status]:
    """Each dataset's state; with `remote` ("" for the default), whether it is pushed.
    `scans`: what the failed no-op proof scanned (clean.status_line), not scanned again."""
    return statuses.status(repo, paths, remote, scans)


def leftovers(repo: Repo) -> list[Path]:
    """Partial files killed writers left (the next checkout, add or pull removes them)."""
    return statuses.leftovers(repo)


def list_datasets(repo: Repo) -> list[Listed]:
    return statuses.list_datasets(repo)


def checkout(repo: Repo, paths: list[str], force: bool = False) -> CheckoutReport:
    """Make the workspace match the pointers (all of them when `paths` is empty)."""
    from mdflow import checkout as checkouts  # status, which imports this module, needs none of it

    return checkouts.checkout(repo, paths, force=force)


def take_side(repo: Repo, path: str, side: str) -> CheckoutReport:
    """In a merge conflict, keep `side` ("ours" or "theirs") of one pointer and its data."""
    from mdflow import checkout as checkouts

    return checkouts.take_side(repo, path, side)
