"""Git access. Reading many blobs goes through GitPython's long-lived `git cat-file --batch`;
the few plumbing calls on the hot path of status/add run `git` directly, because importing
GitPython costs ~50 ms that a no-op `mdflow status` cannot afford.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mdflow.errors import MdflowError

if TYPE_CHECKING:
    import git

POINTER_GLOB = "*.mdflow"
BLOB_MODES = ("100644", "100755")  # a file; not a symlink (120000) nor a submodule (160000)
_STAGED = re.compile(r"(\d{6}) ([0-9a-f]{40,64}) \d\t(.*)", re.DOTALL)


def run(
    root: Path,
    *args: str,
    ok_codes: tuple[int, ...] = (0,),
    hint: str = "check the repository with git status",
    env: dict[str, str] | None = None,
) -> bytes:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False, env=env)
    if proc.returncode not in ok_codes:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise MdflowError(f"git {args[0]} failed: {err[-1] if err else proc.returncode}", hint)
    return proc.stdout


def blob(root: Path, spec: str) -> bytes:
    """The content of one blob, named `<rev>:<path>` or by id (in a partial clone, git fetches
    it on demand)."""
    return run(root, "cat-file", "blob", spec, hint="check the revision and the path")


def _z(data: bytes) -> list[str]:
    return [p for p in data.decode("utf-8", "surrogateescape").split("\0") if p]


def pointer_files(root: Path) -> list[str]:
    """Pointer files in the index (blobs only: no symlink or submodule) or untracked but not
    ignored (regular files only), relative to the root."""
    out = run(
        root,
        *("ls-files", "-z", "--stage", "--cached", "--others", "--exclude-standard"),
        *("--", POINTER_GLOB),
    )
    found = set()
    for entry in _z(out):
        staged = _STAGED.fullmatch(entry)
        if staged is not None:
            if blob := _staged_blob(staged):
                found.add(blob[1])
        elif stat.S_ISREG(os.lstat(root / entry).st_mode):
            found.add(entry)
    return sorted(found)


def _staged_blob(staged: re.Match[str] | None) -> tuple[str, str] | None:
    """(blob id, path) of an `ls-files --stage` entry that is a file (not a symlink or a
    submodule)."""
    if staged is None or staged.group(1) not in BLOB_MODES:
        return None
    return staged.group(2), staged.group(3)


def tracked_files(root: Path, rels: Iterable[str]) -> list[str]:
    """Files of the index at or below the given paths."""
    specs = [f":(literal){r}" for r in rels]
    return _z(run(root, "ls-files", "-z", "--cached", "--", *specs)) if specs else []


def staged_sizes(root: Path, paths: list[str]) -> dict[str, int]:
    """Sizes of the staged blobs of `paths` (those the index holds), in one
    `git cat-file --batch-check`."""
    if not paths:
        return {}
    proc = subprocess.run(
        ["git", "cat-file", "--batch-check=%(objectsize)"],
        cwd=root,
        input="".join(f":{p}\n" for p in paths).encode(),
        capture_output=True,
        check=True,
    )
    sizes = proc.stdout.decode().split()
    return {p: int(s) for p, s in zip(paths, sizes, strict=False) if s.isdigit()}


def is_ignored(root: Path, rel: str) -> bool:
    proc = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "--", rel],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def head_info(root: Path) -> dict[str, str]:
    """Commit, branch and author name of the checkout, where known."""
    info = {}
    for key, args in (
        ("commit", ("rev-parse", "-q", "--verify", "HEAD")),
        ("branch", ("symbolic-ref", "--short", "-q", "HEAD")),
        ("author", ("config", "user.name")),
    ):
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            info[key] = proc.stdout.strip()
    return info


def pointer_blobs_at(root: Path, rev: str) -> dict[str, str]:
    """Path -> blob id of every pointer in the tree of `rev`."""
    return _tree_pointers(root, resolve(root, rev))


def _tree_pointers(root: Path, tree_ish: str) -> dict[str, str]:
    """Path -> blob id of every pointer in a tree: files named `*.mdflow` (not symlinks or
    submodules so named), read NUL-separated."""
    out = run(root, "ls-tree", "-r", "-z", "--full-tree", tree_ish)
    blobs: dict[str, str] = {}
    for entry in _z(out):  # `<mode> <type> <id>\t<path>`
        meta, _, path = entry.partition("\t")
        mode, _kind, blob = meta.split()
        if mode in BLOB_MODES and path.endswith(POINTER_GLOB[1:]):
            blobs[path] = blob
    return blobs


def resolve(root: Path, rev: str) -> str:
    """The commit id of `rev`; a one-line error when it names no commit."""
    proc = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", f"{rev}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise MdflowError(f"{rev!r} is not a commit in this repository", "check it with git log")
    return proc.stdout.strip()


def has_commits(root: Path) -> bool:
    """Whether HEAD names a commit (false in a repository before its first commit)."""
    proc = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", "HEAD^{commit}"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def history(
    root: Path, rel: str, all_refs: bool = False, rev: str | None = None
) -> list[tuple[str, int, str, str]]:
    """(commit, unix time, author, subject) of the commits that changed `rel`, newest first:
    in the history of HEAD (or of `rev`), or with `all_refs` of every branch and tag (none
    before the first commit)."""
    if not has_commits(root):
        return []
    refs = ["--all"] if all_refs else [rev] if rev else []
    out = run(root, "log", *refs, "-z", "--format=%H%x1f%ct%x1f%an%x1f%s", "--", rel)
    rows = []
    for record in _z(out):
        commit, stamp, author, subject = record.strip("\n").split("\x1f", 3)
        rows.append((commit, int(stamp), author, subject))
    return rows


def open_repo(root: Path) -> git.Repo:
    import git

    try:
        return git.Repo(root)
    except git.exc.GitError as e:  # pragma: no cover - root was found by looking for .git
        raise MdflowError(f"cannot open Git repository {root}: {e}", "check it with git") from e


def reachable_pointer_blobs(root: Path) -> dict[str, str]:
    """Blob id -> path of every pointer reachable from any ref, reflog, stash or index."""
    blobs = pointer_blobs_in(root, "--all", "--reflog")
    for tree in _tree_refs(root):
        blobs |= {blob: path for path, blob in _tree_pointers(root, tree).items()}
    for worktree in _worktrees(root):
        out = run(worktree, "ls-files", "-z", "--stage", "--", POINTER_GLOB)
        for entry in _z(out):
            if blob := _staged_blob(_STAGED.fullmatch(entry)):
                blobs[blob[0]] = blob[1]
    return blobs


def pointer_blobs_in(root: Path, *revs: str) -> dict[str, str]:
    """Blob id -> path of every pointer any commit of `revs` (rev-list arguments) adds or
    changes. Paths are read NUL-separated, so any name works; folders, symlinks and
    submodules named `*.mdflow` are not pointers."""
    out = run(
        root,
        *("log", "--format=", "--raw", "-z", "-m", "--no-renames", "--no-abbrev"),
        *revs,
        "--",
    )
    blobs: dict[str, str] = {}
    fields = iter(_z(out))
    for header in fields:  # `:<old mode> <new mode> <old id> <new id> <status>`, then a path
        meta = header.lstrip("\n").split()
        path = next(fields, "")
        if len(meta) == 5 and meta[1] in BLOB_MODES and path.endswith(POINTER_GLOB[1:]):
            blobs[meta[3]] = path
    return blobs


def _tree_refs(root: Path) -> list[str]:
    """Trees that refs name directly (`git tag t HEAD^{tree}`), not through a commit: `git log
    --all` does not see them."""
    out = run(
        root, "for-each-ref", "--format=%(objecttype) %(objectname) %(*objecttype) %(*objectname)"
    )
    trees = []
    for line in out.decode().splitlines():
        kind, name, peeled_kind, peeled = [*line.split(), "", ""][:4]
        if kind == "tree":
            trees.append(name)
        elif kind == "tag" and peeled_kind == "tree":
            trees.append(peeled)
    return trees


def _worktrees(root: Path) -> list[Path]:
    out = run(root, "worktree", "list", "--porcelain", "-z")
    found = [Path(f[len("worktree ") :]) for f in _z(out) if f.startswith("worktree ")]
    return [w for w in found if w.is_dir()] or [root]


class BlobReader:
    """Reads many blobs through one `git cat-file --batch` process."""

    def __init__(self, root: Path) -> None:
        self.repo = open_repo(root)

    def read(self, sha: str) -> bytes:
        _, kind, _, data = self.repo.git.get_object_data(sha)
        if kind not in ("blob", b"blob"):
            raise MdflowError(f"git object {sha} is a {kind!r}, not a blob", "")
        return bytes(data)

    def read_many(self, shas: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for sha in shas:
            yield sha, self.read(sha)

    def close(self) -> None:
        self.repo.close()
