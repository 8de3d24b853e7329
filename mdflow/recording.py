"""What a version run records of a dataset version: the commit that holds it and the version's
ordinal in that commit's history (v1, v2, ...), its split, a table's columns and counts, and a
description saying what it is and what changed since the version before it.

The ordinal counts the distinct versions of the path in the history of the commit that
introduced the version (`git log <commit> -- <pointer>`, oldest first): every clone computes
the same number from the same commit, however they race. Versions made on parallel branches
may share a number.
"""

from __future__ import annotations

from dataclasses import replace

from mdflow import history, tables
from mdflow.config import roles_for
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.history import Version
from mdflow.remote.catalog import Column, VersionInfo
from mdflow.render import human, plural
from mdflow.repo import Repo

PROFILE_LIMIT = 1 << 30  # tables larger than this are not read for their columns at push


def git_facts(repo: Repo, rel: str, oid: str, head: dict[str, str]) -> dict[str, str]:
    """The branch, and the commit that introduced this version, its author and subject, when
    the history of HEAD holds it (else the version is pending)."""
    facts = {"branch": head["branch"]} if "branch" in head else {}
    introduced = history.from_git(repo, rel).get(oid) if "commit" in head else None
    if introduced is not None and introduced.commit:
        facts["commit"] = introduced.commit
        if introduced.author:
            facts["author"] = introduced.author
        if introduced.subject:
            facts["subject"] = introduced.subject[:500]  # a tag, and a line of the description
    return facts


def version_info(repo: Repo, d: Dataset, git: dict[str, str]) -> VersionInfo:
    """Everything a version run records of the dataset `d` (whose objects are cached)."""
    rel, p = repo.rel(d.data), d.pointer
    roles = roles_for(repo.config.datasets, rel)
    manifest = repo.cache.path(p.hash).read_bytes() if d.kind == "dir" else None
    columns = _columns(repo, d)
    commit = git.get("commit")
    info = VersionInfo(
        rel,
        p.hash,
        p.kind,
        p.size,
        d.pointer_file.read_text(),
        manifest,
        p.files,
        p.rows,
        p.columns,
        git,
        split=roles.split if roles else None,
        columns_info=columns,
        profile=_profile(d, columns),
        source_uri=f"mdflow://{repo.root}@{commit}:{rel}" if commit else None,
    )
    ordinal, change = _place(repo, rel, d, commit)
    info = replace(info, ordinal=ordinal)
    return replace(info, description=describe(info, change, roles.target if roles else None))


def _place(repo: Repo, rel: str, d: Dataset, commit: str | None) -> tuple[int | None, str]:
    """The version's ordinal in the history of its commit, and what changed since the
    version before it."""
    if commit is None:
        return None, ""
    found = list(history.from_git(repo, rel, rev=commit).values())
    hashes = [v.hash for v in found]
    if d.pointer.hash not in hashes:
        return None, ""
    at = hashes.index(d.pointer.hash)
    if at == 0:
        return 1, "first version"
    p = d.pointer
    blank = dict.fromkeys(("time", "commit", "author", "subject", "run", "url"))
    newer = Version(p.hash, p.kind, p.size, p.rows, p.files, **blank, in_git=True, on_remote=False)
    older = found[at - 1]
    try:
        history.add_stats(repo, rel, [newer, older])
    except (MdflowError, ValueError, OSError, ImportError):
        return at + 1, f"not compared with v{at} (its data is not in this clone's cache)"
    return at + 1, f"since v{at}: {newer.stat}"


def _columns(repo: Repo, d: Dataset) -> list[Column] | None:
    """A table's columns (from its profile, computed once per content), when it is read."""
    from mdflow.profile import Profiles

    oid = d.pointer.hash
    if d.kind != "file" or not tables.is_table(d.data.name) or d.pointer.size > PROFILE_LIMIT:
        return None
    if not repo.cache.has(oid):
        return None
    try:
        found = Profiles(repo.dot / "profiles").get(oid, d.data.name, lambda: repo.cache.open(oid))
    except (ValueError, OSError, ImportError):  # not parseable as a table: no schema
        return None
    return [Column(c.name, c.dtype, c.nulls) for c in found.columns]


def _profile(d: Dataset, columns: list[Column] | None) -> dict[str, int] | None:
    """Counts MLflow shows as the dataset's profile."""
    p = d.pointer
    if d.kind == "dir":
        return {"num_files": p.files or 0, "size_bytes": p.size}
    if p.rows is None or p.columns is None:
        return None
    found = {"num_rows": p.rows, "num_columns": p.columns, "num_elements": p.rows * p.columns}
    if columns is not None:
        found["missing_values"] = sum(c.nulls for c in columns)
    return found | {"size_bytes": p.size}


def describe(v: VersionInfo, change: str, target: str | None = None) -> str:
    """The run's description (markdown): what the version is, where it comes from, what
    changed since the version before it."""
    title = f"**{v.path}**" + (f" v{v.ordinal}" if v.ordinal else "")
    roles = [f"split: {v.split}"] if v.split else []
    roles += [f"target: `{target}`"] if target else []
    lines = [title + (" — " + ", ".join(roles) if roles else ""), ""]
    shape = human(v.size)
    if v.kind == "dir":
        shape += f", {plural(v.files or 0, 'file')}"
    elif v.rows is not None and v.columns is not None:
        shape += f", {plural(v.rows, 'row')}, {plural(v.columns, 'column')}"
    lines.append(f"- {shape}")
    git = v.git or {}
    if "commit" in git:
        by = f" by {git['author']}" if "author" in git else ""
        lines.append(f"- commit `{git['commit'][:10]}` {git.get('subject', '')}{by}".rstrip())
    else:
        lines.append("- pending: no commit holds this version yet")
    if change:
        lines.append(f"- {change}")
    lines.append(f"- hash `{v.hash}`")
    return "\n".join(lines) + "\n"
