"""Cache verification: re-hash every object; move the corrupt ones to .mdflow/quarantine/."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from mdflow import datasets
from mdflow.errors import MdflowError
from mdflow.hashing import hash_file
from mdflow.pool import parallel
from mdflow.progress import Progress
from mdflow.repo import Repo


@dataclass
class FsckReport:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)  # oids moved to quarantine
    used_by: dict[str, list[str]] = field(default_factory=dict)  # oid -> data paths needing it


def fsck(repo: Repo) -> FsckReport:
    """Re-hash every cache object; move the ones whose content does not match aside."""
    report = FsckReport()
    with repo.lock():
        oids = list(repo.cache.oids())
        report.checked = len(oids)
        sizes = {oid: repo.cache.path(oid).stat().st_size for oid in oids}
        with Progress("fsck", sum(sizes.values()), len(oids)) as bar:
            for oid, actual in parallel(lambda o: hash_file(str(repo.cache.path(o)))[0], oids):
                bar.advance(sizes[oid], 1)
                if actual != oid:
                    report.corrupt.append(oid)
        if report.corrupt:
            report.used_by = _users(repo, set(report.corrupt))
            _quarantine(repo, report.corrupt)
    return report


def _users(repo: Repo, oids: set[str]) -> dict[str, list[str]]:
    """The datasets of the working tree whose version needs each of `oids` (before they are
    quarantined: a folder's manifest is read to find its files)."""
    found: dict[str, list[str]] = {}
    for d in datasets.readable(repo):
        needed = {d.pointer.hash}
        if d.kind == "dir" and d.pointer.hash not in oids and repo.cache.has(d.pointer.hash):
            with contextlib.suppress(MdflowError):  # an unsafe manifest: checkout refuses it
                needed |= {f.hash for f in datasets.manifest_of(repo, d).files}
        for oid in needed & oids:
            found.setdefault(oid, []).append(repo.rel(d.data))
    return found


def _quarantine(repo: Repo, oids: list[str]) -> None:
    with repo.stat_cache() as state:
        state.forget_complete()
    for oid in oids:
        repo.cache.quarantine(oid)  # a fresh name: earlier copies are kept
