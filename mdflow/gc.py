"""Garbage collection: cache objects no pointer of any ref, reflog, stash, index or worktree
needs, once they are older than the expiry."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from mdflow import gitrepo
from mdflow.errors import FormatError, MdflowError
from mdflow.manifest import Manifest
from mdflow.pointer import Pointer
from mdflow.repo import Repo

DEFAULT_EXPIRY = 14 * 86400
TMP_EXPIRY = 86400
_HASH_IN_TEXT = re.compile(rb"xxh3-128:[0-9a-f]{32}")
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class GcPlan:
    referenced: int
    unreachable: list[str] = field(default_factory=list)  # unreferenced, old enough: to delete
    young: int = 0  # unreferenced but kept (younger than the expiry)
    missing_manifests: list[str] = field(default_factory=list)
    stale_tmp: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


def parse_expiry(value: str) -> float:
    """`now`, `never`, or a duration like `14d`, `12h`: seconds an object must have aged."""
    if value == "now":
        return 0.0
    if value == "never":
        return float("inf")
    m = _DURATION.match(value.strip())
    if not m:
        raise MdflowError(f"--prune={value} is not a duration", "use now, never, or e.g. 14d, 12h")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


def plan(repo: Repo, expiry: float) -> GcPlan:
    """What gc would delete; reads every pointer of every ref, reflog, stash, index, worktree."""
    referenced, missing = referenced_objects(repo)
    now = time.time()
    out = GcPlan(len(referenced), missing_manifests=missing)
    for oid in repo.cache.oids():
        if oid in referenced:
            continue
        st = repo.cache.path(oid).stat()
        if now - st.st_mtime >= expiry:
            out.unreachable.append(oid)
            out.freed_bytes += st.st_size
        else:
            out.young += 1
    if repo.cache.tmp.is_dir():
        out.stale_tmp = [
            p for p in repo.cache.tmp.iterdir() if now - p.stat().st_mtime >= TMP_EXPIRY
        ]
    return out


def execute(repo: Repo, gc_plan: GcPlan) -> None:
    with repo.stat_cache() as state:
        state.forget_complete()
        for oid in gc_plan.unreachable:
            repo.cache.path(oid).unlink(missing_ok=True)
        for tmp in gc_plan.stale_tmp:
            tmp.unlink(missing_ok=True)


def referenced_objects(repo: Repo) -> tuple[set[str], list[str]]:
    """Objects any pointer needs, and referenced manifests absent from the cache."""
    texts = _pointer_texts(repo)
    referenced: set[str] = set()
    dirs: set[str] = set()
    for origin, text in texts:
        try:
            p = Pointer.from_yaml(text, origin)
        except FormatError:  # unreadable pointer: keep every hash it mentions, to be safe
            found = {m.decode() for m in _HASH_IN_TEXT.findall(text)}
            referenced |= found
            dirs |= {oid for oid in found if repo.cache.has(oid)}
            continue
        referenced |= p.tops()
        if p.kind == "dir":
            dirs.add(p.hash)
    missing = []
    for oid in sorted(dirs):
        try:
            data = repo.cache.path(oid).read_bytes()
        except FileNotFoundError:
            missing.append(oid)
            continue
        try:
            referenced |= {f.hash for f in Manifest.from_bytes(data, oid).files}
        except FormatError:
            referenced |= {m.decode() for m in _HASH_IN_TEXT.findall(data)}
    return referenced, missing


def _pointer_texts(repo: Repo) -> list[tuple[str, bytes]]:
    texts: list[tuple[str, bytes]] = []
    for rel in gitrepo.pointer_files(repo.root):  # the working tree, including untracked
        path = repo.root / rel
        if path.is_file():
            texts.append((rel, path.read_bytes()))
    blobs = gitrepo.reachable_pointer_blobs(repo.root)
    if blobs:
        reader = gitrepo.BlobReader(repo.root)
        try:
            texts += [(f"{blobs[sha]} ({sha[:10]})", data) for sha, data in reader.read_many(blobs)]
        finally:
            reader.close()
    return texts
