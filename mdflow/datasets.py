"""Datasets of a repository: pointer files, their data paths, and what the workspace holds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mdflow import gitrepo
from mdflow import pointer as ptr
from mdflow.errors import MdflowError, UnsafePathError
from mdflow.hashing import hash_bytes
from mdflow.manifest import Manifest
from mdflow.paths import check_relpath
from mdflow.pointer import Pointer
from mdflow.repo import Repo
from mdflow.state import Scan
from mdflow.workspace import (
    Hasher,
    WorkspaceFile,
    files_of,
    manifest_oid,
    scan_dir,
    stat_file,
)


@dataclass(frozen=True)
class Dataset:
    pointer_file: Path
    pointer: Pointer
    data: Path
    only: tuple[str, ...] | None = None  # folders: the parts asked for (paths inside), or all
    digest: str = ""  # hash of the pointer file's bytes, when read from the working tree

    @property
    def kind(self) -> str:
        return self.pointer.kind

    def wants(self, rel: str) -> bool:
        """Whether the file `rel` (inside a folder dataset) is among the parts asked for."""
        return self.only is None or any(rel == p or rel.startswith(p + "/") for p in self.only)


def load(repo: Repo, pointer_file: Path) -> Dataset:
    shown = repo.rel(pointer_file)
    raw = pointer_file.read_bytes()
    found = checked(repo, pointer_file, ptr.Pointer.from_yaml(raw, shown), shown)
    return replace(found, digest=hash_bytes(raw))


def checked(repo: Repo, pointer_file: Path, p: Pointer, shown: str) -> Dataset:
    """A pointer's dataset, once its data path is known to be safe to write."""
    data = ptr.data_path_for(pointer_file, p)
    repo.check_inside(data, f"{shown}: path {p.path!r}")
    if data.name.endswith(ptr.SUFFIX):
        raise MdflowError(
            f"{shown}: path {p.path!r} names a pointer file",
            f"fix the path in {shown}, or restore it: git checkout -- {shown}",
        )
    return Dataset(pointer_file, p, data)


def at_revision(repo: Repo, rev: str, args: list[str]) -> list[Dataset]:
    """Datasets as the pointers of commit `rev` describe them (read through one cat-file)."""
    blobs = gitrepo.pointer_blobs_at(repo.root, rev)
    reader = gitrepo.BlobReader(repo.root)
    try:
        every = []
        for rel in sorted(blobs):
            p = ptr.Pointer.from_yaml(reader.read(blobs[rel]), f"{rev}:{rel}")
            every.append(checked(repo, repo.root / rel, p, f"{rev}:{rel}"))
    finally:
        reader.close()
    refuse_overlaps(repo, every, f" at {rev}")
    return choose(repo, every, args, f" at {rev}")


def all_datasets(repo: Repo) -> list[Dataset]:
    """Every dataset of the working tree; two pointers claiming one data path are an error."""
    every = [load(repo, repo.root / rel) for rel in gitrepo.pointer_files(repo.root)]
    refuse_overlaps(repo, every)
    return every


def refuse_overlaps(repo: Repo, every: list[Dataset], where: str = "") -> None:
    """Refuse two pointers whose data paths (symlinks resolved) are one, or one inside the
    other: checking either out would overwrite the other's data."""
    by_path: dict[str, Dataset] = {}
    for d in every:
        key = repo.real_rel(d.data)
        other = by_path.setdefault(key, d)
        if other is not d:
            raise _overlap(repo, other, d, where)
    for key, d in by_path.items():
        parts = key.split("/")
        for n in range(1, len(parts)):
            outer = by_path.get("/".join(parts[:n]))
            if outer is not None:
                raise _overlap(repo, outer, d, where)


def readable(repo: Repo) -> list[Dataset]:
    """The datasets whose pointers are in the working tree, readable and safe (the others can
    never be checked out)."""
    found = []
    for rel in gitrepo.pointer_files(repo.root):
        try:
            found.append(load(repo, repo.root / rel))
        except (MdflowError, OSError):  # deleted from the working tree, unreadable, unsafe
            continue
    return found


def claimant(repo: Repo, every: list[Dataset], path: Path) -> Dataset | None:
    """A dataset, other than the one of `path`'s own pointer, whose data is `path`, holds it or
    lies inside it (what `mdflow add path` would take from it)."""
    key, own = repo.real_rel(path), ptr.pointer_path_for(path)
    return next(
        (d for d in every if d.pointer_file != own and _nested(key, repo.real_rel(d.data))),
        None,
    )


def _nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _overlap(repo: Repo, first: Dataset, second: Dataset, where: str) -> MdflowError:
    a, b = repo.rel(first.pointer_file), repo.rel(second.pointer_file)
    return MdflowError(
        f"{a} and {b} both claim {repo.rel(second.data)}{where}",
        f"keep one of them: fix the path in {b}, or delete it (rm {b})",
    )


def select(repo: Repo, args: list[str]) -> list[Dataset]:
    """Datasets named by data paths, pointer paths or folders holding them (all when none)."""
    return choose(repo, all_datasets(repo), args)


def choose(repo: Repo, every: list[Dataset], args: list[str], where: str = "") -> list[Dataset]:
    """The datasets of `every` that `args` name; a path inside a folder narrows it (`only`)."""
    if not args:
        return every
    parts: dict[Path, set[str] | None] = {}
    by_file = {d.pointer_file: d for d in every}
    for arg in args:
        path = repo.resolve_user_path(arg)
        if path.name.endswith(ptr.SUFFIX):
            path = path.with_name(path.name[: -len(ptr.SUFFIX)])
        whole = [d for d in every if d.data == path or path in d.data.parents]
        inside = [d for d in every if d.data in path.parents and d.kind == "dir"]
        if not whole and not inside:
            raise MdflowError(f"{arg} is not tracked by mdflow{where}", "track it with mdflow add")
        for d in whole:
            parts[d.pointer_file] = None
        for d in inside:
            wanted = parts.setdefault(d.pointer_file, set())
            if wanted is not None:
                wanted.add(path.relative_to(d.data).as_posix())
    return [
        replace(by_file[f], only=None if p is None else tuple(sorted(p)))
        for f, p in sorted(parts.items())
    ]


# Manifests this process has read, by the object file's path and stat: a command reads one
# several times (pull: to fetch, then to check out), and parsing 100,000 entries takes 0.3 s.
_READ: dict[tuple[str, int, int, int], Manifest] = {}
_READ_MAX = 4


def cached_manifest(repo: Repo, oid: str, where: str) -> Manifest | None:
    """The manifest object `oid` from the cache, validated; None when it is not there."""
    path = repo.cache.path(oid)
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key in _READ:
        return _READ[key]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if hash_bytes(data) != oid:  # a flipped byte could still parse, naming other objects
        repo.cache.quarantine(oid)
        raise MdflowError(
            f"the manifest {oid} of {where} is corrupt in the cache (moved to .mdflow/quarantine/)",
            f"fetch it again: mdflow pull {where}",
        )
    manifest = Manifest.from_bytes(data, f"{oid} ({where})")
    if len(_READ) >= _READ_MAX:
        del _READ[next(iter(_READ))]
    _READ[key] = manifest
    return manifest


def manifest_of(repo: Repo, d: Dataset) -> Manifest:
    """The manifest of a folder dataset; a one-line error when the cache lacks it or when it
    names a path that must not be written (`.git`, `..`, absolute)."""
    shown = repo.rel(d.pointer_file)
    try:
        manifest = cached_manifest(repo, d.pointer.hash, repo.rel(d.data))
    except UnsafePathError as e:
        raise MdflowError(
            f"{shown}: {e.what}",
            f"do not check it out: stop tracking it (mdflow remove {shown}) or restore a "
            f"safe version of it (git log -p {shown})",
        ) from None
    if manifest is None:
        raise MdflowError(
            f"the manifest of {repo.rel(d.data)} ({d.pointer.hash}) is not in the cache",
            "mdflow pull it, or re-add the folder where it exists",
        )
    return manifest


@dataclass
class WorkspaceData:
    """What the workspace holds at a dataset's path, hashed through the stat cache."""

    kind: str | None  # "file", "dir", or None when nothing is there
    oid: str | None = None  # file hash, or hash of the manifest the folder would have
    files: list[WorkspaceFile] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # by WorkspaceFile.key


def inspect(
    repo: Repo, hasher: Hasher, data: Path, scan: Scan | None = None, folder_oid: bool = True
) -> WorkspaceData:
    """What the workspace holds at `data`; `scan`: the no-op proof's scan of it, taken over.
    Without `folder_oid`, a folder's `oid` (the hash of its would-be manifest) is left None."""
    if data.is_dir():
        files = scan_dir(repo, data) if scan is None else files_of(repo, data, scan)
        hashes = hasher.hash_files(files, hasher.state.under(repo.rel(data)))
        oid = manifest_oid(files, hashes) if folder_oid else None
        return WorkspaceData("dir", oid, files, hashes)
    if data.is_file():
        f = stat_file(repo, data, data.name)
        hashes = hasher.hash_files([f])
        return WorkspaceData("file", hashes[f.key], [f], hashes)
    return WorkspaceData(None)


@dataclass(frozen=True)
class Located:
    """The dataset holding a path, at a commit or in the working tree (`commit` None)."""

    dataset: Dataset  # `only` names the part asked for inside a folder dataset
    rel: str  # the dataset's data path from the repository root
    commit: str | None


def locate(repo: Repo, rel: str, rev: str | None) -> Located:
    """The dataset whose data is `rel` or holds it (a file or folder inside a folder dataset),
    read from the pointer in the working tree (`rev` None) or in commit `rev`; only that one
    pointer is read, and neither the working tree nor the index is touched."""
    try:
        check_relpath(rel)
    except ValueError as e:
        raise MdflowError(f"{rel!r}: {e}", "give a data path inside the repository") from None
    parts = rel.split("/")
    candidates = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    commit = gitrepo.resolve(repo.root, rev) if rev is not None else None
    blobs = gitrepo.pointer_blobs_at(repo.root, commit) if commit else {}
    for top in candidates:
        pointer_rel = top + ptr.SUFFIX
        pointer_file = repo.root / pointer_rel
        if commit is None:
            if not pointer_file.is_file():
                continue
            p = ptr.load(pointer_file, pointer_rel)
        elif pointer_rel in blobs:
            text = gitrepo.blob(repo.root, blobs[pointer_rel])
            p = ptr.Pointer.from_yaml(text, f"{commit[:10]}:{pointer_rel}")
        else:
            continue
        data = ptr.data_path_for(pointer_file, p)
        if data != repo.root / top:  # a pointer naming another path: not this one
            continue
        inner = rel[len(top) + 1 :] or None
        if inner and p.kind != "dir":
            break
        return Located(Dataset(pointer_file, p, data, (inner,) if inner else None), top, commit)
    where = f" at {rev}" if rev is not None else ""
    raise MdflowError(f"{rel} is not tracked by mdflow{where}", "check the path and the revision")
