"""`list`, `remove` and `move`: managing which datasets are tracked and where."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mdflow import datasets, gitignore
from mdflow import pointer as ptr
from mdflow.commands.status import Status, status_of
from mdflow.errors import MdflowError
from mdflow.repo import Repo
from mdflow.state import StatCache
from mdflow.workspace import Hasher


@dataclass
class Listed:
    status: Status
    size: int
    files: int | None
    rows: int | None
    columns: int | None


def list_datasets(repo: Repo) -> list[Listed]:
    state = StatCache(repo.dot, repo.config.core.lock_timeout)
    try:
        hasher = Hasher(state)
        return [
            Listed(
                status_of(repo, hasher, d),
                d.pointer.size,
                d.pointer.files,
                d.pointer.rows,
                d.pointer.columns,
            )
            for d in datasets.all_datasets(repo)
        ]
    finally:
        state.close()


def _one(repo: Repo, arg: str) -> datasets.Dataset:
    path = repo.resolve_user_path(arg)
    if path.name.endswith(ptr.SUFFIX):
        path = path.with_name(path.name[: -len(ptr.SUFFIX)])
    pointer_file = ptr.pointer_path_for(path)
    if not pointer_file.is_file():
        raise MdflowError(
            f"{arg} is not tracked by mdflow (no {pointer_file.name})", "check the path"
        )
    return datasets.load(repo, pointer_file)


def remove(repo: Repo, arg: str) -> datasets.Dataset:
    """Stop tracking: delete the pointer and the .gitignore entry; the data stays."""
    with repo.lock():
        d = _one(repo, arg)
        d.pointer_file.unlink()
        gitignore.remove(d.data.parent, d.data.name)
        return d


def move(repo: Repo, src: str, dst: str) -> tuple[Path, Path]:
    """Move data and pointer together and fix both .gitignore files; return new (data, pointer)."""
    with repo.lock():
        d = _one(repo, src)
        target = repo.resolve_user_path(dst)
        if target.is_dir():
            target = target / d.data.name
            repo.check_inside(target, str(target))
        if target.exists() or os.path.lexists(target):
            raise MdflowError(f"{dst} already exists", "choose another destination")
        new_pointer_file = ptr.pointer_path_for(target)
        if new_pointer_file.exists():
            raise MdflowError(f"{repo.rel(new_pointer_file)} already exists", "choose another name")
        target.parent.mkdir(parents=True, exist_ok=True)
        if d.data.exists():
            shutil.move(d.data, target)
        moved = d.pointer.model_copy(update={"path": target.name})
        ptr.save(new_pointer_file, moved)
        d.pointer_file.unlink()
        gitignore.remove(d.data.parent, d.data.name)
        gitignore.add(target.parent, target.name)
        return target, new_pointer_file
