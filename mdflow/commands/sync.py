"""`mdflow push` and `mdflow pull`: exchange datasets with a remote."""

from __future__ import annotations

from mdflow import sync
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
    force: bool = False,
) -> SyncReport:
    """Pull and check out (with `force`, overwriting data whose content is not cached); with
    `rev`, only fill the cache with that commit's versions."""
    return sync.pull(repo, paths, remote, jobs, rev, force)


def pull_version(
    repo: Repo, path: str, version: str, remote: str | None, jobs: int | None
) -> SyncReport:
    """Write one version of one dataset (a hash prefix, or `latest`) into its path."""
    return sync.pull_version(repo, path, version, remote, jobs)
