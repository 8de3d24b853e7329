"""Reading dataset versions out of source repositories (this one, another work tree, a Git
URL): the core of the Python API, of lineage, and of `mdflow get`, `import` and `update`.

Reading never touches the working tree or the index of the source: pointers come from Git
objects (or the working tree's pointer files, read only), data from the source's cache,
filled from its default remote when needed (verified).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mdflow import datasets, gitrepo, integrity, sources, sync
from mdflow.config import LinkType
from mdflow.datasets import Dataset, Located
from mdflow.errors import MdflowError
from mdflow.hashing import hex_of
from mdflow.manifest import ManifestEntry
from mdflow.pointer import Pointer
from mdflow.repo import Repo
from mdflow.sources import Source
from mdflow.workspace import materialize

PathArg = str | os.PathLike[str]
RepoArg = str | os.PathLike[str] | None
TREES = "trees"  # .mdflow/trees/<manifest hex>/: folder versions as links to cache objects


def load_uri(uri: str, oid: str | None = None, dst_path: str | None = None) -> Path:
    """The local path of the version `mdflow://<repo>@<commit>:<path>` names (when `oid`, the
    dataset's hash, is given, that version); with `dst_path`, a copy in that folder."""
    match = _URI.match(uri)
    if match is None:
        raise MdflowError(
            f"{uri!r} is not an mdflow dataset URI", "mdflow://<repo>@<commit>:<path>"
        )
    src, loc = locate(match["path"], match["commit"], match["repo"])
    if oid is not None and oid != loc.dataset.pointer.hash:  # logged before its commit
        pointer = loc.dataset.pointer.model_copy(update={"hash": oid})
        loc = replace(loc, dataset=replace(loc.dataset, pointer=pointer))
    fill_cache(src.repo, loc)
    local = local_path(src.repo, loc)
    if dst_path is None:
        return local
    target = Path(dst_path) / PurePosixPath(match["path"]).name
    copy_out(src.repo, loc, target)
    return target


def copy_out(repo: Repo, loc: Located, target: Path) -> None:
    """Write plain copies of the cached version at `target` (a file, or a folder)."""
    d, copy = loc.dataset, [LinkType.copy]
    if d.kind == "file":
        materialize(repo.cache, d.pointer.hash, target, copy)
        return
    single, entries = parts(repo, d)
    if single:
        materialize(repo.cache, single.hash, target, copy, single.exec)
        return
    cut = len(d.only[0]) + 1 if d.only else 0
    target.mkdir(parents=True, exist_ok=True)
    for e in entries:
        materialize(repo.cache, e.hash, target / e.path[cut:], copy, e.exec)


def export(source: str, path: str, rev: str | None, out: str | None) -> tuple[Path, DatasetRef]:
    """Copy a version out of `source` (a Git URL or a work tree, no working tree of it needed)
    into `out`, by default the path's name in the current folder; `rev` default: HEAD."""
    src, loc = locate(path, rev or "HEAD", source)
    ref = reference(src, loc)
    target = Path(os.path.abspath(out or PurePosixPath(ref.path).name))
    if os.path.lexists(target):
        raise MdflowError(f"{target} already exists", "remove it, or name another place with -o")
    fill_cache(src.repo, loc)
    copy_out(src.repo, loc, target)
    return target, ref


@dataclass(frozen=True)
class Listed:
    """A dataset of another repository at a commit, as its pointer describes it."""

    repo: str
    commit: str
    path: str
    pointer: Pointer

    def to_json(self) -> dict[str, object]:
        p = self.pointer
        return {
            "repo": self.repo,
            "commit": self.commit,
            "path": self.path,
            "kind": p.kind,
            "hash": p.hash,
            "size": p.size,
            "files": p.files,
            "rows": p.rows,
            "columns": p.columns,
        }


def list_source(source: str, path: str | None, rev: str | None) -> list[Listed]:
    """The datasets of `source` (a Git URL or a work tree; no working tree of it needed) at
    `rev` (default: HEAD), from their pointers in that commit; with `path`, those at or below
    it, or the folder dataset holding it."""
    src = sources.open_source(source, rev)
    commit = gitrepo.resolve(src.repo.root, rev or "HEAD")
    found = [
        Listed(src.location, commit, src.repo.rel(d.data), d.pointer)
        for d in datasets.at_revision(src.repo, commit, [])
    ]
    if path is None:
        return found
    want = PurePosixPath(path.replace(os.sep, "/")).as_posix().strip("/")
    chosen = [x for x in found if _nested_in(x.path, want) or _nested_in(want, x.path)]
    if not chosen:
        raise MdflowError(
            f"{path} is not tracked by mdflow in {source} at {rev or 'HEAD'}",
            f"list every dataset there: mdflow list {shlex.quote(source)}",
        )
    return chosen


def _nested_in(inner: str, outer: str) -> bool:
    return outer in (".", "") or inner == outer or inner.startswith(outer + "/")


def locate(path: PathArg, rev: str | None, repo: RepoArg) -> tuple[Source, Located]:
    src = source_of(path, rev, repo)
    rel = rel_path(src, path, repo is None)
    if rev is None and src.clone:
        rev = "HEAD"  # a clone has no working tree: its default branch
    return src, datasets.locate(src.repo, rel, rev)


def rel_path(src: Source, path: PathArg, from_cwd: bool) -> str:
    """The path from the source's root: relative to the current folder when the repository
    is the current one, else to the repository's root."""
    text = os.fspath(path)
    if from_cwd or (os.path.isabs(text) and not src.clone):
        return src.repo.rel(src.repo.resolve_user_path(text))
    return PurePosixPath(text.replace(os.sep, "/")).as_posix()


def fill_cache(repo: Repo, loc: Located) -> None:
    """Download what the located version lacks in the source's cache (verified), if any."""
    with repo.remote() as remote, repo.lock():
        report = sync.SyncReport(remote.name)
        sync.fetch(repo, remote, [loc.dataset], report, None)
    failed = sync.problems(report)
    if failed:
        raise _unreadable(loc, remote.name, failed[0])
    vouch(repo, loc)


def vouch(repo: Repo, loc: Located) -> None:
    """`verify: sha256` pointers: the cached objects read match the digests (a cached object
    could have come for another pointer naming the same xxh3-128 with other bytes)."""
    d = loc.dataset
    if d.pointer.sha256 is None:
        return
    expect = integrity.expected(repo, d.pointer, loc.rel)
    wanted = [d.pointer.hash] if d.kind == "file" else [e.hash for e in parts(repo, d)[1]]
    for oid in wanted:
        if (oid, expect[oid]) not in _VOUCHED:
            if not integrity.matches(repo, oid, expect[oid]):
                raise MdflowError(
                    f"{loc.rel}: cache object {oid} does not match the SHA-256 its pointer "
                    "records (moved to .mdflow/quarantine/)",
                    f"fetch it again: mdflow pull {loc.rel}",
                )
            _VOUCHED.add((oid, expect[oid]))


_VOUCHED: set[tuple[str, str]] = set()  # (object, SHA-256) checked in this process


def _unreadable(loc: Located, remote: str, reason: str) -> MdflowError:
    where = f" at {loc.commit[:10]}" if loc.commit else ""
    return MdflowError(
        f"cannot read {loc.rel}{where} from remote {remote}: {reason}",
        "push it from a clone that has it (mdflow push), or check the remote",
    )


def open_file(repo: Repo, loc: Located) -> BinaryIO:
    """One file of a version, streamed from the remote when the cache lacks it (verified
    at its end, and kept in the cache then)."""
    from mdflow.remote import RemoteError, open_remote
    from mdflow.remote.inventory import RemoteIndex
    from mdflow.streaming import open_object

    d = loc.dataset
    if d.pointer.sha256 is not None:  # nothing unverified is streamed: fetch, then check
        fill_cache(repo, loc)
    if d.kind == "dir":
        if not repo.cache.has(d.pointer.hash):
            fill_manifest(repo, loc)
        single, _ = parts(repo, d)
        if single is None:
            raise MdflowError(f"{loc.rel} is a folder", "open a file inside it, or use get_path")
        oid = single.hash
    else:
        oid = d.pointer.hash
    if repo.cache.has(oid):
        return repo.cache.open(oid)
    remote = open_remote(repo.config.remote, repo.root, repo.dot)  # closed by open_object
    try:
        return open_object(repo.cache, RemoteIndex(remote.store, remote.state), oid, remote.close)
    except RemoteError as e:
        raise _unreadable(loc, remote.name, str(e)) from e


def fill_manifest(repo: Repo, loc: Located) -> None:
    """Download the manifest of a folder version only."""
    from mdflow.remote.inventory import RemoteIndex

    with repo.remote() as remote, repo.lock():
        index = RemoteIndex(remote.store, remote.state)
        failed = sync.pull_from(repo, remote, index, {loc.dataset.pointer.hash}).failed
    if failed:
        raise _unreadable(loc, remote.name, next(iter(failed.values())))


def parts(repo: Repo, d: Dataset) -> tuple[ManifestEntry | None, list[ManifestEntry]]:
    """A folder dataset's files asked for: (the one file when `only` names a file, all)."""
    entries = [e for e in datasets.manifest_of(repo, d).files if d.wants(e.path)]
    single = d.only is not None and [e.path for e in entries] == list(d.only)
    return (entries[0] if single else None), entries


def local_path(repo: Repo, loc: Located) -> Path:
    """The cached version: a file's object, or a tree of links to objects (read only)."""
    d = loc.dataset
    if d.kind == "file":
        return repo.cache.path(d.pointer.hash)
    single, entries = parts(repo, d)
    if single:
        return repo.cache.path(single.hash)
    tree = repo.dot / TREES / hex_of(d.pointer.hash)
    tree.mkdir(parents=True, exist_ok=True)
    for e in entries:
        link = tree / e.path
        if not os.path.lexists(link):
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # made by another process meanwhile
                link.symlink_to(repo.cache.path(e.hash))
    return tree / d.only[0] if d.only else tree


@dataclass(frozen=True)
class DatasetRef:
    """Where a dataset version can be read again: repository, commit, path, and the hash of
    the dataset holding the path."""

    repo: str
    commit: str
    path: str
    hash: str

    @property
    def uri(self) -> str:
        return f"mdflow://{self.repo}@{self.commit}:{self.path}"


_URI = re.compile(r"^mdflow://(?P<repo>.+)@(?P<commit>[0-9a-f]{40}):(?P<path>.+)$")


def reference(src: Source, loc: Located) -> DatasetRef:
    """The version read; from the working tree's pointer, the commit is HEAD's."""
    d = loc.dataset
    commit = loc.commit or gitrepo.resolve(src.repo.root, "HEAD")
    path = loc.rel if d.only is None else f"{loc.rel}/{d.only[0]}"
    return DatasetRef(src.location, commit, path, d.pointer.hash)


def source_of(path: PathArg, rev: str | None, repo: RepoArg) -> Source:
    """The repository to read from; without `repo`, the one holding an absolute `path`, or
    the current folder's."""
    text = os.fspath(path)
    near = Path(text).parent if repo is None and os.path.isabs(text) else None
    return sources.open_source(repo, rev, near)
