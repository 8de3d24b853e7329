"""`mdflow install` and `mdflow hook NAME`: the Git hooks and drivers, and what they run."""

from __future__ import annotations

from pathlib import Path

from mdflow import drivers, hooks, installation
from mdflow.errors import MdflowError
from mdflow.hooks import HookReport
from mdflow.installation import Installed
from mdflow.repo import Repo


def install(repo: Repo) -> Installed:
    """Write the hooks into .pre-commit-config.yaml, install them and the Git drivers;
    returns the hook types installed and the committed files changed."""
    return installation.install(repo)


def hook(repo: Repo, name: str) -> HookReport:
    """One hook check, as mdflow.yaml's `hooks:` section configures it."""
    cfg = repo.config.hooks
    if name == "check":
        return hooks.check(repo, cfg.max_file_size, cfg.modified_data)
    if name == "visit":
        return hooks.visit_staged(repo)
    if name == "commit":
        return hooks.after_commit(repo)
    if name == "push":
        return hooks.push(repo, check_only=cfg.push == "check")
    if name == "checkout":
        return hooks.after_checkout(repo, restore=cfg.checkout == "restore")
    raise MdflowError(f"no hook named {name!r}", "see mdflow hook --help")


def textconv(repo: Repo, args: list[str]) -> str:
    """Git's diff driver: a pointer followed by its columns or files."""
    if len(args) != 1:
        raise _unexpected("textconv")
    return drivers.textconv(repo, Path(args[0]))


def merge(repo: Repo, args: list[str]) -> tuple[int, str]:
    """Git's merge driver for pointers (base, ours, theirs, shown path): (exit code, note)."""
    if len(args) != 4:
        raise _unexpected("merge")
    base, ours, theirs, shown = args
    return drivers.merge_driver(repo, Path(base), Path(ours), Path(theirs), shown)


def _unexpected(name: str) -> MdflowError:
    return MdflowError(f"mdflow hook {name}: unexpected arguments", "run mdflow install again")
