"""A repository as mdflow sees it: its root, its `.mdflow/` folder and its paths."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mdflow import config as config_mod
from mdflow.cache import Cache
from mdflow.debris import remove_debris
from mdflow.errors import MdflowError, NotARepoError
from mdflow.lock import locked
from mdflow.paths import is_git_name
from mdflow.state import StatCache

if TYPE_CHECKING:
    from mdflow.remote import Remote

DOT = ".mdflow"
REMOTE_HINT = "check the server, the URL (mdflow remote list) and try again"


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dot = root / DOT
        self.cache = Cache(self.dot / "cache")

    @classmethod
    def find(cls, start: Path | None = None, *, initialized: bool = True) -> Repo:
        """The Git working tree containing `start` (default: the current directory)."""
        here = Path(os.path.abspath(start or Path.cwd()))
        for folder in (here, *here.parents):
            if (folder / ".git").exists():
                repo = cls(folder)
                if initialized and not (folder / config_mod.FILE_NAME).is_file():
                    raise NotARepoError(
                        f"{folder} is not an mdflow repository (no {config_mod.FILE_NAME})",
                        "run mdflow init",
                    )
                return repo
        raise NotARepoError(
            f"{here} is not inside a Git repository", "run git init, then mdflow init"
        )

    @cached_property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.root)

    @cached_property
    def real_root(self) -> Path:
        return self.root.resolve()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        with locked(self.dot / "lock", self.config.core.lock_timeout):
            for folder in (self.cache.tmp, self.cache.checkout_tmp):
                remove_debris(folder)  # left by killed writers
            yield

    def stat_cache(self) -> StatCache:
        """The stat cache, to use in a `with` block (closed at its end)."""
        return StatCache(self.dot, self.config.core.lock_timeout)

    @contextlib.contextmanager
    def remote(self, name: str | None = None, hint: str = REMOTE_HINT) -> Iterator[Remote]:
        """The remote called `name` (default: the default one), open for the block and closed
        after it; a remote failure inside becomes a one-line error with `hint`."""
        from mdflow.remote import RemoteError, open_remote

        opened = None
        try:
            opened = open_remote(self.config.remote, self.root, self.dot, name)
            yield opened
        except RemoteError as e:
            raise MdflowError(str(e), hint) from e
        finally:
            if opened is not None:
                opened.close()

    def rel(self, path: Path) -> str:
        """POSIX path of `path` relative to the root (`path` must be absolute, inside)."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def resolve_user_path(self, arg: str | os.PathLike[str]) -> Path:
        """An absolute path for a path given by the user, refused when it leaves the repo."""
        path = Path(os.path.abspath(arg))
        self.check_inside(path, str(arg))
        return path

    def real_path(self, path: Path) -> Path:
        """`path` with its folders' symlinks resolved: where a write to it lands (a write
        replaces the last component, so a link there is not followed)."""
        return path.parent.resolve() / path.name

    def real_rel(self, path: Path) -> str:
        """The POSIX path, from the real root, of where a write to `path` lands."""
        return Path(os.path.relpath(self.real_path(path), self.real_root)).as_posix()

    def check_inside(self, path: Path, shown: str) -> None:
        """Refuse paths outside the working tree, the root itself, or in .git/.mdflow: as
        given, with the folders' symlinks resolved, and where a symlink at `path` leads (but
        into the cache: `cache.link: symlink` makes workspace files links to objects)."""
        self._check_under(path, self.root, shown)
        self._check_under(self.real_path(path), self.real_root, shown)
        if path.is_symlink():
            target = path.resolve()
            if target.parent.parent != self.real_root / DOT / "cache":
                self._check_under(target, self.real_root, shown)

    def _check_under(self, path: Path, root: Path, shown: str) -> None:
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            raise MdflowError(
                f"{shown} is outside the repository {self.root}",
                "give a path inside the repository",
            ) from None
        if not parts:
            raise MdflowError(f"{shown} is the repository root", "name a file or folder in it")
        inside = next((p for p in parts if is_git_name(p)), None)
        if inside is None and parts[0].lower() == DOT:
            inside = parts[0]
        if inside is not None:
            raise MdflowError(f"{shown} is inside {inside}/", "give a path in the working tree")
