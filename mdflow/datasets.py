"""Datasets of a repository: pointer files, their data paths, and what the workspace holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mdflow import gitrepo
from mdflow import pointer as ptr
from mdflow.errors import MdflowError
from mdflow.pointer import Pointer
from mdflow.repo import Repo
from mdflow.workspace import Hasher, WorkspaceFile, manifest_oid, scan_dir, stat_file


@dataclass(frozen=True)
class Dataset:
    pointer_file: Path
    pointer: Pointer
    data: Path

    @property
    def kind(self) -> str:
        return self.pointer.kind


def load(repo: Repo, pointer_file: Path) -> Dataset:
    shown = repo.rel(pointer_file)
    p = ptr.load(pointer_file, shown)
    data = ptr.data_path_for(pointer_file, p)
    repo.check_inside(data, f"{shown}: path {p.path!r}")
    return Dataset(pointer_file, p, data)


def at_revision(repo: Repo, rev: str, args: list[str]) -> list[Dataset]:
    """Datasets as the pointers of commit `rev` describe them (read through one cat-file)."""
    blobs = gitrepo.pointer_blobs_at(repo.root, rev)
    wanted = [_data_rel(repo, a) for a in args]
    chosen = [
        rel
        for rel in blobs
        if not wanted or any(_covers(w, rel[: -len(ptr.SUFFIX)]) for w in wanted)
    ]
    if wanted and not chosen:
        raise MdflowError(f"{args[0]} is not tracked by mdflow at {rev}", "check the path")
    reader = gitrepo.BlobReader(repo.root)
    try:
        found = []
        for rel in sorted(chosen):
            p = ptr.Pointer.from_yaml(reader.read(blobs[rel]), f"{rev}:{rel}")
            pointer_file = repo.root / rel
            data = ptr.data_path_for(pointer_file, p)
            repo.check_inside(data, f"{rev}:{rel}: path {p.path!r}")
            found.append(Dataset(pointer_file, p, data))
        return found
    finally:
        reader.close()


def _data_rel(repo: Repo, arg: str) -> str:
    rel = repo.rel(repo.resolve_user_path(arg))
    return rel[: -len(ptr.SUFFIX)] if rel.endswith(ptr.SUFFIX) else rel


def _covers(wanted: str, data: str) -> bool:
    return data == wanted or data.startswith(wanted + "/") or wanted.startswith(data + "/")


def all_datasets(repo: Repo) -> list[Dataset]:
    return [load(repo, repo.root / rel) for rel in gitrepo.pointer_files(repo.root)]


def select(repo: Repo, args: list[str]) -> list[Dataset]:
    """Datasets named by data paths, pointer paths or folders holding them (all when none)."""
    every = all_datasets(repo)
    if not args:
        return every
    chosen: dict[Path, Dataset] = {}
    for arg in args:
        path = repo.resolve_user_path(arg)
        if path.name.endswith(ptr.SUFFIX):
            path = path.with_name(path.name[: -len(ptr.SUFFIX)])
        hits = [d for d in every if d.data == path or path in d.data.parents]
        hits += [d for d in every if d.data in path.parents]
        if not hits:
            raise MdflowError(f"{arg} is not tracked by mdflow", "track it with mdflow add")
        chosen.update((d.pointer_file, d) for d in hits)
    return sorted(chosen.values(), key=lambda d: d.pointer_file)


@dataclass
class WorkspaceData:
    """What the workspace holds at a dataset's path, hashed through the stat cache."""

    kind: str | None  # "file", "dir", or None when nothing is there
    oid: str | None = None  # file hash, or hash of the manifest the folder would have
    files: list[WorkspaceFile] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # by WorkspaceFile.key


def inspect(repo: Repo, hasher: Hasher, data: Path) -> WorkspaceData:
    if data.is_dir():
        files = scan_dir(repo, data)
        hashes = hasher.hash_files(files, hasher.state.under(repo.rel(data)))
        return WorkspaceData("dir", manifest_oid(files, hashes), files, hashes)
    if data.is_file():
        f = stat_file(repo, data, data.name)
        hashes = hasher.hash_files([f])
        return WorkspaceData("file", hashes[f.key], [f], hashes)
    return WorkspaceData(None)
