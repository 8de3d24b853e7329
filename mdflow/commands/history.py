"""`mdflow log` and `mdflow diff`: the versions of datasets, and what changed between two."""

from __future__ import annotations

from mdflow import diff as diffs
from mdflow import history
from mdflow.changes import DiffReport
from mdflow.diff import DiffRequest
from mdflow.history import Version
from mdflow.repo import Repo


def log(repo: Repo, path: str, remote: str | None, no_remote: bool, stat: bool) -> list[Version]:
    """Newest first, from Git history and (unless `no_remote`) the remote's runs."""
    return history.log(repo, path, None if no_remote else (remote or ""), stat)


def diff(
    repo: Repo,
    args: list[str],
    key: list[str] | None,
    rows: bool,
    fetch: bool,
    paths: list[str] | None = None,
) -> DiffReport:
    """`args`: up to two revisions (A...B from the merge base), then paths, as `git diff`;
    with `paths` (what followed `--`), `args` are revisions only."""
    revs, chosen = diffs.split_args(repo, args, paths)
    req = DiffRequest(revs, chosen, key, rows=rows, fetch=fetch, separated=paths is not None)
    return diffs.diff(repo, req)
