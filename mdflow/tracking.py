"""Tracking: put files and folders under mdflow (content into the cache, a pointer beside
them), stop tracking them, move them with their pointers."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdflow import datasets, gitignore, gitrepo, integrity
from mdflow import pointer as ptr
from mdflow.cache import CHUNKED_MIN, Batch
from mdflow.clean import remember
from mdflow.config import LinkType
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.forks import forked
from mdflow.hashing import hash_bytes, hash_stream
from mdflow.manifest import check_paths
from mdflow.pointer import Pointer
from mdflow.progress import Progress
from mdflow.repo import Repo
from mdflow.state import StatCache
from mdflow.tables import PARQUET, TableShape, counter_for, parquet_shape
from mdflow.workspace import (
    Hasher,
    WorkspaceFile,
    manifest_bytes,
    materialize,
    scan_dir,
    stat_file,
)


@dataclass(frozen=True)
class Added:
    path: str
    pointer: Pointer
    changed: bool


def add(repo: Repo, args: list[str]) -> list[Added]:
    """Track files or folders: store their content in the cache and write their pointers."""
    with repo.lock():
        every = datasets.readable(repo)
        targets = [_check_target(repo, every, a) for a in args]
        _refuse_git_tracked(repo, targets)
        with repo.stat_cache() as state:
            return [_add_one(repo, state, path) for path in targets]


def _check_target(repo: Repo, every: list[Dataset], arg: str) -> Path:
    path = repo.resolve_user_path(arg)
    if not path.exists():
        raise MdflowError(f"{arg}: no such file or folder", "check the path")
    if "\n" in arg or "\r" in arg:
        raise MdflowError(f"{arg!r} has a line break in its name", "rename it first")
    if path.name.endswith(ptr.SUFFIX):
        raise MdflowError(f"{arg} is a pointer file", f"add the data: mdflow add {arg[:-7]}")
    _refuse_claimed(repo, every, path)
    return path


def _refuse_claimed(repo: Repo, every: list[Dataset], path: Path) -> None:
    """Refuse a path inside a tracked folder, holding tracked datasets, or another pointer's."""
    rel = repo.rel(path)
    for parent in path.parents:
        if parent == repo.root:
            break
        if ptr.pointer_path_for(parent).exists():
            raise MdflowError(
                f"{rel} is inside the tracked folder {repo.rel(parent)}",
                f"re-add the folder: mdflow add {repo.rel(parent)}",
            )
    if path.is_dir():
        inner = [p for p in gitrepo.pointer_files(repo.root) if p.startswith(rel + "/")]
        if inner:
            raise MdflowError(
                f"{rel} contains tracked datasets ({inner[0]})",
                f"remove them first (mdflow remove {inner[0]}) or add them one by one",
            )
    other = datasets.claimant(repo, every, path)
    if other is not None:
        shown = repo.rel(other.pointer_file)
        raise MdflowError(
            f"{rel} overlaps {repo.rel(other.data)}, tracked by {shown}",
            f"stop tracking that first: mdflow remove {shown}",
        )


def _refuse_git_tracked(repo: Repo, targets: list[Path]) -> None:
    """Refuse paths Git tracks, as given or where they lead through symlinked folders."""
    rels = [r for p in targets for r in (repo.rel(p), repo.real_rel(p))]
    tracked = gitrepo.tracked_files(repo.root, sorted(set(rels)))
    if tracked:
        first = next(r for r in rels if any(_under(t, r) for t in tracked))
        raise MdflowError(
            f"{first} is tracked by Git",
            f"stop tracking it first: git rm -r --cached {first}",
        )


def _under(tracked: str, rel: str) -> bool:
    return tracked == rel or tracked.startswith(rel + "/")


def _add_one(repo: Repo, state: StatCache, path: Path) -> Added:
    pointer_file = ptr.pointer_path_for(path)
    old = ptr.load(pointer_file, repo.rel(pointer_file)) if pointer_file.exists() else None
    if path.is_dir():
        fields, files = _ingest_dir(repo, state, path, old)
    else:
        fields, files = _ingest_file(repo, state, path, old)
    if integrity.on(repo):
        fields |= integrity.seal(repo, fields["kind"], fields["hash"], repo.rel(path), old)
    extra = dict(old.model_extra or {}) if old else {}
    if old and old.hash == fields["hash"]:  # same version: its run, digests, source apply
        keep = ("run", "url", "sha256", "digests")
        extra |= {k: getattr(old, k) for k in keep if getattr(old, k)}
        extra |= {"source": old.source.model_dump()} if old.source else {}
    new = Pointer.model_validate({**extra, "path": path.name, **fields})
    changed = ptr.save(pointer_file, new)
    gitignore.add(path.parent, path.name)
    if gitrepo.is_ignored(repo.root, repo.rel(pointer_file)):
        raise MdflowError(
            f"{repo.rel(pointer_file)} is ignored by a .gitignore rule",
            f"add the exception !{pointer_file.name} to that .gitignore",
        )
    saved = Dataset(pointer_file, new, path, digest=hash_bytes(new.to_yaml().encode()))
    remember(repo, state, saved, files)
    return Added(repo.rel(path), new, changed)


Ingested = tuple[dict[str, Any], list[WorkspaceFile]]  # the pointer's fields, the files read


def _ingest_file(repo: Repo, state: StatCache, path: Path, old: Pointer | None) -> Ingested:
    f = stat_file(repo, path, path.name)
    oid = state.get(f.key, f.stamp)
    if old and old.kind == "file" and oid == old.hash and repo.cache.has(oid):
        fields = {"hash": oid, "size": f.stamp.size, "rows": old.rows, "columns": old.columns}
        return {"kind": "file", **fields}, [f]
    counter = counter_for(path.name)
    bar = Progress(f"add {f.key}", f.stamp.size)
    sinks: list[Callable[[bytes], object]] = [counter, bar.chunk] if counter else [bar.chunk]
    size = f.stamp.size
    with bar, path.open("rb") as src:
        if oid and repo.cache.has(oid):
            if sinks:
                hash_stream(src, *sinks)
        else:
            with repo.cache.batch() as batch:
                oid, size = batch.ingest(src, *sinks)
    if size == f.stamp.size:
        state.put([(f.key, f.stamp, oid)])
    else:  # it grew or shrank since its stat: what was copied counts, its stamp does not
        f = f._replace(stamp=f.stamp._replace(size=size))
    _keep_recipes(repo, [(oid, f.stamp.size)])
    _link_back(repo, [(f, oid)])
    shape: TableShape | None = counter.shape() if counter else None
    if path.suffix.lower() in PARQUET:
        shape = parquet_shape(str(path))
    table = {"rows": shape.rows, "columns": shape.columns} if shape else {}
    return {"kind": "file", "hash": oid, "size": f.stamp.size, **table}, [f]


def _ingest_dir(repo: Repo, state: StatCache, path: Path, old: Pointer | None) -> Ingested:
    files = scan_dir(repo, path)
    hashes = Hasher(state).vouched(files, state.under(repo.rel(path)))
    manifest = None  # the new manifest, when every hash is known before ingesting
    if old and len(hashes) == len(files):
        manifest = _manifest(repo, path, files, hashes)
        oid = hash_bytes(manifest)
        if old.hash == oid and state.is_complete(oid):
            return _dir_fields(oid, sum(f.stamp.size for f in files), len(files)), files
    cached = _complete_files(repo, state, path, old)
    todo = [
        f
        for f in files
        if (h := hashes.get(f.key)) is None or (cached.get(f.rel) != h and not repo.cache.has(h))
    ]
    total = sum(f.stamp.size for f in todo)
    with repo.cache.batch() as batch, Progress(f"add {repo.rel(path)}", total, len(todo)) as bar:
        grown: dict[str, WorkspaceFile] = {}  # changed size since the scan: the bytes copied
        shown = repo.rel(path)
        for f, (tmp, oid, size) in forked(lambda f: _copy_in(batch, f, shown), todo):
            batch.keep(tmp, oid)
            if hashes.get(f.key) != oid:  # it changed since its stamp was taken
                manifest = None
            if size != f.stamp.size:
                grown[f.key] = f._replace(stamp=f.stamp._replace(size=size))
            hashes[f.key] = oid
            bar.advance(f.stamp.size, 1)
        files = [grown.get(f.key, f) for f in files] if grown else files
        moid = batch.write_bytes(
            manifest if manifest is not None else _manifest(repo, path, files, hashes)
        )
    state.put((f.key, f.stamp, hashes[f.key]) for f in todo if f.key not in grown)
    state.mark_complete(moid)
    _keep_recipes(repo, [(hashes[f.key], grown.get(f.key, f).stamp.size) for f in todo])
    _link_back(repo, [(f, hashes[f.key]) for f in files])
    return _dir_fields(moid, sum(f.stamp.size for f in files), len(files)), files


def _copy_in(batch: Batch, f: WorkspaceFile, shown: str) -> tuple[str, str, int]:
    """Copy a scanned file into the batch (maybe in a forked worker); a file deleted since
    the scan is a one-line error."""
    try:
        return batch.copy_in(f.path)
    except FileNotFoundError as e:
        if e.filename != f.path:
            raise
        raise MdflowError(f"{f.key} vanished while it was added", f"mdflow add {shown}") from None


def _complete_files(
    repo: Repo, state: StatCache, path: Path, old: Pointer | None
) -> dict[str, str]:
    """The files (path: hash) of the folder's previous version when the cache holds it whole:
    their objects need no lookup. Empty when it is not known to be whole, or unreadable."""
    if old is None or old.kind != "dir" or not state.is_complete(old.hash):
        return {}
    try:
        found = datasets.cached_manifest(repo, old.hash, repo.rel(path))
    except (MdflowError, OSError):  # corrupt (now quarantined), invalid, unreadable
        return {}  # look every object up, as without it
    return {} if found is None else {e.path: e.hash for e in found.files}


def _keep_recipes(repo: Repo, objects: list[tuple[str, int]]) -> None:
    """Cut the recipes of the large objects (name, size) just added; chunking, which reads the
    remote's formats, is imported only when one is that large."""
    if any(size >= CHUNKED_MIN for _, size in objects):
        from mdflow.chunking import Recipes

        Recipes(repo.cache).keep(objects)


def _manifest(repo: Repo, path: Path, files: list[WorkspaceFile], hashes: dict[str, str]) -> bytes:
    """The folder's manifest, written from its scan (sorted and unique, unless it moved)."""
    try:
        check_paths([f.rel for f in files])
    except ValueError as e:
        rel = repo.rel(path)
        raise MdflowError(f"{rel} changed while it was added ({e})", f"mdflow add {rel}") from None
    return manifest_bytes(files, hashes)


def _dir_fields(oid: str, size: int, files: int) -> dict[str, Any]:
    return {"kind": "dir", "hash": oid, "size": size, "files": files}


def _link_back(repo: Repo, pairs: list[tuple[WorkspaceFile, str]]) -> None:
    """With hardlink/symlink chosen, replace workspace copies by links to the cache."""
    links = repo.config.cache.link
    if links[0] not in (LinkType.hardlink, LinkType.symlink):
        return
    for f, oid in pairs:
        if f.exec and links[0] is LinkType.symlink:  # a symlink would lose its exec bit
            continue
        with contextlib.suppress(FileNotFoundError):
            if (
                os.path.islink(f.path)
                or os.stat(f.path).st_ino == repo.cache.path(oid).stat().st_ino
            ):
                continue
        materialize(repo.cache, oid, Path(f.path), links, f.exec)


def _one(repo: Repo, arg: str) -> Dataset:
    path = repo.resolve_user_path(arg)
    if path.name.endswith(ptr.SUFFIX):
        path = path.with_name(path.name[: -len(ptr.SUFFIX)])
    pointer_file = ptr.pointer_path_for(path)
    if not pointer_file.is_file():
        raise MdflowError(
            f"{arg} is not tracked by mdflow (no {pointer_file.name})", "check the path"
        )
    return datasets.load(repo, pointer_file)


def remove(repo: Repo, arg: str) -> Dataset:
    """Stop tracking: delete the pointer and the .gitignore entry; the data stays."""
    with repo.lock():
        d = _one(repo, arg)
        d.pointer_file.unlink()
        gitignore.remove(d.data.parent, d.data.name)
        return d


def move(repo: Repo, src: str, dst: str) -> tuple[Path, Path]:
    """Move data and pointer together and fix both .gitignore files; return new (data, pointer)."""
    with repo.lock():
        d = _one(repo, src)
        target = repo.resolve_user_path(dst)
        if target.is_dir():
            target = target / d.data.name
            repo.check_inside(target, str(target))
        if target.exists() or os.path.lexists(target):
            raise MdflowError(f"{dst} already exists", "choose another destination")
        new_pointer_file = ptr.pointer_path_for(target)
        if new_pointer_file.exists():
            raise MdflowError(f"{repo.rel(new_pointer_file)} already exists", "choose another name")
        target.parent.mkdir(parents=True, exist_ok=True)
        if d.data.exists():
            shutil.move(d.data, target)
        moved = d.pointer.model_copy(update={"path": target.name})
        ptr.save(new_pointer_file, moved)
        d.pointer_file.unlink()
        gitignore.remove(d.data.parent, d.data.name)
        gitignore.add(target.parent, target.name)
        return target, new_pointer_file
