"""Source repositories: where a dataset version is read from.

The current repository, another working tree on this machine, or a Git URL. A URL is cloned
once into a partial clone under the user cache folder (`$XDG_CACHE_HOME/mdflow/repos/`, else
`~/.cache/mdflow/repos/`): commits and trees only, no working tree; the few blobs mdflow reads
(pointers and `mdflow.yaml`) are fetched by Git on demand. Later calls fetch into that clone.
Its cache objects live in the clone's own `.mdflow/cache`, downloaded from the remote named by
the `mdflow.yaml` of the repository's default branch (credentials from the environment, or the
clone's `.mdflow/config.local.yaml`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mdflow import config as config_mod
from mdflow import gitrepo, urls
from mdflow.errors import MdflowError
from mdflow.lock import locked
from mdflow.repo import Repo

CLONE_LOCK_TIMEOUT = 600.0
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@host:org/repo.git
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}  # a notebook must not hang on a password prompt
_ACCESS_HINT = "check the URL and your access to it (git ls-remote URL)"


def cache_home() -> Path:
    """mdflow's folder in the user cache folder (`$XDG_CACHE_HOME/mdflow`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mdflow"


@dataclass(frozen=True)
class Source:
    """A repository to read datasets from."""

    repo: Repo  # its cache, lock and remotes
    location: str  # how a dataset URI names it: the URL, or the absolute path of a work tree
    clone: bool  # a partial clone kept under the user cache folder (no working tree)


class ClonedRepo(Repo):
    """A partial clone: no working tree; its configuration is the committed `mdflow.yaml` of
    the default branch, plus the clone's own `.mdflow/config.local.yaml`."""

    @cached_property
    def config(self) -> config_mod.Config:
        where = f"{self.root.name}: HEAD:{config_mod.FILE_NAME}"
        try:
            text = gitrepo.blob(self.root, f"HEAD:{config_mod.FILE_NAME}")
        except MdflowError:
            raise MdflowError(
                f"{where} not found: the repository is not set up for mdflow",
                "check the URL; its default branch must hold mdflow.yaml",
            ) from None
        return config_mod.load(self.root, config_mod.parse(text, where, "fix it upstream"))


def is_url(value: str) -> bool:
    return "://" in value or bool(_SCP_LIKE.match(value))


def open_source(
    repo: str | os.PathLike[str] | None, rev: str | None = None, near: Path | None = None
) -> Source:
    """The source named by `repo`: a local working tree, a Git URL (cloned or fetched so that
    `rev` is there), or None: the repository around `near` (default: the current folder)."""
    if repo is None:
        found = Repo.find(near)
        return Source(found, str(found.root), False)
    text = os.fspath(repo)
    if not is_url(text):
        path = Path(text).expanduser().absolute()
        if (path / ".git").exists():
            return Source(Repo.find(path), str(path), False)
        if not path.exists():
            raise MdflowError(f"{text}: no such repository", "give a Git URL or a local path")
        text = path.as_uri()  # a bare repository: cloned like a URL (git ignores filters on paths)
    return Source(ClonedRepo(clone(text, rev)), urls.public(text), True)


def clone_root(url: str) -> Path:
    """Where the partial clone of `url` lives; its folder keeps the repository's name, which
    names the default MLflow experiment (`mdflow/<name>`) like in any clone."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git") or "repo"
    return cache_home() / "repos" / key / name


def clone(url: str, rev: str | None = None) -> Path:
    """Clone `url` once (commits and trees only); later, fetch unless `rev` is a commit the
    clone already has. Returns the clone's root."""
    root = clone_root(url)
    shown = f"the lock of the shared clone of {urls.public(url)}"
    with locked(root.parent / "lock", CLONE_LOCK_TIMEOUT, shown, "wait for it, then run it again"):
        if (root / ".git").is_dir():
            if not (rev and _COMMIT.match(rev) and _has_commit(root, rev)):
                gitrepo.run(root, "fetch", "-q", "--prune", hint=_ACCESS_HINT, env=_env())
            return root
        tmp = root.with_name(f".{root.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            gitrepo.run(
                tmp,
                *("clone", "-q", "--mirror", "--filter=blob:none", url, ".git"),
                hint=_ACCESS_HINT,
                env=_env(),
            )
            tmp.rename(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _has_commit(root: Path, rev: str) -> bool:
    out = gitrepo.run(root, "cat-file", "-t", rev, ok_codes=(0, 1, 128))
    return out.strip() == b"commit"


def _env() -> dict[str, str]:
    return {**os.environ, **_NO_PROMPT}
