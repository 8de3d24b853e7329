"""Remotes: named in mdflow.yaml, opened through a registry of URI schemes.

Only mdflow/remote/mlflow.py imports mlflow; it is imported when a remote is opened.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mdflow.config import AuthConfig
from mdflow.errors import MdflowError
from mdflow.remote.base import Remote, RemoteError, VersionInfo, VersionRecord, VersionRun
from mdflow.repo import Repo

EMBEDDED_DEFAULT = ".mdflow/mlflow"


@dataclass(frozen=True)
class RemoteSpec:
    name: str
    url: str
    experiment: str
    auth: AuthConfig | None
    shared: bool  # committed in mdflow.yaml (teammates reach it), not a machine-local default
    is_default: bool = False  # the remote teammates use when they name none


Opener = Callable[[RemoteSpec, Repo], Remote]
_OPENERS: dict[str, Opener] = {}


def register(scheme: str, opener: Opener) -> None:
    """Make a remote type available for URLs of `scheme` (`file` covers plain folders)."""
    _OPENERS[scheme] = opener


def scheme_of(url: str) -> str:
    head, sep, _ = url.partition("://")
    return head.lower() if sep else "file"


def spec(repo: Repo, name: str | None = None) -> RemoteSpec:
    """The remote called `name`, else the default one, else the embedded store."""
    section = repo.config.remote
    is_default = name is None or name == section.default
    name = name or section.default
    experiment = f"mdflow/{repo.root.name}"
    if name is None:
        if len(section.remotes) == 1:
            name = next(iter(section.remotes))
        else:
            return RemoteSpec("embedded", EMBEDDED_DEFAULT, experiment, None, shared=False)
    if name not in section.remotes:
        known = ", ".join(sorted(section.remotes)) or "none"
        raise MdflowError(
            f"no remote named {name!r} (configured: {known})",
            "add it with mdflow remote add NAME URL",
        )
    cfg = section.remotes[name]
    return RemoteSpec(name, cfg.url, cfg.experiment or experiment, cfg.auth, True, is_default)


class LazyRemote:
    """A remote that connects on first use: a no-op push or pull never imports mlflow."""

    def __init__(self, repo: Repo, remote_spec: RemoteSpec) -> None:
        self.repo, self.spec = repo, remote_spec
        self.name, self.url = remote_spec.name, remote_spec.url
        self._remote: Remote | None = None

    @property
    def connected(self) -> Remote:
        if self._remote is None:
            self._remote = connect(self.repo, self.spec)
        return self._remote

    def store_id(self) -> str:
        return self.connected.store_id()

    def list(self, folder: str) -> list[str]:
        return self.connected.list(folder)

    def put(self, local: Path, dest: str) -> None:
        self.connected.put(local, dest)

    def get(self, src: str, local: Path) -> None:
        self.connected.get(src, local)

    def open_stream(self, src: str) -> BinaryIO | None:
        return self.connected.open_stream(src)

    def record_version(self, version: VersionInfo) -> VersionRun:
        return self.connected.record_version(version)

    def expect_records(self) -> None:
        self.connected.expect_records()

    def versions(self, path: str) -> builtins.list[VersionRecord]:
        return self.connected.versions(path)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return self.connected.run_tags(run_id)

    def log_report(
        self, run_id: str, visitor: str, folder: Path, metrics: dict[str, float], key: str
    ) -> None:
        self.connected.log_report(run_id, visitor, folder, metrics, key)

    def report_texts(self, run_id: str) -> dict[str, str]:
        return self.connected.report_texts(run_id)

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()


def open_remote(repo: Repo, name: str | None = None) -> Remote:
    return LazyRemote(repo, spec(repo, name))


def connect(repo: Repo, s: RemoteSpec) -> Remote:
    scheme = scheme_of(s.url)
    if scheme not in _OPENERS and scheme in ("http", "https", "file"):
        importlib.import_module("mdflow.remote.mlflow")  # registers itself

    opener = _OPENERS.get(scheme)
    if opener is None:
        raise MdflowError(
            f"remote {s.name!r} has an unsupported URL {s.url!r}",
            "use http(s)://host:port for an MLflow server or a folder path",
        )
    return opener(s, repo)


__all__ = ["Remote", "RemoteError", "RemoteSpec", "open_remote", "register", "spec"]
