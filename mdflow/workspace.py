"""Workspace files: scanning dataset folders, hashing through the stat cache, and writing
files from the cache with the configured link type.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mdflow.cache import Cache
from mdflow.config import LinkType
from mdflow.debris import alive, writer_pid
from mdflow.errors import CorruptObjectError, MdflowError
from mdflow.forks import tag
from mdflow.hashing import copy_fd, hash_bytes, hash_file, hex_of, sha256_file
from mdflow.manifest import ManifestEntry, join_lines, line
from mdflow.paths import UMASK, check_name, is_plain_name, is_plain_path
from mdflow.pool import parallel
from mdflow.progress import Progress
from mdflow.repo import Repo
from mdflow.state import Scan, Stamp, StatCache, StatRow

FICLONE = 0x40049409
TMP_SUFFIX = ".mdflow-tmp"
EXEC_BITS = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH


class WorkspaceFile(NamedTuple):
    """A file of the workspace, named relative to its dataset folder (`rel`) and repo (`key`)."""

    rel: str
    key: str
    path: str  # absolute; a str, since scanning 10,000 files must not build 10,000 Paths
    stamp: Stamp
    exec: bool


def stat_file(repo: Repo, path: Path, rel: str) -> WorkspaceFile:
    st = path.stat()
    return WorkspaceFile(
        rel, repo.rel(path), str(path), Stamp.of(st), bool(st.st_mode & stat.S_IXUSR)
    )


def scan_dir(repo: Repo, top: Path) -> list[WorkspaceFile]:
    """Every file below `top`, sorted by relative path; symlinks leaving the repo, symlinked
    folders and names no manifest may hold (`.git`, backslashes) are refused."""
    found: list[WorkspaceFile] = []
    top_key = repo.rel(top)
    if top.is_symlink():
        _refuse_linked_folder(top_key)
    stack = [(str(top), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if name.endswith(TMP_SUFFIX):  # left by a killed checkout: not data
                    continue
                rel = prefix + name
                if is_plain_name(name) is None:
                    _check_name(name, f"{top_key}/{rel}")
                if entry.is_symlink():
                    _check_link(repo, Path(entry.path), f"{top_key}/{rel}")
                    if entry.is_dir():
                        _refuse_linked_folder(f"{top_key}/{rel}")
                if entry.is_dir():
                    stack.append((entry.path, rel + "/"))
                elif entry.is_file():
                    st = entry.stat()
                    stamp = _tuple(Stamp, (st.st_ino, st.st_size, st.st_mtime_ns))
                    x = bool(st.st_mode & stat.S_IXUSR)
                    found.append(
                        _tuple(WorkspaceFile, (rel, f"{top_key}/{rel}", entry.path, stamp, x))
                    )
    found.sort()  # by `rel`: first in each tuple, and unique
    return found


# Builds a NamedTuple without the Python frame of its __new__ (twice per file of a scan).
_tuple = tuple.__new__


def files_of(repo: Repo, top: Path, scan: Scan) -> list[WorkspaceFile]:
    """What scan_dir lists, from a scan the no-op proof made of `top` moments ago (it holds no
    symlink, nor a partial file): the same names are refused."""
    top_key, base = repo.rel(top), str(top)
    for rel in itertools.chain(scan.folders, (e[0] for e in scan.files)):
        if is_plain_path(rel) is None:  # its folders are checked on their own
            _check_name(rel.rpartition("/")[2], f"{top_key}/{rel}")
    return [
        _tuple(WorkspaceFile, (rel, f"{top_key}/{rel}", f"{base}/{rel}", _tuple(Stamp, st), x))
        for rel, st, x in ((e[0], e[1:4], e[4]) for e in sorted(scan.files))
    ]


def _refuse_linked_folder(shown: str) -> None:
    raise MdflowError(
        f"{shown} is a symlink to a folder",
        "replace it with a real folder or add its target on its own",
    )


def _check_name(name: str, shown: str) -> None:
    why = check_name(name)
    if why is not None:
        raise MdflowError(
            f"{shown}: a dataset cannot hold this name ({why})",
            "move or rename it, then run the command again",
        )


def _check_link(repo: Repo, link: Path, shown: str) -> None:
    target = link.resolve()
    try:
        target.relative_to(repo.real_root)
    except ValueError:
        raise MdflowError(
            f"{shown} is a symlink to {target}, outside the repository",
            "copy the data into the repository or add it where it lives",
        ) from None


class Hasher:
    """Hashes workspace files, reading only those the stat cache cannot vouch for."""

    def __init__(self, state: StatCache) -> None:
        self.state = state

    def vouched(self, files: list[WorkspaceFile], known: dict[str, StatRow]) -> dict[str, str]:
        """Hashes the stat cache vouches for, from a prefetched slice of it (`under`)."""
        out = {}
        for f in files:
            hit = known.get(f.key)
            if hit is not None and hit[:3] == f.stamp:
                out[f.key] = hit[3]
        return out

    def hash_files(
        self, files: list[WorkspaceFile], known: dict[str, StatRow] | None = None
    ) -> dict[str, str]:
        """Hashes by `key`, reading only files the stat cache cannot vouch for."""
        if known is None:
            known = {f.key: row for f in files if (row := self.state.row(f.key))}
        out = self.vouched(files, known)
        todo = [f for f in files if f.key not in out]
        total = sum(f.stamp.size for f in todo)
        with Progress("hashing", total, len(todo)) as bar:
            for f, oid in parallel(lambda f: hash_file(f.path)[0], todo):
                out[f.key] = oid
                bar.advance(f.stamp.size, 1)
        self.state.put((f.key, f.stamp, out[f.key]) for f in todo)
        return out


def entries_of(files: Iterable[WorkspaceFile], hashes: dict[str, str]) -> list[ManifestEntry]:
    """Manifest entries of scanned files (built without validation: scan_dir made them)."""
    return [ManifestEntry(f.rel, hashes[f.key], f.stamp.size, f.exec) for f in files]


def manifest_bytes(files: Iterable[WorkspaceFile], hashes: dict[str, str]) -> bytes:
    """The canonical manifest of files as scan_dir lists them (sorted, unique, safe paths),
    written line by line: no model object per file."""
    return join_lines(line(f.rel, hashes[f.key], f.stamp.size, f.exec) for f in files)


def manifest_oid(files: Iterable[WorkspaceFile], hashes: dict[str, str]) -> str:
    """The hash of the manifest these files would have, without building it."""
    return hash_bytes(manifest_bytes(files, hashes))


def materialize(
    cache: Cache,
    oid: str,
    dest: Path,
    links: list[LinkType],
    executable: bool = False,
    sha256: str | None = None,
) -> Stamp:
    """Write the object `oid` at `dest` atomically, with the first link type that works."""
    return Materializer(cache, links).write(oid, str(dest), executable, sha256)


class Materializer:
    """Writes cache objects into the workspace atomically (a temporary name, then a rename).

    Temporary files live in `.mdflow/tmp/` (git-ignored; named with the writer's pid, so the
    next command that takes the lock removes those a killed writer left), or beside the
    destination when it is on another file system. A copy is hashed as it is written: an
    object whose bytes do not match its name never reaches the workspace, it is moved to
    `.mdflow/quarantine/` and CorruptObjectError is raised. Links (reflink, hardlink,
    symlink) share the object's bytes and are not read: `mdflow fsck` verifies those. Given a
    SHA-256 (`verify: sha256`), every write checks it too: a copy as it is written, a link by
    reading the object first.
    For many files: folders are made once, a copy needs one open of each file, and a link
    type that the filesystem refused once (reflink) is not tried again. Thread-safe.
    """

    def __init__(self, cache: Cache, links: list[LinkType]) -> None:
        self.cache, self.links = cache, links
        self.root = str(cache.root)
        self._folders: dict[str, bool] = {}  # folder -> temporary files go to .mdflow/tmp
        self._names = itertools.count()
        self._token = f"co-{os.getpid()}-{secrets.token_hex(4)}-"
        self._no_reflink = False
        self._links_only = bool({LinkType.hardlink, LinkType.symlink} & set(links))
        self._tmp_dev: int | None = None
        self.corrupt: set[str] = set()

    def write(
        self, oid: str, dest: str, executable: bool = False, sha256: str | None = None
    ) -> Stamp:
        """Write `oid` at `dest`; the stamp of the written file (for the stat cache)."""
        source = self.source(oid)
        tmp = self._tmp_for(dest)
        try:
            stamp = self._write_tmp(source, tmp, executable, oid, sha256)
            os.replace(tmp, dest)
        except BaseException as e:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if not isinstance(e, OSError) or e.errno != errno.EXDEV:
                raise
            self._folders[os.path.dirname(dest)] = False  # a bind mount: write beside it
            return self.write(oid, dest, executable, sha256)
        return stamp

    def source(self, oid: str) -> str:
        """The object's path in the cache; a write raises FileNotFoundError for it when the
        cache does not hold the object."""
        h = hex_of(oid)
        return f"{self.root}/{h[:2]}/{h[2:]}"

    def _tmp_for(self, dest: str) -> str:
        folder, name = os.path.split(dest)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders[folder] = os.stat(folder).st_dev == self._tmp_device()
        n = f"{tag()}{next(self._names)}"
        if self._folders[folder]:
            return f"{self.cache.checkout_tmp}/{self._token}{n}"
        return f"{folder}/.{name[:40]}.{self._token}{n}{TMP_SUFFIX}"

    def _tmp_device(self) -> int:
        if self._tmp_dev is None:
            try:
                self.cache.checkout_tmp.mkdir(parents=True, exist_ok=True)
                self._tmp_dev = os.stat(self.cache.checkout_tmp).st_dev
            except OSError:
                self._tmp_dev = -1
        return self._tmp_dev

    def _write_tmp(
        self, source: str, tmp: str, executable: bool, oid: str, sha256: str | None
    ) -> Stamp:
        if self._links_only:  # a link is made to any name, even of nothing
            self._require(source, oid)
        if sha256 is not None and self.links[0] is not LinkType.copy:  # links read nothing
            self._check_sha256(source, oid, sha256)
            sha256 = None
        for link in self.links:
            if link is LinkType.symlink and executable:  # a link to a read-only object
                continue  # cannot be executable: the next link type, or none works
            if link in (LinkType.hardlink, LinkType.symlink):
                try:
                    (os.link if link is LinkType.hardlink else os.symlink)(source, tmp)
                except OSError:
                    continue
                if link is LinkType.hardlink:  # shares the object: stays read-only
                    os.chmod(tmp, 0o444 | (EXEC_BITS & ~UMASK if executable else 0))
                return Stamp.of(os.stat(tmp))
            if link is LinkType.reflink and self._no_reflink:
                continue
            stamp = self._clone_or_copy(source, tmp, link, executable, oid, sha256)
            if stamp is not None:
                return stamp
        symlinked = executable and LinkType.symlink in self.links
        why = " (an executable file is never a symlink)" if symlinked else ""
        raise MdflowError(
            f"none of the link types {[li.value for li in self.links]} works for "
            f"{os.path.dirname(tmp)}{why}",
            "add copy to cache.link in mdflow.yaml",
        )

    def _clone_or_copy(
        self, source: str, tmp: str, link: LinkType, executable: bool, oid: str, sha256: str | None
    ) -> Stamp | None:
        """A reflink (None when the filesystem cannot) or a verified copy, made writable."""
        src = self._open_source(source, oid)
        try:  # made with its final mode (the umask applies): no chmod after
            mode = 0o666 | (EXEC_BITS if executable else 0)
            dst = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
            try:
                if link is LinkType.reflink:
                    if not _reflink_fd(src, dst):
                        self._no_reflink = True
                        os.close(dst)
                        dst = -1
                        os.unlink(tmp)
                        return None
                elif copy_fd(src, dst, sha256) != (oid, sha256):
                    self._refuse_corrupt(oid)
                return Stamp.of(os.fstat(dst))
            finally:
                if dst >= 0:
                    os.close(dst)
        finally:
            os.close(src)

    def _require(self, source: str, oid: str) -> None:
        if not os.path.isfile(source):
            if self._quarantined(oid):
                raise CorruptObjectError(oid)
            raise FileNotFoundError(errno.ENOENT, "no such object in the cache", source)

    def _open_source(self, source: str, oid: str) -> int:
        try:
            return os.open(source, os.O_RDONLY)
        except FileNotFoundError:
            if self._quarantined(oid):
                raise CorruptObjectError(oid) from None
            raise

    def _check_sha256(self, source: str, oid: str, sha256: str) -> None:
        try:
            if sha256_file(source) == sha256:
                return
        except FileNotFoundError:
            if not self._quarantined(oid):
                raise
        self._refuse_corrupt(oid)

    def _quarantined(self, oid: str) -> bool:
        """Whether a missing object was quarantined while another file was copied from it
        (here, or in another forked worker)."""
        return oid in self.corrupt or self.cache.quarantined(oid)

    def _refuse_corrupt(self, oid: str) -> None:
        self.corrupt.add(oid)
        self.cache.quarantine(oid)
        raise CorruptObjectError(oid)


def _reflink_fd(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, FICLONE, src)
        return True
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY):
            return False
        raise


def debris_beside(folder: Path) -> list[Path]:
    """Partial files a killed checkout left in a dataset's folder (`.<name>.<id>.mdflow-tmp`).

    Older versions of mdflow wrote every temporary file there; this one only when the folder
    is on another file system than `.mdflow/`. Names without a pid come from an older mdflow.
    """
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            name = entry.name
            if name.startswith(".") and name.endswith(TMP_SUFFIX) and entry.is_file():
                pid = writer_pid(name.rsplit(".", 2)[-2])
                if pid is None or (pid != os.getpid() and not alive(pid)):
                    found.append(Path(entry.path))
    return found


def remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def prune_empty_dirs(top: Path) -> None:
    """Remove folders left empty below `top` (not `top` itself)."""
    for folder, _dirs, _files in os.walk(top, topdown=False):
        if Path(folder) != top:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
