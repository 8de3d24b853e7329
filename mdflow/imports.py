"""Imports: datasets taken from another repository (`mdflow import`, `mdflow update`).

An imported dataset is an ordinary dataset of this repository (its objects are copied into
this cache, so status, checkout and push work as for any other) whose pointer also records
`source:` — the repository, the path there, the revision followed and the commit read.
`mdflow update` moves it to the newest version of that revision.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from mdflow import datasets, gitignore, integrity, urls
from mdflow import pointer as ptr
from mdflow.checkout import checkout_datasets
from mdflow.datasets import Dataset, Located
from mdflow.errors import MdflowError
from mdflow.manifest import Manifest
from mdflow.pointer import ImportSource, Pointer
from mdflow.reading import fill_cache, locate, parts, reference
from mdflow.repo import Repo
from mdflow.tables import counter_for


def import_dataset(repo: Repo, source: str, path: str, rev: str | None, out: str | None) -> Dataset:
    """Copy a version from `source` into this repository at `out` (default: the path's name
    in the current folder) and write its pointer, which remembers where it came from."""
    if urls.public(source) != source:
        raise MdflowError(
            "the repository URL holds a password or token, which would be committed in the pointer",
            "use a credential helper or SSH keys instead",
        )
    src, loc = locate(path, rev or "HEAD", source)
    ref = reference(src, loc)
    dest = repo.resolve_user_path(out or PurePosixPath(ref.path).name)
    if os.path.lexists(dest) or ptr.pointer_path_for(dest).exists():
        raise MdflowError(
            f"{repo.rel(dest)} already exists",
            "mdflow update it, or import to another place with -o",
        )
    origin = ImportSource(repo=src.location, path=ref.path, rev=rev, commit=ref.commit)
    return _bring(repo, src.repo, loc, dest, origin, {})


def update(repo: Repo, arg: str, rev: str | None = None) -> tuple[Dataset, Dataset]:
    """Move an imported dataset to the newest version of the revision it follows (or to
    `rev`, which it follows from then on). Returns (before, after)."""
    (d,) = datasets.choose(repo, datasets.all_datasets(repo), [arg])
    origin = d.pointer.source
    if origin is None or d.only is not None:
        raise MdflowError(
            f"{arg} was not imported", "mdflow import REPO PATH brings a dataset from elsewhere"
        )
    follow = rev or origin.rev
    src, loc = locate(origin.path, follow or "HEAD", origin.repo)
    if loc.commit == origin.commit:
        return d, d
    moved = origin.model_copy(update={"rev": follow, "commit": loc.commit})
    return d, _bring(repo, src.repo, loc, d.data, moved, dict(d.pointer.model_extra or {}))


def _bring(
    repo: Repo,
    source: Repo,
    loc: Located,
    dest: Path,
    origin: ImportSource,
    extra: dict[str, Any],
) -> Dataset:
    """Fill the source's cache, copy the version's objects into ours (verified), write the
    pointer and the .gitignore entry, then check the data out."""
    fill_cache(source, loc)
    fields = _adopt(repo, source, loc)
    if integrity.on(repo):
        fields |= integrity.seal(repo, fields["kind"], fields["hash"], repo.rel(dest), None)
    pointer = Pointer.model_validate(
        {**extra, "path": dest.name, **fields, "source": origin.model_dump()}
    )
    pointer_file = ptr.pointer_path_for(dest)
    dataset = Dataset(pointer_file, pointer, dest)
    with repo.lock():
        dest.parent.mkdir(parents=True, exist_ok=True)
        ptr.save(pointer_file, pointer)
        gitignore.add(dest.parent, dest.name)
        report = checkout_datasets(repo, [dataset])
    if report.kept_modified:
        raise MdflowError(
            f"kept {report.kept_modified[0]}: it differs and its content is not in the cache",
            "the pointer names the new version: mdflow add to keep yours, or "
            "mdflow checkout --force to take it",
        )
    return dataset


def _adopt(repo: Repo, source: Repo, loc: Located) -> dict[str, Any]:
    """Copy the objects of the version into this cache; the pointer fields describing it."""
    d, p = loc.dataset, loc.dataset.pointer
    keys = ("kind", "hash", "size", "files", "rows", "columns")
    if d.kind == "file":
        _copy(repo, source, [p.hash])
        return {k: getattr(p, k) for k in keys}
    single, entries = parts(source, d)
    if single:
        counter = counter_for(single.path)
        _copy(repo, source, [single.hash], counter)
        shape = counter.shape() if counter else None
        table = {"rows": shape.rows, "columns": shape.columns} if shape else {}
        return {"kind": "file", "hash": single.hash, "size": single.size, **table}
    cut = len(d.only[0]) + 1 if d.only else 0
    manifest = Manifest.of(e._replace(path=e.path[cut:]) for e in entries)
    _copy(repo, source, [e.hash for e in entries])
    oid = repo.cache.put_bytes(manifest.to_bytes())
    return {"kind": "dir", "hash": oid, "size": manifest.size, "files": len(manifest.files)}


def _copy(repo: Repo, source: Repo, oids: list[str], *sinks: Any) -> None:
    """Objects of the source's cache into ours, each re-hashed on the way."""
    if source.cache.root == repo.cache.root:
        return
    with repo.cache.batch() as batch:
        for oid in dict.fromkeys(oids):
            if repo.cache.has(oid) and not sinks:
                continue
            with source.cache.open(oid) as f:
                got, _ = batch.ingest(f, *sinks)
            if got != oid:
                raise MdflowError(
                    f"object {oid} is corrupt in the cache of {source.root}",
                    f"run mdflow fsck in {source.root}",
                )
