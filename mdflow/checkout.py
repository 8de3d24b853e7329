"""Checkout: write dataset versions from the cache into the workspace, never losing data that
is not in the cache."""

from __future__ import annotations

import os
import shutil
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mdflow import datasets, gitrepo, integrity
from mdflow import pointer as ptr
from mdflow.datasets import Dataset, manifest_of
from mdflow.errors import CorruptObjectError, MdflowError
from mdflow.forks import forked
from mdflow.manifest import Manifest, ManifestEntry
from mdflow.progress import Progress
from mdflow.repo import Repo
from mdflow.state import Stamp
from mdflow.status import Pullable
from mdflow.workspace import (
    EXEC_BITS,
    Hasher,
    Materializer,
    WorkspaceFile,
    debris_beside,
    prune_empty_dirs,
    remove_file,
    stat_file,
)

CORRUPT, MISSING = "corrupt", "missing"  # what a copy reports instead of a stamp


@dataclass
class CheckoutReport:
    restored: list[str] = field(default_factory=list)  # files written
    removed: list[str] = field(default_factory=list)  # files removed from folders
    unchanged: int = 0
    kept_modified: list[str] = field(default_factory=list)  # not in cache: kept, no --force
    missing_cache: list[str] = field(default_factory=list)  # object not in the cache
    pullable: list[str] = field(default_factory=list)  # of those, what mdflow pull can bring
    corrupt: list[str] = field(default_factory=list)  # object corrupt: quarantined, not written
    debris: list[str] = field(default_factory=list)  # partial files of killed writers, removed

    @property
    def ok(self) -> bool:
        return not self.kept_modified and not self.missing_cache and not self.corrupt


def checkout(
    repo: Repo, args: list[str], force: bool = False, cached: Set[str] = frozenset()
) -> CheckoutReport:
    """Make the workspace match the pointers, never losing data that is not in the cache.

    `cached`: objects the caller knows are in the cache (just pulled): not looked up again.
    """
    with repo.lock():
        return checkout_datasets(repo, datasets.select(repo, args), force, cached)


def take_side(repo: Repo, arg: str, side: str) -> CheckoutReport:
    """In a merge conflict, keep our (`ours`) or their (`theirs`) version of a pointer, and
    check out its data. Staging the pointer is left to `git add`, as with git checkout --ours.

    That version is checked like any pointer (a safe path, claimed by no other pointer, no
    Git-tracked file in the way) before anything is written; the pointer is written last.
    """
    path = repo.resolve_user_path(arg)
    pointer_file = path if path.name.endswith(ptr.SUFFIX) else ptr.pointer_path_for(path)
    rel = repo.rel(pointer_file)
    stage = {"ours": 2, "theirs": 3}[side]
    try:
        text = gitrepo.blob(repo.root, f":{stage}:{rel}")
    except MdflowError:
        raise MdflowError(
            f"{rel} has no {side} version in the index: it is not in a merge conflict",
            "use mdflow checkout PATH outside a conflict",
        ) from None
    shown = f"{rel} ({side})"
    wanted = datasets.checked(repo, pointer_file, ptr.Pointer.from_yaml(text, shown), shown)
    with repo.lock():
        others = [d for d in datasets.readable(repo) if d.pointer_file != pointer_file]
        try:
            datasets.refuse_overlaps(repo, [*others, wanted])
        except MdflowError as e:
            other = "ours" if side == "theirs" else "theirs"
            raise MdflowError(
                f"{e.what} in the {side} version",
                f"keep the other: mdflow checkout --{other} {arg}",
            ) from None
        report = checkout_datasets(repo, [wanted])
        ptr.save(pointer_file, wanted.pointer)
        return report


def checkout_datasets(
    repo: Repo, chosen: list[Dataset], force: bool = False, cached: Set[str] = frozenset()
) -> CheckoutReport:
    """Write these datasets' versions into the workspace (the caller holds the lock)."""
    report = CheckoutReport()
    _refuse_git_tracked(repo, chosen)
    _refuse_paths_through_files(repo, chosen)
    manifests = {  # read (and checked) before anything is written
        d.pointer_file: manifest_of(repo, d)
        for d in chosen
        if d.kind == "dir" and (d.pointer.hash in cached or repo.cache.has(d.pointer.hash))
    }
    expect = integrity.expected_of(
        repo, [d for d in chosen if d.kind == "file" or d.pointer_file in manifests]
    )
    _remove_debris(repo, chosen, report)
    with repo.stat_cache() as state:
        job = _Checkout(repo, Hasher(state), force, report, cached, manifests, expect)
        for d in chosen:
            job.dataset(d)
        job.record()
        if report.corrupt:  # a quarantined object: folders holding it are not complete
            state.forget_complete()
    return report


def _remove_debris(repo: Repo, chosen: list[Dataset], report: CheckoutReport) -> None:
    """Delete the partial files killed checkouts left beside file datasets (the lock, taken,
    already cleared those in .mdflow/)."""
    for folder in sorted({d.data.parent for d in chosen if d.kind == "file"}):
        for path in debris_beside(folder):
            remove_file(path)
            report.debris.append(repo.rel(path))


def _refuse_git_tracked(repo: Repo, chosen: list[Dataset]) -> None:
    """A pointer must never make checkout overwrite files that Git tracks: neither at its data
    path as written nor where that path leads through symlinked folders."""
    paths = [(d, (repo.rel(d.data), repo.real_rel(d.data))) for d in chosen]
    tracked = gitrepo.tracked_files(repo.root, sorted({r for _, rs in paths for r in rs}))
    if tracked:
        first = tracked[0]
        d = next(d for d, rs in paths if any(_under(first, r) for r in rs))
        raise MdflowError(
            f"{repo.rel(d.pointer_file)}: the data path holds files tracked by Git ({first})",
            "fix the pointer's path, or untrack the files with git rm -r --cached",
        )


def _refuse_paths_through_files(repo: Repo, chosen: list[Dataset]) -> None:
    """A data path whose folders include a file (`Makefile/x`) cannot be written."""
    for d in chosen:
        for folder in d.data.parents:
            if folder == repo.root:
                break
            if os.path.lexists(folder) and not folder.is_dir():
                raise MdflowError(
                    f"{repo.rel(d.pointer_file)}: the data path {repo.rel(d.data)} runs through "
                    f"the file {repo.rel(folder)}",
                    f"fix its path, or stop tracking it: mdflow remove {repo.rel(d.pointer_file)}",
                )


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


class _Checkout:
    def __init__(
        self,
        repo: Repo,
        hasher: Hasher,
        force: bool,
        report: CheckoutReport,
        cached: Set[str],
        manifests: dict[Path, Manifest],
        expect: dict[str, str],
    ) -> None:
        self.repo, self.hasher, self.force, self.report = repo, hasher, force, report
        self.cached, self.manifests, self.expect = cached, manifests, expect
        self.pullable = Pullable(repo)
        self.writer = Materializer(repo.cache, repo.config.cache.link)
        self.written: list[tuple[str, Stamp, str]] = []  # key, stamp, oid: for the stat cache

    def _has(self, oid: str) -> bool:
        return oid in self.cached or self.repo.cache.has(oid)

    def dataset(self, d: Dataset) -> None:
        if d.kind == "file":
            self._file(d)
        else:
            self._dir(d)

    def _missing(self, key: str, oid: str) -> None:
        self.report.missing_cache.append(key)
        if self.pullable(oid):
            self.report.pullable.append(key)

    def _replaceable(self, key: str, oid: str) -> bool:
        """A workspace file may be overwritten when its content is in the cache."""
        if self.force or self._has(oid):
            return True
        self.report.kept_modified.append(key)
        return False

    def _clear_other_kind(self, d: Dataset, want_dir: bool) -> bool:
        """Remove a file where a folder belongs or a folder where a file belongs."""
        path = d.data
        if want_dir and path.is_file() and not path.is_symlink():
            f = stat_file(self.repo, path, path.name)
            if not self._replaceable(f.key, self.hasher.hash_files([f])[f.key]):
                return False
            path.unlink()
        elif not want_dir and path.is_dir():
            ws = datasets.inspect(self.repo, self.hasher, path, folder_oid=False)
            kept = [f.key for f in ws.files if not self._replaceable(f.key, ws.hashes[f.key])]
            if kept:
                return False
            shutil.rmtree(path)
        return True

    def _file(self, d: Dataset) -> None:
        if not self._clear_other_kind(d, want_dir=False):
            return
        ws = datasets.inspect(self.repo, self.hasher, d.data)
        key = self.repo.rel(d.data)
        if ws.oid == d.pointer.hash:
            self.report.unchanged += 1
        elif not self._has(d.pointer.hash):
            self._missing(key, d.pointer.hash)
        elif ws.oid is None or self._replaceable(key, ws.oid):
            self._write(d.pointer.hash, str(d.data), key, executable=False)

    def _dir(self, d: Dataset) -> None:
        key = self.repo.rel(d.data)
        if not self._has(d.pointer.hash):
            self._missing(key, d.pointer.hash)
            return
        if not self._clear_other_kind(d, want_dir=True):
            return
        manifest = self.manifests.get(d.pointer_file) or manifest_of(self.repo, d)
        ws = datasets.inspect(self.repo, self.hasher, d.data, folder_oid=False)
        present = {f.rel: f for f in ws.files if d.wants(f.rel)}
        todo: list[ManifestEntry] = []
        for entry in (e for e in manifest.files if d.wants(e.path)):
            f = present.pop(entry.path, None)
            have = ws.hashes[f.key] if f else None
            if have == entry.hash:
                self._fix_exec(f, entry)
            elif f is None:  # its object is looked for as it is copied
                todo.append(entry)
            elif not self._has(entry.hash):
                self._missing(f"{key}/{entry.path}", entry.hash)
            elif self._replaceable(f.key, ws.hashes[f.key]):
                todo.append(entry)
        for f in present.values():  # files the manifest does not list
            if self._replaceable(f.key, ws.hashes[f.key]):
                remove_file(Path(f.path))
                self.report.removed.append(f.key)
        prune_empty_dirs(d.data)
        if _holds_anything(d.data):  # else nothing there can stand in the way
            todo = [e for e in todo if self._free(d.data, e.path, key)]
        top = str(d.data)

        def write(e: ManifestEntry) -> Stamp | str:
            return self._copy(e.hash, f"{top}/{e.path}", e.exec)

        with Progress(f"checkout {key}", sum(e.size for e in todo), len(todo)) as bar:
            for e, done in forked(write, todo):
                self._done(done, f"{key}/{e.path}", e.hash)
                bar.advance(e.size, 1)

    def _free(self, top: Path, rel: str, key: str) -> bool:
        """Whether a file can be written at `top/rel`: no folder there, no file as a parent."""
        parents = PurePosixPath(rel).parents
        blocked = (top / rel).is_dir() or any((top / p).is_file() for p in parents)
        if blocked:
            self.report.kept_modified.append(f"{key}/{rel}")
        return not blocked

    def _fix_exec(self, f: WorkspaceFile | None, entry: ManifestEntry) -> None:
        self.report.unchanged += 1
        if f is not None and f.exec != entry.exec:
            mode = os.stat(f.path).st_mode
            os.chmod(f.path, mode | EXEC_BITS if entry.exec else mode & ~EXEC_BITS)

    def _copy(self, oid: str, dest: str, executable: bool) -> Stamp | str:
        """Write one file (maybe in a forked worker: it changes nothing here); its stamp for
        the stat cache, or CORRUPT (the object quarantined, the workspace file left as it
        was) or MISSING (no such object in the cache)."""
        try:
            return self.writer.write(oid, dest, executable, self.expect.get(oid))
        except CorruptObjectError:
            return CORRUPT
        except FileNotFoundError as e:
            if e.filename != self.writer.source(oid):
                raise
            return MISSING

    def _done(self, done: Stamp | str, key: str, oid: str) -> None:
        if done == CORRUPT:
            self.report.corrupt.append(key)
        elif done == MISSING:
            self._missing(key, oid)
        else:
            assert isinstance(done, Stamp)
            self.written.append((key, done, oid))
            self.report.restored.append(key)

    def _write(self, oid: str, dest: str, key: str, executable: bool) -> None:
        self._done(self._copy(oid, dest, executable), key, oid)

    def record(self) -> None:
        """Remember the hashes of the files just written (Git records its checkouts too)."""
        state = self.hasher.state
        state.refresh_clock()
        state.put(self.written)


def _holds_anything(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return next(it, None) is not None
    except (FileNotFoundError, NotADirectoryError):
        return False
