"""`mdflow push` and `mdflow pull`: exchange datasets with a remote."""

from __future__ import annotations

from mdflow import sync
from mdflow.errors import MdflowError
from mdflow.repo import Repo
from mdflow.sync import SyncReport


def push(repo: Repo, paths: list[str], remote: str | None, jobs: int | None) -> SyncReport:
    return sync.push(repo, paths, remote, jobs)


def pull(
    repo: Repo,
    paths: list[str],
    remote: str | None,
    jobs: int | None,
    rev: str | None = None,
    version: str | None = None,
    force: bool = False,
) -> SyncReport:
    """Pull and check out (with `force`, overwriting data whose content is not cached); with
    `rev`, only fill the cache with that commit's versions; with `version` (a hash prefix or
    `latest`), write that version of one dataset into its path."""
    if version is None:
        return sync.pull(repo, paths, remote, jobs, rev, force)
    if len(paths) != 1 or rev:
        raise MdflowError("--version takes exactly one PATH and no --rev", "name one dataset")
    return sync.pull_version(repo, paths[0], version, remote, jobs)
