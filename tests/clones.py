"""Clones of a plain-folder remote for fast tests of transfer logic: a clone is a cache and
the folder of its remote state. The fixtures `remote`, `a` and `b` (tests/conftest.py) give a
folder store and two clones of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdflow.cache import Cache
from mdflow.remote.inventory import RemoteIndex
from mdflow.remote.store import ObjectStore


@dataclass
class Clone:
    """One clone's side of a remote: its cache and its state folder for the remote."""

    cache: Cache
    state: Path

    def index(self, store: ObjectStore) -> RemoteIndex:
        return RemoteIndex(store, self.state)


def new_clone(tmp_path: Path, name: str) -> Clone:
    return Clone(Cache(tmp_path / name / "cache"), tmp_path / name / "remotes" / "origin")
