"""Cache verification: re-hash every object; move the corrupt ones to .mdflow/quarantine/."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field

from mdflow.hashing import hash_file
from mdflow.pool import parallel
from mdflow.progress import Progress
from mdflow.repo import Repo


@dataclass
class FsckReport:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)  # oids moved to quarantine


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
            _quarantine(repo, report.corrupt)
    return report


def _quarantine(repo: Repo, oids: list[str]) -> None:
    folder = repo.dot / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with repo.stat_cache() as state:
        state.forget_complete()
    for oid in oids:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f"{oid.split(':')[1]}.{stamp}.")
        os.close(fd)
        os.replace(repo.cache.path(oid), name)  # a fresh name: earlier copies are kept
