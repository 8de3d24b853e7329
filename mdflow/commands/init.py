"""`mdflow init`: set up mdflow in a Git repository (mdflow.yaml, .mdflow/, .gitignore)."""

from __future__ import annotations

from pathlib import Path

from mdflow import config, gitignore
from mdflow.repo import DOT, Repo


def init(start: Path | None = None, visitors: bool = True) -> tuple[Repo, bool]:
    """Set up mdflow in the enclosing Git repository; return (repo, created anything).
    A new mdflow.yaml declares the default visitors, unless `visitors` is False."""
    repo = Repo.find(start, initialized=False)
    created = False
    cfg = repo.root / config.FILE_NAME
    if not cfg.exists():
        cfg.write_text(config.default_text(visitors))
        created = True
    repo.dot.mkdir(exist_ok=True)
    inner = repo.dot / ".gitignore"
    if not inner.exists():
        inner.write_text("*\n")
        created = True
    created |= gitignore.add(repo.root, DOT)
    repo.cache.root.mkdir(parents=True, exist_ok=True)
    return repo, created
