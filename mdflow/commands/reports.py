"""`mdflow visit` and `mdflow show`: visitors' reports on dataset versions."""

from __future__ import annotations

from mdflow import reports
from mdflow.repo import Repo
from mdflow.reports import Visited


def visit(repo: Repo, paths: list[str], force: bool, remote: str | None) -> list[Visited]:
    """Run the declared visitors where they have not run yet (all of them with `force`)."""
    return reports.visit(repo, paths, force, remote)


def show(repo: Repo, path: str, remote: str | None) -> tuple[str, dict[str, str | None]]:
    """The run URI of the dataset's current version and its report files (the text of the
    markdown ones, None for the others)."""
    return reports.show(repo, path, remote)
