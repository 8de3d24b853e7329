"""`mdflow status`, `list` and `checkout`: the workspace against the pointers."""

from __future__ import annotations

from mdflow import checkout as checkouts
from mdflow import status as statuses
from mdflow.checkout import CheckoutReport
from mdflow.errors import MdflowError
from mdflow.repo import Repo
from mdflow.status import Listed, Status


def status(repo: Repo, paths: list[str], remote: str | None = None) -> list[Status]:
    """Each dataset's state; with `remote` ("" for the default), whether it is pushed."""
    return statuses.status(repo, paths, remote)


def list_datasets(repo: Repo) -> list[Listed]:
    return statuses.list_datasets(repo)


def checkout(
    repo: Repo, paths: list[str], force: bool = False, side: str | None = None
) -> CheckoutReport:
    """Make the workspace match the pointers; with `side` ("ours" or "theirs"), first take
    that side of one pointer in a merge conflict."""
    if side is None:
        return checkouts.checkout(repo, paths, force=force)
    if len(paths) != 1:
        raise MdflowError(f"--{side} takes one PATH", f"mdflow checkout --{side} PATH")
    return checkouts.take_side(repo, paths[0], side)
