"""Diffs (`mdflow diff [REV_A [REV_B]] [PATH...]`): what changed in the data between two
versions.

Sides are Git revisions or the workspace (the default new side, like `git diff`). Pointers
are read from Git; manifests and table contents come from the cache, the workspace or, when
missing and allowed, the remote (downloaded and verified into the cache first).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from mdflow import datasets, gitrepo, tables
from mdflow.changes import DiffReport, VersionRef
from mdflow.compare import Opener, Options, Side, compare
from mdflow.config import roles_for
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.manifest import Manifest
from mdflow.profile import Profiles
from mdflow.repo import Repo
from mdflow.workspace import Hasher, entries_of

WORKSPACE = "workspace"


@dataclass
class DiffRequest:
    revs: list[str] = field(default_factory=list)  # 0, 1 or 2 revisions; "A...B" or "A..B"
    paths: list[str] = field(default_factory=list)
    key: list[str] | None = None  # key columns for every table (else from mdflow.yaml)
    rows: bool = True  # compare table rows when both sides' data are available
    fetch: bool = True  # download missing manifests and tables from the default remote
    separated: bool = False  # the paths followed `--`: none of them can be a revision


def split_args(
    repo: Repo, args: list[str], separated: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """Leading arguments naming commits are revisions, the rest paths (as `git diff`); with
    `separated` (what followed `--`), `args` are all revisions and `separated` the paths."""
    if separated is not None:
        for arg in args:
            if not _is_rev(repo, arg):
                raise MdflowError(
                    f"{arg} is not a revision", "check it with git log (paths go after --)"
                )
        return args, separated
    revs: list[str] = []
    for i, arg in enumerate(args):
        if len(revs) == 2 or not _is_rev(repo, arg):
            return revs, args[i:]
        if Path(arg).exists():
            raise MdflowError(
                f"{arg!r} is both a revision and a path",
                f"write the path as ./{arg}, or after --",
            )
        revs.append(arg)
    return revs, []


def _is_rev(repo: Repo, arg: str) -> bool:
    for sep in ("...", ".."):
        if sep in arg:
            a, _, b = arg.partition(sep)
            return all(_is_rev(repo, x or "HEAD") for x in (a, b))
    try:
        gitrepo.resolve(repo.root, arg)
    except MdflowError:
        return False
    return True


def sides(repo: Repo, revs: list[str]) -> tuple[str, str | None, str, str | None]:
    """(old label, old commit, new label, new commit); a None commit is the workspace."""
    if len(revs) == 1 and ("..." in revs[0] or ".." in revs[0]):
        sep = "..." if "..." in revs[0] else ".."
        a, _, b = revs[0].partition(sep)
        a, b = a or "HEAD", b or "HEAD"
        new = gitrepo.resolve(repo.root, b)
        if sep == "...":
            base = gitrepo.run(repo.root, "merge-base", a, b).decode().strip()
            return f"{a}...{b} (merge base)", base, b, new
        return a, gitrepo.resolve(repo.root, a), b, new
    if len(revs) > 2:
        raise MdflowError("mdflow diff takes at most two revisions", "see mdflow diff --help")
    old = revs[0] if revs else "HEAD"
    if len(revs) == 2:
        return old, gitrepo.resolve(repo.root, old), revs[1], gitrepo.resolve(repo.root, revs[1])
    return old, gitrepo.resolve(repo.root, old), WORKSPACE, None


def diff(repo: Repo, req: DiffRequest) -> DiffReport:
    old_label, old_commit, new_label, new_commit = sides(repo, req.revs)
    every_old = datasets.at_revision(repo, old_commit, []) if old_commit else []
    every_new = (
        datasets.at_revision(repo, new_commit, []) if new_commit else datasets.select(repo, [])
    )
    old_sets, new_sets = _narrow(repo, every_old, every_new, req)
    if req.fetch:
        _fetch_missing(repo, old_sets, new_sets, req.rows)
    old = {v.path: v for v in (_from_cache(repo, d) for d in old_sets)}
    if new_commit:
        new = {v.path: v for v in (_from_cache(repo, d) for d in new_sets)}
    else:
        new = _workspace_versions(repo, new_sets)
    opt = Options(
        profiles=Profiles(repo.dot / "profiles"),
        key_for=functools.partial(_key_for, repo, req.key),
        rows=req.rows,
        labels=(old_label, new_label),
    )
    return DiffReport(
        before=old_label,
        after=new_label,
        before_commit=old_commit,
        after_commit=new_commit,
        datasets=compare(old, new, opt),
    )


def _narrow(
    repo: Repo, old: list[Dataset], new: list[Dataset], req: DiffRequest
) -> tuple[list[Dataset], list[Dataset]]:
    """The datasets the paths name on each side; a path must be tracked on one side at least."""
    if not req.paths:
        return old, new
    found: tuple[list[str], list[str]] = ([], [])
    for arg in req.paths:
        hit = False
        for every, names in ((old, found[0]), (new, found[1])):
            try:
                datasets.choose(repo, every, [arg])
            except MdflowError:
                continue
            names.append(arg)
            hit = True
        if not hit:
            raise _untracked(repo, arg, req.separated)
    return (
        datasets.choose(repo, old, found[0]) if found[0] else [],
        datasets.choose(repo, new, found[1]) if found[1] else [],
    )


def _untracked(repo: Repo, arg: str, separated: bool) -> MdflowError:
    """The error for an argument that names no dataset on either side."""
    if separated:
        return MdflowError(f"{arg} is not tracked by mdflow on either side", "check the path")
    if _is_rev(repo, arg):
        return MdflowError(
            f"{arg} is a revision where a path was expected",
            "name at most two revisions, first: mdflow diff REV_A REV_B -- PATH",
        )
    return MdflowError(
        f"{arg} is not a revision or a tracked path",
        "check it with git log or mdflow list; paths can follow --: mdflow diff REV -- PATH",
    )


def _key_for(repo: Repo, override: list[str] | None, path: str) -> list[str]:
    if override is not None:
        return override
    roles = roles_for(repo.config.datasets, path)
    return roles.key if roles else []


def _ref(d: Dataset) -> VersionRef:
    p = d.pointer
    return VersionRef(
        hash=p.hash,
        kind=p.kind,
        size=p.size,
        files=p.files,
        rows=p.rows,
        columns=p.columns,
        run=p.run,
        url=p.url,
    )


def _narrowed(d: Dataset, manifest: Manifest | None) -> Manifest | None:
    if manifest is None or d.only is None:
        return manifest
    return Manifest.model_construct(files=[f for f in manifest.files if d.wants(f.path)])


def _from_cache(repo: Repo, d: Dataset) -> Side:
    rel = repo.rel(d.data)
    v = Side(rel, _ref(d))
    if d.kind == "dir":
        v.manifest = _narrowed(d, datasets.cached_manifest(repo, d.pointer.hash, rel))
    elif repo.cache.has(d.pointer.hash):
        v.opener = functools.partial(repo.cache.open, d.pointer.hash)
    return v


def _workspace_versions(repo: Repo, chosen: list[Dataset]) -> dict[str, Side]:
    with repo.stat_cache() as state:
        hasher = Hasher(state)
        return {v.path: v for v in (_from_workspace(repo, hasher, d) for d in chosen)}


def _from_workspace(repo: Repo, hasher: Hasher, d: Dataset) -> Side:
    """The workspace's data when it is there (added or not), else the pointer's version."""
    ws = datasets.inspect(repo, hasher, d.data)
    if ws.kind is None or ws.oid == d.pointer.hash or ws.oid is None:
        v = _from_cache(repo, d)
        if ws.kind is None:
            v.note = f"{v.path} is not in the workspace: its pointer is compared"
        elif d.kind == "file":
            v.opener = _opener(d.data)
        return v
    files = entries_of(ws.files, ws.hashes)
    size = sum(f.size for f in files)
    ref = VersionRef(hash=ws.oid, kind=ws.kind, size=size)
    v = Side(
        repo.rel(d.data), ref, note=f"{repo.rel(d.data)} differs from its pointer (not yet added)"
    )
    if ws.kind == "dir":
        ref.files = len(files)
        v.manifest = _narrowed(d, Manifest.model_construct(files=files))
    else:
        v.opener = _opener(d.data)
    return v


def _fetch_missing(repo: Repo, old: list[Dataset], new: list[Dataset], rows: bool) -> None:
    """Download what comparing the changed datasets needs and the cache lacks: manifests,
    and tables for row comparisons. Best effort: what stays missing is named in the notes.
    """
    before = {repo.rel(d.data): d for d in old}
    wanted = set()
    for d in new:
        was = before.get(repo.rel(d.data))
        if was is None or was.pointer.hash == d.pointer.hash:
            continue
        for side in (was, d):
            if side.kind == "dir" or (rows and tables.table_kind(side.data.name)):
                wanted.add(side.pointer.hash)
    from mdflow.sync import fetch_missing

    fetch_missing(repo, wanted)


def _opener(path: Path) -> Opener:
    return lambda: path.open("rb")
