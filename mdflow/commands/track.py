"""`mdflow add`, `remove` and `move`: which files and folders are tracked, and where."""

from __future__ import annotations

from pathlib import Path

from mdflow import tracking
from mdflow.datasets import Dataset
from mdflow.repo import Repo
from mdflow.tracking import Added


def add(repo: Repo, paths: list[str]) -> list[Added]:
    """Store the content of files or folders in the cache and write their pointers."""
    return tracking.add(repo, paths)


def remove(repo: Repo, path: str) -> Dataset:
    """Stop tracking a dataset; its data stays."""
    return tracking.remove(repo, path)


def move(repo: Repo, src: str, dst: str) -> tuple[Path, Path]:
    """Move a dataset and its pointer; returns the new (data, pointer) paths."""
    return tracking.move(repo, src, dst)
