"""The history of a dataset: its versions, from Git history and from the remote's catalogue."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mdflow import datasets, gitrepo
from mdflow import pointer as ptr
from mdflow.errors import FormatError, MdflowError
from mdflow.remote import spec
from mdflow.repo import Repo


@dataclass
class Version:
    hash: str
    kind: str
    size: int
    rows: int | None
    files: int | None
    time: int | None  # unix time: the commit that introduced it, else when it was pushed
    commit: str | None
    author: str | None
    subject: str | None
    run: str | None
    url: str | None
    in_git: bool
    on_remote: bool
    stat: str | None = None  # with --stat: what changed since the version before it

    @property
    def date(self) -> datetime | None:
        """When the version appeared (its commit, else its push), in UTC."""
        return None if self.time is None else datetime.fromtimestamp(self.time, UTC)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def log(repo: Repo, arg: str, remote: str | None, stat: bool = False) -> list[Version]:
    """Newest first. `remote` None: Git only; "" the default remote; else that remote."""
    rel = repo.rel(repo.resolve_user_path(arg))
    rel = rel.removesuffix(ptr.SUFFIX)
    versions = from_git(repo, rel)
    if remote is not None:
        _merge_remote(repo, rel, versions, remote or None)
    if not versions:
        raise _no_versions(repo, arg, rel)
    newest_first = list(reversed(versions.values()))  # Git order breaks ties in time
    ordered = sorted(newest_first, key=lambda v: v.time or 0, reverse=True)
    if stat:
        add_stats(repo, rel, ordered)
    return ordered


def _no_versions(repo: Repo, arg: str, rel: str) -> MdflowError:
    """Why there is nothing to list: no commit yet, a pointer not committed, or a wrong path."""
    pointer_rel = rel + ptr.SUFFIX
    if (repo.root / pointer_rel).is_file():
        why = "no commit yet" if not gitrepo.has_commits(repo.root) else "it is not committed"
        return MdflowError(
            f"{arg} has no history yet ({why})",
            f"commit its pointer (git add {pointer_rel} && git commit), then mdflow log",
        )
    return MdflowError(f"{arg} has no versions in Git history or on the remote", "check the path")


def add_stats(repo: Repo, rel: str, versions: list[Version]) -> None:
    """Each version's change against the next older one, from what the cache holds."""
    from mdflow import render
    from mdflow.changes import VersionRef
    from mdflow.compare import Options, Side, compare
    from mdflow.profile import Profiles

    def side(v: Version) -> Side:
        ref = VersionRef(hash=v.hash, kind=v.kind, size=v.size, files=v.files, rows=v.rows)
        out = Side(rel, ref)
        if v.kind == "dir":
            out.manifest = datasets.cached_manifest(repo, v.hash, rel)
        elif repo.cache.has(v.hash):
            out.opener = lambda: repo.cache.open(v.hash)
        return out

    opt = Options(Profiles(repo.dot / "profiles"), key_for=lambda _p: [], rows=False)
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        if older is None:
            newer.stat = "first version"
            continue
        changes = compare({rel: side(older)}, {rel: side(newer)}, opt)
        newer.stat = render.headline(changes[0]) if changes else "no change"


def from_git(
    repo: Repo, rel: str, all_refs: bool = False, rev: str | None = None
) -> dict[str, Version]:
    """The versions of `rel` in the history of HEAD or `rev` (with `all_refs`: of any branch
    or tag), by hash, oldest first, each with the commit that introduced it."""
    pointer_rel = rel + ptr.SUFFIX
    commits = gitrepo.history(repo.root, pointer_rel, all_refs, rev)
    if not commits:
        return {}
    reader = gitrepo.BlobReader(repo.root)
    versions: dict[str, Version] = {}
    try:
        for commit, stamp, author, subject in reversed(commits):  # oldest first
            try:
                text = reader.read(f"{commit}:{pointer_rel}")
            except Exception:  # the pointer was deleted in this commit
                continue
            try:
                p = ptr.Pointer.from_yaml(text, f"{commit[:10]}:{pointer_rel}")
            except FormatError:
                continue
            v = versions.setdefault(
                p.hash,
                Version(
                    p.hash,
                    p.kind,
                    p.size,
                    p.rows,
                    p.files,
                    stamp,
                    commit,
                    author,
                    subject,
                    None,
                    None,
                    True,
                    False,
                ),
            )
            v.run, v.url = p.run or v.run, p.url or v.url
    finally:
        reader.close()
    return versions


def _merge_remote(repo: Repo, rel: str, versions: dict[str, Version], name: str | None) -> None:
    found = spec(repo.config.remote, repo.root, name)
    if not found.shared and not (repo.root / found.url).exists():
        return  # no embedded store yet: nothing was pushed to it (and reading creates none)
    with repo.remote(name, "use --no-remote for Git history only") as remote:
        records = remote.catalog.versions(rel)
    held: dict[str, Version] | None = None
    for r in records:
        if r.pending and r.hash not in versions:  # recorded before a commit: which may not be
            held = from_git(repo, rel, all_refs=True) if held is None else held
            if r.hash not in held:
                continue  # no commit holds it: not a version
            versions[r.hash] = replace(held[r.hash], in_git=False)
        v = versions.get(r.hash)
        if v is None:
            v = versions[r.hash] = Version(
                r.hash,
                r.kind,
                r.size,
                r.rows,
                r.files,
                r.time,
                r.commit,
                r.author,
                None,
                None,
                None,
                False,
                True,
            )
        v.on_remote = True
        v.run, v.url = r.run.uri, r.run.url


def find(repo: Repo, arg: str, which: str, remote: str | None) -> Version:
    """The version named by a hash prefix, or `latest` (the newest pushed one)."""
    versions = log(repo, arg, remote)
    if which == "latest":
        pushed = [v for v in versions if v.on_remote]
        if not pushed:
            raise MdflowError(f"no version of {arg} is on the remote", "push one first")
        return pushed[0]
    prefix = which.removeprefix("xxh3-128:").lower()
    hits = [v for v in versions if v.hash.split(":")[1].startswith(prefix)]
    if len(hits) != 1:
        found = "no version" if not hits else f"{len(hits)} versions"
        raise MdflowError(f"{found} of {arg} match {which!r}", "see mdflow log for the versions")
    return hits[0]
