"""Remotes: named in mdflow.yaml, opened through a registry of URL schemes.

A remote is two things behind two small protocols: an object store (store.py) that holds the
bytes, and a catalogue of versions (catalog.py) that knows them as runs. A backend provides
both; the MLflow one (remote/mlflow/) is imported only when a remote is first used.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mdflow import urls
from mdflow.config import NAME_RULE, AuthConfig, RemoteSection, is_remote_name
from mdflow.errors import MdflowError
from mdflow.remote.catalog import VersionCatalog
from mdflow.remote.errors import RemoteError
from mdflow.remote.registry import Backend, RemoteSpec, opener_for, register, scheme_of
from mdflow.remote.store import Deferred, ObjectStore

EMBEDDED_DEFAULT = ".mdflow/mlflow"


def spec(section: RemoteSection, root: Path, name: str | None = None) -> RemoteSpec:
    """The remote called `name`, else the default one, else the embedded store."""
    is_default = name is None or name == section.default
    name = name or section.default
    experiment = f"mdflow/{root.name}"
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
    url, auth = _address(name, cfg.url, cfg.auth)
    exp = cfg.experiment or experiment
    return RemoteSpec(name, url, exp, auth, True, is_default, urls.redact(cfg.url))


def _address(name: str, url: str, auth: AuthConfig | None) -> tuple[str, AuthConfig | None]:
    """The URL without user info, and the credentials: `auth`, else the URL's user info (a
    URL in config.local.yaml may hold them; mdflow.yaml may not)."""
    try:
        found = urls.split(url)
    except ValueError as e:
        raise MdflowError(
            f"remote {name!r} has an unusable URL {urls.redact(url)}: {e}",
            "fix its url in mdflow.yaml or .mdflow/config.local.yaml",
        ) from None
    if found.has_credentials and scheme_of(found.url) not in ("http", "https"):
        raise MdflowError(
            f"remote {name!r} has a user name or password in a folder URL {urls.redact(url)}",
            "a folder takes no credentials: remove them from its url",
        )
    if found.has_credentials and not (auth and (auth.token or auth.username)):
        extra = {"username": found.username, "password": found.password}
        auth = (auth or AuthConfig()).model_copy(update=extra)
    return found.url, auth


class Remote:
    """An open remote, connected on first use: a no-op push or pull never imports mlflow.

    `state` is the folder where this clone keeps what it knows of the remote (its inventories
    and the runs it recorded), `.mdflow/remotes/<name>/`.
    """

    def __init__(self, remote_spec: RemoteSpec, root: Path, state: Path) -> None:
        if not is_remote_name(remote_spec.name) or state.name != remote_spec.name:
            raise MdflowError(
                f"{remote_spec.name!r} is not a valid remote name",
                f"rename the remote in mdflow.yaml: remote names are {NAME_RULE}",
            )
        self.spec, self.root, self.state = remote_spec, root, state
        self.name, self.url = remote_spec.name, remote_spec.url
        self.store: ObjectStore = Deferred(self.name, lambda: self.backend.store)
        self._backend: Backend | None = None

    @property
    def linkable(self) -> bool:
        """Pointers may record runs of this remote: teammates reach it by default."""
        return self.spec.shared and self.spec.is_default

    @property
    def never_made(self) -> bool:
        """An embedded store not created yet: it holds nothing, and asking it would create it
        (seconds of MLflow's migrations) for no answer."""
        embedded = not self.spec.shared and scheme_of(self.url) == "file"
        return embedded and not (self.root / self.url / "mlflow.db").exists()

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = connect(self.spec, self.root)
        return self._backend

    @property
    def catalog(self) -> VersionCatalog:
        return self.backend.catalog

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def open_remote(section: RemoteSection, root: Path, dot: Path, name: str | None = None) -> Remote:
    found = spec(section, root, name)
    return Remote(found, root, dot / "remotes" / found.name)


def connect(s: RemoteSpec, root: Path) -> Backend:
    scheme = scheme_of(s.url)
    if opener_for(scheme) is None and scheme in ("http", "https", "file"):
        importlib.import_module("mdflow.remote.mlflow")  # registers itself
    opener = opener_for(scheme)
    if opener is None:
        raise MdflowError(
            f"remote {s.name!r} has an unsupported URL {s.shown!r}",
            "use http(s)://host:port for an MLflow server or a folder path",
        )
    return opener(s, root)


__all__ = [
    "Backend",
    "Remote",
    "RemoteError",
    "RemoteSpec",
    "open_remote",
    "register",
    "scheme_of",
    "spec",
]
