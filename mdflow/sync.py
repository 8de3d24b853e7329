"""Sync with a remote: push and pull the objects of datasets, record their versions as runs.

What a remote holds is read from its inventories (remote/inventory.py); the runs this clone
recorded are remembered in `.mdflow/remotes/<name>/runs.jsonl`, so a no-op push or pull needs
no server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from mdflow import datasets, gitrepo, history, integrity, recording
from mdflow import pointer as ptr
from mdflow.checkout import CheckoutReport, checkout, checkout_datasets
from mdflow.datasets import Dataset, cached_manifest, manifest_of
from mdflow.errors import MdflowError
from mdflow.remote import Remote
from mdflow.remote.catalog import VersionRun
from mdflow.remote.inventory import RemoteIndex
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
    with repo.remote(remote) as target:
        return push_datasets(repo, target, chosen, jobs)


def push_datasets(
    repo: Repo, target: Remote, chosen: list[Dataset], jobs: int | None = None
) -> SyncReport:
    """Upload the objects of `chosen` the remote lacks, then record the versions whose
    objects are all there as runs."""
    report = SyncReport(target.name)
    oids = _objects(repo, chosen, report)
    report.wanted = len(oids)
    index = RemoteIndex(target.store, target.state)
    report.transfer = push_objects(repo.cache, index, oids, jobs)
    complete = [d for d in chosen if not _needs(repo, d, report)]
    report.runs = record_versions(repo, target, complete, report)
    return report


def _unsettled(run: VersionRun | None) -> bool:
    return run is None or run.pending


def _needs(repo: Repo, d: Dataset, report: SyncReport) -> bool:
    """Whether the dataset still lacks objects on the remote after the push."""
    if repo.rel(d.data) in report.missing or d.pointer.hash in report.transfer.failed:
        return True
    if d.kind == "dir":
        return any(f.hash in report.transfer.failed for f in manifest_of(repo, d).files)
    return False


def record_versions(
    repo: Repo, remote: Remote, chosen: list[Dataset], report: SyncReport, link: bool = True
) -> dict[str, str]:
    """One MLflow run per version, tagged with the commit that holds it; a run recorded before
    any commit holds its version is pending, and confirmed once one does. With `link`, pointers
    of the default shared remote link to their runs.

    A run in a machine-local store or on a non-default remote is not written into the
    pointer: teammates pulling the pointer could not open it.
    """
    head = gitrepo.head_info(repo.root)
    known = _RunLog(remote.state)
    runs = {}
    for d in chosen:
        key = repo.rel(d.data)
        run = known.get(key, d.pointer.hash)
        if run is None or run.pending:
            git = recording.git_facts(repo, key, d.pointer.hash, head)
            if run is None or "commit" in git:
                run = _record(repo, remote, d, git)
                known.add(key, d.pointer.hash, run)
        runs[key] = run.uri
        if link and remote.linkable and (d.pointer.run, d.pointer.url) != (run.uri, run.url):
            linked = d.pointer.model_copy(update={"run": run.uri, "url": run.url})
            ptr.save(d.pointer_file, linked)
            report.linked.append(repo.rel(d.pointer_file))
    return runs


def confirm_versions(repo: Repo, remote: Remote, chosen: list[Dataset]) -> list[Dataset]:
    """Confirm the runs this clone left pending for versions a commit now holds (the pointers
    are not touched); returns the datasets confirmed. Needs the remote only when one is pending."""
    known = _RunLog(remote.state)

    def pending(d: Dataset) -> bool:
        run = known.get(repo.rel(d.data), d.pointer.hash)
        return run is not None and run.pending

    waiting = [d for d in chosen if pending(d)]
    if waiting:
        record_versions(repo, remote, waiting, SyncReport(remote.name), link=False)
    done = _RunLog(remote.state)
    return [d for d in waiting if not _unsettled(done.get(repo.rel(d.data), d.pointer.hash))]


def _record(repo: Repo, remote: Remote, d: Dataset, git: dict[str, str]) -> VersionRun:
    return remote.catalog.record_version(recording.version_info(repo, d, git))


class _RunLog:
    """Runs this clone recorded on a remote, so a no-op push needs no server."""

    def __init__(self, state: Path) -> None:
        self.path = state / "runs.jsonl"
        self.runs: dict[tuple[str, str], VersionRun] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                r = json.loads(line)
                run = VersionRun(r["run_id"], r["uri"], r["url"], r.get("pending", False))
                self.runs[(r["path"], r["hash"])] = run

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
    force: bool = False,
) -> SyncReport:
    """Download what the datasets need (manifests first, then their files), then check out
    (with `force`, overwriting data whose content is not cached, as checkout --force does).

    With `rev`, the datasets are those of that commit and only the cache is filled.
    """
    chosen = datasets.at_revision(repo, rev, args) if rev else datasets.select(repo, args)
    with repo.remote(remote) as source, repo.lock():
        report = SyncReport(source.name)
        pulled, wanted = fetch(repo, source, chosen, report, jobs)
    ready = [_target(d) for d in pulled if repo.rel(d.data) not in report.missing]
    if ready and not rev:
        cached = wanted - report.transfer.failed.keys()  # pulled or there already
        targets = [t for ts in ready for t in ts]
        report.checkout = checkout(repo, targets, force, cached)
    return report


def pull_version(
    repo: Repo, arg: str, which: str, remote: str | None = None, jobs: int | None = None
) -> SyncReport:
    """Fetch one version of a dataset (hash prefix or `latest`) into its path, no Git checkout.

    The pointer keeps naming its own version: `mdflow checkout` goes back to it, `mdflow add`
    records the fetched one.
    """
    (current,) = datasets.select(repo, [arg])
    version = history.find(repo, str(current.data), which, remote or "")
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
    with repo.remote(remote) as source, repo.lock():
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
    index = RemoteIndex(source.store, source.state)  # listed once for both steps
    first = {o for d in chosen for o in d.pointer.tops()}
    sizes = _Sizes((d.pointer.hash, d.pointer.size) for d in chosen if d.kind == "file")
    tops = pull_from(repo, source, index, first, jobs, sizes.known())
    pulled = [d for d in chosen if not d.pointer.tops() & tops.failed.keys()]
    oids = _objects(repo, pulled, report, sizes)
    report.transfer = tops.merged(pull_from(repo, source, index, oids, jobs, sizes.known()))
    _vet(repo, source.name, pulled, report)
    wanted = oids | first
    report.wanted = len(wanted)
    return pulled, wanted


def pull_from(
    repo: Repo,
    source: Remote,
    index: RemoteIndex,
    oids: set[str],
    jobs: int | None = None,
    sizes: Mapping[str, int] | None = None,
) -> TransferResult:
    """Download what the cache lacks (`sizes`: theirs, where the pointers and manifests give
    them); from an embedded store never made, nothing (asking it would create it, seconds of
    MLflow's migrations, to hold nothing)."""
    if source.never_made:
        why = f"not on remote {source.name} (nothing was ever pushed to it)"
        return TransferResult(failed={o: why for o in oids if not repo.cache.has(o)})
    return pull_objects(repo.cache, index, oids, jobs, sizes)


def _vet(repo: Repo, remote: str, pulled: list[Dataset], report: SyncReport) -> None:
    """Objects just downloaded must match the SHA-256 their pointers record, if any: one that
    does not is quarantined and reported as failed (the remote's copy is not the committed one)."""
    got = report.transfer.transferred
    for d in pulled:
        where = repo.rel(d.data)
        if d.pointer.sha256 is None or where in report.missing:
            continue
        try:
            expect = integrity.expected(repo, d.pointer, where)
        except MdflowError as e:
            report.missing[where] = e.what
            continue
        for oid in sorted(got & expect.keys()):
            if not integrity.matches(repo, oid, expect[oid]):
                got.discard(oid)
                report.transfer.failed[oid] = (
                    f"does not match the SHA-256 in {repo.rel(d.pointer_file)}: forged or "
                    f"corrupt on remote {remote} (quarantined)"
                )


class _Sizes(dict[str, int]):
    """The sizes objects should have, as pointers and manifests give them. An object given
    two sizes (by two hostile or damaged files) gets none here: its hash decides."""

    def __init__(self, pairs: Iterable[tuple[str, int]] = ()) -> None:
        super().__init__()
        for oid, size in pairs:
            self.expect(oid, size)

    def expect(self, oid: str, size: int) -> None:
        if self.setdefault(oid, size) != size:
            self[oid] = -1

    def known(self) -> dict[str, int]:
        return {oid: size for oid, size in self.items() if size >= 0}


def _objects(
    repo: Repo, chosen: list[Dataset], report: SyncReport, sizes: _Sizes | None = None
) -> set[str]:
    """Every object the datasets need: files, manifests (and digest lists), the files
    manifests list (their sizes go to `sizes`)."""
    oids = {o for d in chosen for o in d.pointer.tops()}
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
        if sizes is not None:
            for f in files:
                sizes.expect(f.hash, f.size)
    return oids


def problems(report: SyncReport) -> list[str]:
    """What a transfer (and its checkout) could not do, one line each."""
    problems = [f"{oid}: {why}" for oid, why in sorted(report.transfer.failed.items())]
    problems += [f"{path}: {why}" for path, why in sorted(report.missing.items())]
    if report.checkout is not None:
        problems += [f"kept {k} (not in the cache)" for k in report.checkout.kept_modified]
        problems += [f"missing from cache: {k}" for k in report.checkout.missing_cache]
        problems += [f"corrupt in cache: {k} (quarantined)" for k in report.checkout.corrupt]
    return problems


def fetch_missing(repo: Repo, oids: set[str]) -> set[str]:
    """Best effort: download the objects of `oids` the cache lacks from the default remote.

    Returns the ones still missing; an unreachable remote is not an error here (callers that
    can do without the objects say what they could not compare).
    """
    missing = {o for o in oids if not repo.cache.has(o)}
    if not missing:
        return missing
    try:
        with repo.remote() as remote, repo.lock():
            pull_from(repo, remote, RemoteIndex(remote.store, remote.state), missing)
    except MdflowError:
        pass
    return {o for o in missing if not repo.cache.has(o)}
