"""The no-op path: proving from the stat cache alone that every dataset is clean.

`mdflow status` and `mdflow add` spend most of a no-op in start-up (pydantic, YAML, building
models) rather than in the one `stat` per file the answer needs. When status or add finds a
dataset clean, it records it (`state.Clean`): the hash of the pointer's bytes, of mdflow.yaml,
and `scan_digest` of the data (every file's path, inode, size, mtime and exec bit, taken only
when all are older than the stat cache's clock, so a racy file is never vouched for). The
next command proves the same thing again with the standard library: the pointers Git lists,
their bytes, mdflow.yaml, one scan of the data, the objects in the cache, no debris. Anything
it cannot prove (a record missing or different, a symlink, a partial file, a nested dataset,
a held lock) sends the command down its ordinary path, which checks and reports everything.

This module imports no pydantic, YAML or mdflow format model: keep it that way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mdflow import gitrepo
from mdflow.errors import LockTimeoutError
from mdflow.gitignore import entry_for
from mdflow.hashing import hash_bytes, hex_of
from mdflow.lock import locked
from mdflow.state import Clean, Scan, ScanEntry, StatCache, read_clean, scan_digest

if TYPE_CHECKING:
    from mdflow.datasets import Dataset
    from mdflow.repo import Repo
    from mdflow.workspace import WorkspaceFile

DOT = ".mdflow"
CONFIG = "mdflow.yaml"
TMP_SUFFIX = ".mdflow-tmp"  # workspace.TMP_SUFFIX: partial files a scan skips


def remember(repo: Repo, state: StatCache, d: Dataset, files: list[WorkspaceFile]) -> None:
    """Record `d` as clean (its workspace `files`, as scanned, hash to its pointer, its objects are
    in the cache), when it can be proven again later: a whole dataset read from the working
    tree, no symlinked folder on its path, no file too recent for the stat cache, no links
    into the cache (hardlink or symlink modes re-check every file), a pointer as mdflow
    writes it (`mdflow add` rewrites one edited by hand)."""
    rel, pointer = repo.rel(d.data), repo.rel(d.pointer_file)
    links = repo.config.cache.link
    if (
        not d.digest
        or d.only is not None
        or repo.real_rel(d.data) != rel
        or links[0].value in ("hardlink", "symlink")
        or any(f.stamp.mtime_ns >= state.clock for f in files)
        or hash_bytes(d.pointer.to_yaml().encode()) != d.digest  # add would rewrite it
    ):
        state.forget_clean(pointer)
        return
    p = d.pointer
    record = Clean(
        pointer, d.digest, _config_digest(repo.root), _digest_of(files), rel, p.kind, p.hash,
        p.size, p.files, p.rows, p.columns, repo.config.hooks.max_file_size,
    )  # fmt: skip
    state.record_clean(record)


def _digest_of(files: list[WorkspaceFile]) -> str:
    return scan_digest([(f.rel, *f.stamp, f.exec) for f in files])


def prove(root: Path, scans: dict[str, Scan] | None = None) -> list[Clean] | None:
    """Every dataset of the working tree, when each is proven clean; else None. `scans`
    receives the scan of each folder read on the way, by its absolute path: when the proof
    fails, the ordinary path of the same command need not scan those again."""
    dot = root / DOT
    records = read_clean(dot)
    if not records or _debris(dot):
        return None
    config = _config_digest(root)
    real_root = os.path.realpath(root)
    proven = []
    for rel in gitrepo.pointer_files(root):
        found = records.get(rel)
        if found is None or found[0].config != config:
            return None
        record, complete = found
        if not _unchanged(root, real_root, record, complete, scans):
            return None
        proven.append(record)
    return None if _nested([r.data for r in proven]) else proven


def _unchanged(
    root: Path, real_root: str, r: Clean, complete: bool, scans: dict[str, Scan] | None
) -> bool:
    try:
        with open(os.path.join(root, r.pointer), "rb") as f:
            if hash_bytes(f.read()) != r.digest:
                return False
        data = os.path.join(root, r.data)
        folder = os.path.dirname(r.data)
        if os.path.realpath(os.path.dirname(data)) != os.path.join(real_root, folder).rstrip("/"):
            return False  # a folder on the way became a symlink
        mode = os.lstat(data).st_mode
        if r.kind == "dir":
            if not stat.S_ISDIR(mode) or not (complete or scans is not None):
                return False
            found = _scan(data)
            if found is None:
                return False
            if scans is not None:
                scans[data] = found
            if not complete:
                return False
            scanned = scan_digest(found.files)
        elif stat.S_ISREG(mode) and not _debris_beside(os.path.dirname(data)):
            st = os.stat(data)
            name = os.path.basename(data)
            scanned = scan_digest([(name, st.st_ino, st.st_size, st.st_mtime_ns, _x(st))])
        else:
            return False
    except OSError:
        return False
    h = hex_of(r.hash)
    return scanned == r.scan and os.path.isfile(f"{root}/{DOT}/cache/{h[:2]}/{h[2:]}")


def _scan(top: str) -> Scan | None:
    """The files of a folder as workspace.scan_dir lists them (its names unchecked) and its
    folders; None at a symlink. Each file is stat-ed by its name in its open folder, not by
    its path from the root (15% of the scan, walking the path again for every file)."""
    found: list[ScanEntry] = []
    folders = []
    stack = [(top, "")]
    while stack:
        folder, prefix = stack.pop()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    name = entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if not name.endswith(TMP_SUFFIX):
                            folders.append(prefix + name)
                            stack.append((f"{folder}/{name}", f"{prefix}{name}/"))
                        continue
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        return None
                    if stat.S_ISREG(st.st_mode) and not name.endswith(TMP_SUFFIX):
                        found.append((prefix + name, st.st_ino, st.st_size, st.st_mtime_ns, _x(st)))
        finally:
            os.close(fd)
    return Scan(found, folders)


def _x(st: os.stat_result) -> bool:
    return bool(st.st_mode & stat.S_IXUSR)


def _nested(paths: list[str]) -> bool:
    """Two datasets on one path, or one inside another (the ordinary path says which)."""
    seen = set(paths)
    if len(seen) < len(paths):
        return True
    parents = ("/".join(p.split("/")[:n]) for p in paths for n in range(1, p.count("/") + 1))
    return any(parent in seen for parent in parents)


def _debris(dot: Path) -> bool:
    """Partial files of killed writers (the ordinary path reports or removes them)."""
    return any(_entries(dot / "tmp")) or any(_entries(dot / "cache" / "tmp"))


def _debris_beside(folder: str) -> bool:
    return any(n.startswith(".") and n.endswith(TMP_SUFFIX) for n in _entries(Path(folder)))


def _entries(folder: Path) -> Iterator[str]:
    try:
        yield from os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return


def _config_digest(root: Path) -> str:
    try:
        return hash_bytes((root / CONFIG).read_bytes())
    except OSError:
        return ""


def status_line(root: Path, scans: dict[str, Scan] | None = None) -> str | None:
    """What `mdflow status` prints when every dataset is proven clean; None otherwise (then
    `scans` holds the folders scanned, for the ordinary path)."""
    proven = prove(root, scans)
    if proven is None:
        return None
    n = len(proven)
    return f"{n} dataset{'s' if n != 1 else ''}, all clean"


def unchanged_adds(root: Path, args: list[str]) -> list[Clean] | None:
    """The records of the datasets `mdflow add ARGS` would find unchanged, when all are
    proven so (with the repository lock free, no pointer above them, none tracked by Git,
    their .gitignore entries present and their pointers not ignored); else None."""
    try:
        with locked(root / DOT / "lock", 0):
            proven = prove(root)
            if proven is None:
                return None
            by_data = {r.data: r for r in proven}
            chosen = [by_data.get(_rel(root, a)) for a in args]
            if any(r is None for r in chosen):
                return None
            done = [r for r in chosen if r is not None]
            return done if all(_add_is_noop(root, r) for r in done) else None
    except (LockTimeoutError, OSError):
        return None


def _rel(root: Path, arg: str) -> str:
    if "\n" in arg or "\r" in arg:
        return ""
    rel = os.path.relpath(os.path.abspath(arg), root)
    return "" if rel.startswith("..") else Path(rel).as_posix()


def _add_is_noop(root: Path, r: Clean) -> bool:
    parts = r.data.split("/")
    for n in range(1, len(parts)):  # a pointer for a folder above: add refuses
        if os.path.lexists(os.path.join(root, *parts[:n]) + ".mdflow"):
            return False
    folder, name = os.path.split(os.path.join(root, r.data))
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8") as f:
            if entry_for(name) not in f.read().splitlines():
                return False
    except (OSError, UnicodeDecodeError):
        return False
    if gitrepo.tracked_files(root, [r.data]):
        return False
    return not gitrepo.is_ignored(root, r.pointer)


def check_passes(root: str, files: list[str]) -> bool:
    """`mdflow hook check` has nothing to say about a commit staging `files`, no pointer among
    them (staging.commit_hook_passes): every dataset is clean, no staged file is inside a
    dataset and none is as large as hooks.max_file_size."""
    proven = prove(Path(root))
    if not proven:
        return False
    tracked = [r.data for r in proven]
    if any(p == t or p.startswith(t + "/") for p in files for t in tracked):
        return False
    sizes = gitrepo.staged_sizes(Path(root), files)
    limit = proven[0].max_size
    return len(sizes) == len(files) and all(s < limit for s in sizes.values())
