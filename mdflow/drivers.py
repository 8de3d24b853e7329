"""Git drivers for pointer files: a textconv for readable `git diff`, and a merge driver.

`.gitattributes` routes `*.mdflow` to both (`diff=mdflow merge=mdflow`); `mdflow install`
configures them in `.git/config` (docs/git-drivers.md). Both work from the local cache only
(the merge driver also tries the default remote for manifests it lacks) and never fail a
`git diff`: a pointer they cannot read is shown as it is.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from mdflow import datasets, gitrepo, tables
from mdflow.errors import FormatError
from mdflow.manifest import Manifest, ManifestEntry
from mdflow.pointer import Pointer, write_atomic
from mdflow.profile import Profiles
from mdflow.render import human, plural
from mdflow.repo import Repo

ATTRIBUTES = "*.mdflow diff=mdflow merge=mdflow"
GIT_CONFIG = {
    "diff.mdflow.textconv": "mdflow hook textconv",
    "merge.mdflow.name": "mdflow pointer merge (folders merged file by file)",
    "merge.mdflow.driver": "mdflow hook merge %O %A %B %P",
}


def install(repo: Repo) -> bool:
    """Route pointer files to the drivers: .gitattributes (committed) and .git/config.
    Returns whether .gitattributes changed."""
    path = repo.root / ".gitattributes"
    text = path.read_text() if path.exists() else ""
    changed = ATTRIBUTES not in text.splitlines()
    if changed:
        path.write_text(
            text + ("" if not text or text.endswith("\n") else "\n") + ATTRIBUTES + "\n"
        )
    for key, value in GIT_CONFIG.items():
        gitrepo.run(repo.root, "config", "--local", key, value)
    return changed


def textconv(repo: Repo, blob_file: Path) -> str:
    """The pointer as it is, then what its data holds: columns of a table, files of a folder."""
    raw = blob_file.read_bytes()
    text = raw.decode("utf-8", "replace")
    try:
        p = Pointer.from_yaml(raw, str(blob_file))
    except FormatError:
        return text
    lines = [text.rstrip("\n"), "# --- data (mdflow) ---"]
    if p.kind == "dir":
        lines += _folder_lines(repo, p)
    elif tables.table_kind(p.path):
        lines += _table_lines(repo, p)
    return "\n".join(lines) + "\n"


def _folder_lines(repo: Repo, p: Pointer) -> list[str]:
    manifest = _manifest(repo, p.hash)
    if manifest is None:
        return ["# files: not in the local cache (mdflow pull to list them)"]
    return [f"# {f.path}  {human(f.size)}  {f.hash.split(':')[1][:12]}" for f in manifest.files]


def _table_lines(repo: Repo, p: Pointer) -> list[str]:
    if not repo.cache.has(p.hash):
        return ["# columns: not in the local cache (mdflow pull to list them)"]
    try:
        profile = Profiles(repo.dot / "profiles").get(
            p.hash, p.path, lambda: repo.cache.open(p.hash)
        )
    except Exception as e:  # not readable as a table: the pointer lines still show
        return [f"# columns: unreadable ({type(e).__name__})"]
    return [f"# column {c.name}: {c.dtype}, {plural(c.nulls, 'null')}" for c in profile.columns]


def _manifest(repo: Repo, oid: str) -> Manifest | None:
    """The cached manifest, or None when it is missing or unreadable (drivers never fail)."""
    try:
        return datasets.cached_manifest(repo, oid, oid)
    except FormatError:
        return None


@dataclass
class MergeResult:
    pointer: Pointer | None  # the merged pointer, or None on a conflict
    conflicts: list[str]  # files changed on both sides, or the whole dataset
    message: str


def merge(
    repo: Repo, base: Pointer | None, ours: Pointer, theirs: Pointer, shown: str
) -> MergeResult:
    """Three-way merge of a pointer; folders are merged file by file through their manifests."""
    if ours.hash == theirs.hash:
        return MergeResult(ours, [], "same version on both sides")
    if base is not None and base.hash == ours.hash:
        return MergeResult(theirs, [], "changed on their side only")
    if base is not None and base.hash == theirs.hash:
        return MergeResult(ours, [], "changed on our side only")
    if not (base and ours.kind == theirs.kind == base.kind == "dir"):
        return MergeResult(None, [shown], "both sides changed the data")
    from mdflow.sync import fetch_missing

    fetch_missing(repo, {base.hash, ours.hash, theirs.hash})
    manifests = [_manifest(repo, p.hash) for p in (base, ours, theirs)]
    if any(m is None for m in manifests):
        return MergeResult(None, [shown], "a manifest is not in the local cache (mdflow pull)")
    merged, conflicts = merge_files(*(m.files for m in manifests if m is not None))
    if conflicts:
        return MergeResult(
            None, conflicts, f"{plural(len(conflicts), 'file')} changed on both sides"
        )
    manifest = Manifest.of(merged)
    oid = repo.cache.put_bytes(manifest.to_bytes())
    pointer = ours.model_copy(
        update={
            "hash": oid,
            "size": manifest.size,
            "files": len(manifest.files),
            "run": None,
            "url": None,
        }
    )
    return MergeResult(pointer, [], f"merged {plural(len(manifest.files), 'file')}")


def merge_files(
    base: list[ManifestEntry], ours: list[ManifestEntry], theirs: list[ManifestEntry]
) -> tuple[list[ManifestEntry], list[str]]:
    """File-by-file three-way merge: a file changed on one side takes that side's version."""
    b, o, t = ({e.path: e for e in side} for side in (base, ours, theirs))
    merged, conflicts = [], []
    for path in sorted(b.keys() | o.keys() | t.keys()):
        eb, eo, et = b.get(path), o.get(path), t.get(path)
        if eo == et:
            pick = eo
        elif eo == eb:
            pick = et
        elif et == eb:
            pick = eo
        else:
            conflicts.append(path)
            continue
        if pick is not None:
            merged.append(pick)
    return merged, conflicts


def conflict_text(ours: Pointer, theirs: Pointer, result: MergeResult, shown: str) -> str:
    """What git leaves in the pointer file: both versions, and how to pick one."""
    return (
        f"<<<<<<< ours: {_describe(ours)}\n{ours.to_yaml()}=======\n{theirs.to_yaml()}"
        f">>>>>>> theirs: {_describe(theirs)}\n"
        f"# mdflow: {result.message}"
        + (f": {', '.join(result.conflicts[:5])}" if result.conflicts != [shown] else "")
        + f"\n# resolve with: mdflow checkout --ours {_data_path(shown)}"
        f"  (or --theirs), then git add {shown}\n"
    )


def _describe(p: Pointer) -> str:
    parts = [p.hash.split(":")[1][:12], human(p.size)]
    if p.rows is not None:
        parts.append(f"{p.rows:,} row{'' if p.rows == 1 else 's'}")
    if p.files is not None:
        parts.append(f"{p.files:,} file{'' if p.files == 1 else 's'}")
    return ", ".join(parts)


def _data_path(pointer_path: str) -> str:
    return pointer_path.removesuffix(".mdflow")


def merge_driver(repo: Repo, base: Path, ours: Path, theirs: Path, shown: str) -> tuple[int, str]:
    """`git merge` calls this with the three versions; the result goes into `ours`.

    Returns git's exit code (0 merged, 1 conflict) and a line for the user.
    """
    try:
        raw = base.read_bytes()
        old = Pointer.from_yaml(raw, f"{shown} (base)") if raw.strip() else None
        a = Pointer.from_yaml(ours.read_bytes(), f"{shown} (ours)")
        b = Pointer.from_yaml(theirs.read_bytes(), f"{shown} (theirs)")
    except FormatError:  # not pointers we can read: an ordinary line merge
        proc = subprocess.run(
            [
                "git",
                "merge-file",
                "-L",
                "ours",
                "-L",
                "base",
                "-L",
                "theirs",
                str(ours),
                str(base),
                str(theirs),
            ],
            cwd=repo.root,
            capture_output=True,
            check=False,
        )
        return (0 if proc.returncode == 0 else 1), f"mdflow: {shown}: merged as text"
    result = merge(repo, old, a, b, shown)
    if result.pointer is not None:
        write_atomic(ours, result.pointer.to_yaml().encode())
        return 0, f"mdflow: {shown}: {result.message}"
    write_atomic(ours, conflict_text(a, b, result, shown).encode())
    what = f" ({', '.join(result.conflicts[:5])})" if result.conflicts != [shown] else ""
    return 1, (
        f"mdflow: conflict in {shown}: {result.message}{what}; ours {_describe(a)}, theirs "
        f"{_describe(b)} — keep one with mdflow checkout --ours|--theirs {_data_path(shown)}"
    )
