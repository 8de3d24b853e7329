"""`mdflow push` and `mdflow pull`: exchange the objects of datasets with a remote."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

from mdflow import datasets, gitrepo
from mdflow import pointer as ptr
from mdflow.commands.checkout import CheckoutReport, checkout, checkout_datasets
from mdflow.datasets import Dataset, cached_manifest, manifest_of
from mdflow.errors import MdflowError
from mdflow.remote import Remote, open_remote
from mdflow.remote.base import RemoteError, VersionInfo, VersionRun
from mdflow.repo import Repo
from mdflow.transfer import RemoteIndex, TransferResult
from mdflow.transfer import pull as pull_objects
from mdflow.transfer import push as push_objects


@dataclass
class SyncReport:
    remote: str
    transfer: TransferResult = field(default_factory=TransferResult)
    wanted: int = 0
    missing: dict[str, str] = field(default_factory=dict)  # dataset -> why it was skipped
    checkout: CheckoutReport | None = None
    runs: dict[str, str] = field(default_factory=dict)  # dataset -> runs:/ URI of its version
    linked: list[str] = field(default_factory=list)  # pointers that now record their run

    @property
    def ok(self) -> bool:
        done = self.checkout is None or self.checkout.ok
        return not self.missing and not self.transfer.failed and done


def push(
    repo: Repo, args: list[str], remote: str | None = None, jobs: int | None = None
) -> SyncReport:
    chosen = datasets.select(repo, args)
    with connected(repo, remote) as target:
        report = SyncReport(target.name)
        oids = _objects(repo, chosen, report)
        report.wanted = len(oids)
        known = _RunLog(repo, target.name)
        if any(known.get(repo.rel(d.data), d.pointer.hash) is None for d in chosen):
            target.expect_records()  # the server is needed anyway: get ready while bytes travel
        report.transfer = push_objects(repo, target, oids, jobs)
        complete = [d for d in chosen if not _needs(repo, d, report)]
        report.runs = record_versions(repo, target, complete, report)
    return report


def _needs(repo: Repo, d: Dataset, report: SyncReport) -> bool:
    """Whether the dataset still lacks objects on the remote after the push."""
    if repo.rel(d.data) in report.missing or d.pointer.hash in report.transfer.failed:
        return True
    if d.kind == "dir":
        return any(f.hash in report.transfer.failed for f in manifest_of(repo, d).files)
    return False


def record_versions(
    repo: Repo, remote: Remote, chosen: list[Dataset], report: SyncReport
) -> dict[str, str]:
    """One MLflow run per pushed version; pointers of the default shared remote link to it.

    A run in a machine-local store or on a non-default remote is not written into the
    pointer: teammates pulling the pointer could not open it.
    """
    spec = getattr(remote, "spec", None)
    linkable = spec is not None and spec.shared and spec.is_default
    git = gitrepo.head_info(repo.root)
    known = _RunLog(repo, remote.name)
    runs = {}
    for d in chosen:
        key = repo.rel(d.data)
        run = known.get(key, d.pointer.hash)
        if run is None:
            run = _record(repo, remote, d, git)
            known.add(key, d.pointer.hash, run)
        runs[key] = run.uri
        if linkable and (d.pointer.run, d.pointer.url) != (run.uri, run.url):
            linked = d.pointer.model_copy(update={"run": run.uri, "url": run.url})
            ptr.save(d.pointer_file, linked)
            report.linked.append(repo.rel(d.pointer_file))
    return runs


def _record(repo: Repo, remote: Remote, d: Dataset, git: dict[str, str]) -> VersionRun:
    manifest = repo.cache.path(d.pointer.hash).read_bytes() if d.kind == "dir" else None
    p = d.pointer
    info = VersionInfo(
        repo.rel(d.data),
        p.hash,
        p.kind,
        p.size,
        d.pointer_file.read_text(),
        manifest,
        p.files,
        p.rows,
        p.columns,
        git,
    )
    return remote.record_version(info)


class _RunLog:
    """Runs this clone recorded on a remote, so a no-op push needs no server."""

    def __init__(self, repo: Repo, remote: str) -> None:
        self.path = repo.dot / "remotes" / remote / "runs.jsonl"
        self.runs: dict[tuple[str, str], VersionRun] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                r = json.loads(line)
                self.runs[(r["path"], r["hash"])] = VersionRun(r["run_id"], r["uri"], r["url"])

    def get(self, path: str, oid: str) -> VersionRun | None:
        return self.runs.get((path, oid))

    def add(self, path: str, oid: str, run: VersionRun) -> None:
        self.runs[(path, oid)] = run
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"path": path, "hash": oid, **asdict(run)}) + "\n")


def pull(
    repo: Repo,
    args: list[str],
    remote: str | None = None,
    jobs: int | None = None,
    rev: str | None = None,
) -> SyncReport:
    """Download what the datasets need (manifests first, then their files), then check out.

    With `rev`, the datasets are those of that commit and only the cache is filled.
    """
    chosen = datasets.at_revision(repo, rev, args) if rev else datasets.select(repo, args)
    with connected(repo, remote) as source, repo.lock():
        report = SyncReport(source.name)
        pulled, wanted = fetch(repo, source, chosen, report, jobs)
    ready = [_target(d) for d in pulled if repo.rel(d.data) not in report.missing]
    if ready and not rev:
        cached = wanted - report.transfer.failed.keys()  # pulled or there already
        report.checkout = checkout(repo, [t for ts in ready for t in ts], cached=cached)
    return report


def pull_version(
    repo: Repo, arg: str, which: str, remote: str | None = None, jobs: int | None = None
) -> SyncReport:
    """Fetch one version of a dataset (hash prefix or `latest`) into its path, no Git checkout.

    The pointer keeps naming its own version: `mdflow checkout` goes back to it, `mdflow add`
    records the fetched one.
    """
    from mdflow.commands.log import find

    (current,) = datasets.select(repo, [arg])
    version = find(repo, str(current.data), which, remote or "")
    pointer = current.pointer.model_copy(
        update={
            "hash": version.hash,
            "kind": version.kind,
            "size": version.size,
            "files": version.files,
            "rows": version.rows,
            "run": None,
            "url": None,
        }
    )
    wanted = replace(current, pointer=pointer)
    with connected(repo, remote) as source, repo.lock():
        report = SyncReport(source.name)
        fetch(repo, source, [wanted], report, jobs)
        if report.transfer.failed or report.missing:
            return report
        report.checkout = checkout_datasets(repo, [wanted])
    return report


def _target(d: Dataset) -> list[str]:
    """Checkout arguments naming exactly the parts of `d` that were asked for."""
    return [str(d.data)] if d.only is None else [str(d.data / p) for p in d.only]


def fetch(
    repo: Repo, source: Remote, chosen: list[Dataset], report: SyncReport, jobs: int | None
) -> tuple[list[Dataset], set[str]]:
    """Download what the datasets need into the cache: their top objects, then the files
    their manifests list. Returns the datasets whose top object is now cached, and every
    object they need."""
    index = RemoteIndex(repo, source)  # listed once for both steps
    tops = pull_objects(repo, source, {d.pointer.hash for d in chosen}, jobs, index)
    pulled = [d for d in chosen if d.pointer.hash not in tops.failed]
    oids = _objects(repo, pulled, report)
    report.transfer = tops.merged(pull_objects(repo, source, oids, jobs, index))
    wanted = oids | {d.pointer.hash for d in chosen}
    report.wanted = len(wanted)
    return pulled, wanted


@contextlib.contextmanager
def connected(repo: Repo, name: str | None) -> Iterator[Remote]:
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
        manifest = cached_manifest(repo, d.pointer.hash, repo.rel(d.data))
        if manifest is None:
            report.missing[repo.rel(d.data)] = "its manifest is not in the local cache"
            continue
        files = [f for f in manifest.files if d.wants(f.path)]
        if not files and d.only:
            report.missing[repo.rel(d.data)] = f"no file {', '.join(d.only)} in its manifest"
        oids.update(f.hash for f in files)
    return oids
