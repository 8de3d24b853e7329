"""The registry of remote types: URL schemes and the backends they open.

A backend provides the two halves of a remote: its object store and its catalogue of
versions. Backends register themselves here when their module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mdflow.config import AuthConfig
from mdflow.remote.catalog import VersionCatalog
from mdflow.remote.store import ObjectStore


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    experiment: str
    auth: AuthConfig | None
    shared: bool  # committed in mdflow.yaml (teammates reach it), not a machine-local default
    is_default: bool = False  # the remote teammates use when they name none


class Backend(Protocol):
    """What a URL scheme opens: the store and the catalogue of one remote."""

    store: ObjectStore
    catalog: VersionCatalog

    def close(self) -> None: ...


Opener = Callable[[RemoteSpec, Path], Backend]  # (spec, repository root)
_OPENERS: dict[str, Opener] = {}


def register(scheme: str, opener: Opener) -> None:
    """Make a remote type available for URLs of `scheme` (`file` covers plain folders)."""
    _OPENERS[scheme] = opener


def scheme_of(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def opener_for(scheme: str) -> Opener | None:
    return _OPENERS.get(scheme)
