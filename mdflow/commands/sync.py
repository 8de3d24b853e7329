"""`mdflow push` and `mdflow pull`: exchange the objects of datasets with a remote."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from mdflow import datasets
from mdflow.commands.checkout import CheckoutReport, checkout
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.manifest import Manifest
from mdflow.remote import Remote, open_remote
from mdflow.remote.base import RemoteError
from mdflow.repo import Repo
from mdflow.transfer import TransferResult
from mdflow.transfer import pull as pull_objects
from mdflow.transfer import push as push_objects


@dataclass
class SyncReport:
    remote: str
    transfer: TransferResult = field(default_factory=TransferResult)
    wanted: int = 0
    missing: dict[str, str] = field(default_factory=dict)  # dataset -> why it was skipped
    checkout: CheckoutReport | None = None

    @property
    def ok(self) -> bool:
        done = self.checkout is None or self.checkout.ok
        return not self.missing and not self.transfer.failed and done


def push(
    repo: Repo, args: list[str], remote: str | None = None, jobs: int | None = None
) -> SyncReport:
    chosen = datasets.select(repo, args)
    with _connected(repo, remote) as target:
        report = SyncReport(target.name)
        oids = _objects(repo, chosen, report)
        report.wanted = len(oids)
        report.transfer = push_objects(repo, target, oids, jobs)
    return report


def pull(
    repo: Repo, args: list[str], remote: str | None = None, jobs: int | None = None
) -> SyncReport:
    """Download what the datasets need (manifests first, then their files), then check out."""
    chosen = datasets.select(repo, args)
    with _connected(repo, remote) as source, repo.lock():
        report = SyncReport(source.name)
        tops = pull_objects(repo, source, {d.pointer.hash for d in chosen}, jobs)
        pulled = [d for d in chosen if d.pointer.hash not in tops.failed]
        oids = _objects(repo, pulled, report)
        files = pull_objects(repo, source, oids, jobs)
    report.wanted = len(oids | {d.pointer.hash for d in chosen})
    report.transfer = tops.merged(files)
    ready = [str(d.data) for d in pulled if repo.rel(d.data) not in report.missing]
    report.checkout = checkout(repo, ready) if ready else None
    return report


@contextlib.contextmanager
def _connected(repo: Repo, name: str | None) -> Iterator[Remote]:
    """An open remote; remote failures become one-line errors."""
    remote = None
    try:
        remote = open_remote(repo, name)
        yield remote
    except RemoteError as e:
        hint = "check the server, the URL (mdflow remote list) and try again"
        raise MdflowError(str(e), hint) from e
    finally:
        if remote is not None:
            remote.close()


def _objects(repo: Repo, chosen: list[Dataset], report: SyncReport) -> set[str]:
    """Every object the datasets need: files, manifests and the files manifests list."""
    oids = {d.pointer.hash for d in chosen}
    for d in chosen:
        if d.kind != "dir":
            continue
        try:
            data = repo.cache.path(d.pointer.hash).read_bytes()
        except FileNotFoundError:
            report.missing[repo.rel(d.data)] = "its manifest is not in the local cache"
            continue
        oids.update(f.hash for f in Manifest.from_bytes(data, d.pointer.hash).files)
    return oids
