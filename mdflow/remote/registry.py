"""The registry of remote types: URL schemes and the backends they open.

A backend provides the two halves of a remote: its object store and its catalogue of
versions. Backends register themselves here when their module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mdflow import urls
from mdflow.config import AuthConfig
from mdflow.remote.catalog import VersionCatalog
from mdflow.remote.store import ObjectStore


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str  # without user info: what is used, logged to MLflow and linked from pointers
    experiment: str
    auth: AuthConfig | None
    shared: bool  # committed in mdflow.yaml (teammates reach it), not a machine-local default
    is_default: bool = False  # the remote teammates use when they name none
    shown: str = ""  # the URL as configured, its user info redacted: for messages
    run: str | None = None  # open the experiment of this run, creating nothing (get runs:/)

    def __post_init__(self) -> None:
        if not self.shown:
            object.__setattr__(self, "shown", urls.redact(self.url))


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


scheme_of = urls.scheme_of


def opener_for(scheme: str) -> Opener | None:
    return _OPENERS.get(scheme)
