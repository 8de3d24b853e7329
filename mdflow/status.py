"""The workspace against the pointers: what is clean, modified, missing, or not pushed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mdflow import datasets
from mdflow.clean import remember
from mdflow.datasets import Dataset, WorkspaceData, manifest_of
from mdflow.debris import debris
from mdflow.repo import Repo
from mdflow.state import Scan, StatCache
from mdflow.workspace import Hasher, debris_beside

CLEAN = "clean"
MODIFIED = "modified"
MISSING_WORKSPACE = "missing-workspace"
MISSING_CACHE = "missing-cache"


@dataclass
class Status:
    path: str
    pointer: str
    kind: str
    state: str
    cached: bool  # the pointer's version is in the cache (checkout can restore it)
    workspace_cached: bool = True  # what the workspace holds is in the cache (nothing to lose)
    changes: dict[str, int] = field(default_factory=dict)  # folders: added/removed/modified
    pushed: bool | None = None  # with --remote: every object of the version is on the remote
    pullable: bool = False  # not cached, but `mdflow pull` can bring it (see Pullable)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def status(
    repo: Repo, args: list[str], remote: str | None = None, scans: dict[str, Scan] | None = None
) -> list[Status]:
    """Workspace against pointers; with `remote`, also whether each version was pushed.
    `scans`: folders the failed no-op proof of this command scanned (clean.status_line)."""
    chosen = datasets.select(repo, args)
    with repo.stat_cache() as state:
        hasher, pullable = Hasher(state), Pullable(repo)
        results = [status_of(repo, hasher, d, pullable, scans) for d in chosen]
    if remote is not None:
        _mark_pushed(repo, chosen, results, remote or None)
    return results


def leftovers(repo: Repo) -> list[Path]:
    """Partial files of killed writers (checkout, add, pull) that the next command taking the
    lock removes: in `.mdflow/tmp/`, the cache's `tmp/`, and beside file datasets."""
    found = debris(repo.cache.checkout_tmp) + debris(repo.cache.tmp)
    folders = {d.data.parent for d in datasets.readable(repo) if d.kind == "file"}
    for folder in sorted(folders):
        found += debris_beside(folder)
    return found


def _mark_pushed(
    repo: Repo, chosen: list[Dataset], results: list[Status], name: str | None
) -> None:
    from mdflow.remote.inventory import RemoteIndex

    with repo.remote(name, "check the server and the URL (mdflow remote list)") as remote:
        index = RemoteIndex(remote.store, remote.state).load()
        needed = {d.pointer_file: _needed(repo, d) for d in chosen}
        short = not all(index.has(o) for oids in needed.values() for o in oids)
        if short and not remote.never_made:
            index.sync()  # only ask the remote when the inventories read so far fall short
    for d, s in zip(chosen, results, strict=True):
        s.pushed = all(index.has(o) for o in needed[d.pointer_file])


def _needed(repo: Repo, d: Dataset) -> set[str]:
    if d.kind == "dir" and repo.cache.has(d.pointer.hash):
        return d.pointer.tops() | {f.hash for f in manifest_of(repo, d).files}
    return d.pointer.tops()


def status_of(
    repo: Repo, hasher: Hasher, d: Dataset, pullable: Pullable, scans: dict[str, Scan] | None = None
) -> Status:
    ws = datasets.inspect(repo, hasher, d.data, (scans or {}).get(str(d.data)))
    cached = in_cache(repo, hasher.state, d)
    out = Status(repo.rel(d.data), repo.rel(d.pointer_file), d.kind, CLEAN, cached)
    if ws.kind is None:
        out.state = MISSING_WORKSPACE
    elif ws.oid != d.pointer.hash:
        hasher.state.forget_clean(repo.rel(d.pointer_file))  # the next no-op proof skips it
        out.state = MODIFIED
        recorded = _recorded(repo, d, ws)
        out.workspace_cached = _all_cached(repo, ws, recorded if cached else None)
        if recorded is not None:
            out.changes = dir_changes(recorded, ws)
    elif not cached:
        out.state = MISSING_CACHE
    else:
        remember(repo, hasher.state, d, ws.files)
    if not cached:
        out.pullable = pullable(d.pointer.hash)
    return out


class Pullable:
    """Whether `mdflow pull` is the way to bring an object into the cache: a remote is
    configured (teammates push there), or the embedded store holds it. Asks no server, and
    reads mdflow.yaml's remotes only when first asked (most datasets are cached)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.known: set[str] | None = None  # what the embedded store's inventories list
        self.shared = False

    def __call__(self, oid: str) -> bool:
        if self.known is None:
            from mdflow.remote import spec
            from mdflow.remote.inventory import listed_offline

            found = spec(self.repo.config.remote, self.repo.root)
            self.shared = found.shared
            state = self.repo.dot / "remotes" / found.name
            self.known = set() if self.shared else listed_offline(state)
        return self.shared or oid in self.known


def in_cache(repo: Repo, state: StatCache, d: Dataset) -> bool:
    """The pointer's object is in the cache (for a folder: the manifest and every file)."""
    oid = d.pointer.hash
    if d.kind == "file" or state.is_complete(oid):
        return repo.cache.has(oid)
    if not repo.cache.has(oid):
        return False
    manifest = manifest_of(repo, d)
    if all(repo.cache.has(f.hash) for f in manifest.files):
        state.mark_complete(oid)
        return True
    return False


def _recorded(repo: Repo, d: Dataset, ws: WorkspaceData) -> dict[str, str] | None:
    """A folder's files by path as its pointer's version lists them (None when the cache
    lacks that version's manifest, or either side is not a folder)."""
    if d.kind == "dir" and ws.kind == "dir" and repo.cache.has(d.pointer.hash):
        return {f.path: f.hash for f in manifest_of(repo, d).files}
    return None


def _all_cached(repo: Repo, ws: WorkspaceData, complete: dict[str, str] | None) -> bool:
    """Whether the cache holds what the workspace holds. `complete`: the files of a version
    the cache holds whole (in_cache): a file left as it lists it is not looked up again."""
    known = complete or {}
    changed = {h for f in ws.files if known.get(f.rel) != (h := ws.hashes[f.key])}
    return all(repo.cache.has(h) for h in changed)


def dir_changes(recorded: dict[str, str], ws: WorkspaceData) -> dict[str, int]:
    """Files added, removed and modified in the workspace, against `recorded` (by path)."""
    current = {f.rel: ws.hashes[f.key] for f in ws.files}
    return {
        "added": len(current.keys() - recorded.keys()),
        "removed": len(recorded.keys() - current.keys()),
        "modified": sum(1 for p, h in current.items() if p in recorded and recorded[p] != h),
    }


@dataclass
class Listed:
    """A tracked dataset for `mdflow list`: its status and what its pointer says."""

    status: Status
    size: int
    files: int | None
    rows: int | None
    columns: int | None


def list_datasets(repo: Repo) -> list[Listed]:
    with repo.stat_cache() as state:
        hasher, pullable = Hasher(state), Pullable(repo)
        return [
            Listed(
                status_of(repo, hasher, d, pullable),
                d.pointer.size,
                d.pointer.files,
                d.pointer.rows,
                d.pointer.columns,
            )
            for d in datasets.all_datasets(repo)
        ]
