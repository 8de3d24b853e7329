"""Reports: run the declared visitors on dataset versions, log their reports to each version's
run, read them back."""

from __future__ import annotations

import fnmatch
import functools
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdflow import config, datasets, gitrepo
from mdflow.config import VisitorConfig, roles_for
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.history import log
from mdflow.remote.catalog import VersionCatalog
from mdflow.repo import Repo
from mdflow.sync import SyncReport, record_versions
from mdflow.visitors import DatasetVersion, Findings, load, options_key

HINT = "check the remote (mdflow remote list) and try again"
MAX_TAG = 5000  # characters of a visitor's tag value (MLflow cuts tags at 8,000)
TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.json")
TAG_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


@dataclass
class Visited:
    path: str
    visitor: str
    status: str  # ran, skipped (already ran for this hash and options), failed
    optional: bool = False
    error: str = ""  # the traceback of a failure
    metrics: dict[str, float] = field(default_factory=dict)


def visit(
    repo: Repo, args: list[str], force: bool = False, remote: str | None = None
) -> list[Visited]:
    declared = repo.config.visitors
    chosen = [d for d in datasets.select(repo, args) if _applicable(repo, d, declared)]
    if not chosen:
        return []
    # visitors loaded and named first: a configuration error creates no run
    loaded = {
        id(d): _loaded(repo, repo.rel(d.data), _applicable(repo, d, declared)) for d in chosen
    }
    with repo.remote(remote, HINT) as target:
        runs = record_versions(repo, target, chosen, SyncReport(target.name))
        results = []
        for d in chosen:
            run_id = runs[repo.rel(d.data)].removeprefix("runs:/")
            results += _visit_one(repo, target.catalog, d, run_id, force, loaded[id(d)])
        return results


def _applicable(repo: Repo, d: Dataset, declared: list[VisitorConfig]) -> list[VisitorConfig]:
    rel = repo.rel(d.data)
    return [v for v in declared if any(fnmatch.fnmatch(rel, p) for p in v.paths)]


def _visit_one(
    repo: Repo,
    catalog: VersionCatalog,
    d: Dataset,
    run_id: str,
    force: bool,
    loaded: list[tuple[VisitorConfig, Any]],
) -> list[Visited]:
    rel = repo.rel(d.data)
    version = version_of(repo, d.data, d.pointer.hash, d.kind, d.pointer.size, d.pointer.rows)
    version.at = functools.partial(_at, repo, d)
    version.other_splits = functools.partial(_other_splits, repo, d)
    previous = _previous(repo, d)
    if previous is not None and previous.run is None:  # Git's pointer has no run link
        previous.run = _run_of(catalog, rel, previous.hash)
    done = catalog.run_tags(run_id)
    results = []
    for cfg, visitor in loaded:
        key = options_key(cfg.use, cfg.options)
        if not force and done.get(f"mdflow.visit.{visitor.name}") == key:
            results.append(Visited(rel, visitor.name, "skipped", cfg.optional))
            continue
        with tempfile.TemporaryDirectory(prefix="mdflow-report-") as out:
            try:
                found = visitor.visit(version, previous, Path(out))
                findings = found if isinstance(found, Findings) else Findings(dict(found))
                check_findings(visitor.name, findings)
            except Exception:
                results.append(
                    Visited(rel, visitor.name, "failed", cfg.optional, traceback.format_exc())
                )
                continue
            top = getattr(visitor, "top_level", False) and cfg.name is None
            folder = "reports" if top else f"reports/{visitor.name}"
            catalog.log_report(
                run_id,
                visitor.name,
                Path(out),
                findings.metrics,
                key,
                artifacts=folder,
                tags=findings.tags,
                tables=findings.tables,
            )
        results.append(Visited(rel, visitor.name, "ran", cfg.optional, metrics=findings.metrics))
    return results


def _loaded(repo: Repo, rel: str, declared: list[VisitorConfig]) -> list[tuple[VisitorConfig, Any]]:
    """Each declaration with its visitor, named; two under one name are an error."""
    loaded, seen = [], set()
    for cfg in declared:
        visitor = load(cfg.use, repo.root, cfg.options)
        if cfg.name:
            visitor.name = cfg.name
        if visitor.name in seen:
            raise MdflowError(
                f"two visitors named {visitor.name!r} apply to {rel}",
                f"give each its own name: key in {config.FILE_NAME} (name: {visitor.name}-2)",
            )
        seen.add(visitor.name)
        loaded.append((cfg, visitor))
    return loaded


def check_findings(name: str, findings: Findings) -> None:
    """A visitor's metrics are numbers, its tags short strings, its tables `<file>.json`."""
    for key, number in findings.metrics.items():
        findings.metrics[key] = float(number)
    for key, value in findings.tags.items():
        if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
            raise ValueError(f"visitor {name}: tag name {key!r} is not letters, digits, _ . -")
        if not isinstance(value, str) or len(value) > MAX_TAG:
            raise ValueError(f"visitor {name}: tag {key!r} is not a string of <= {MAX_TAG} chars")
    for file, table in findings.tables.items():
        if not isinstance(file, str) or not TABLE_NAME.fullmatch(file):
            raise ValueError(f"visitor {name}: table name {file!r} is not a plain <name>.json")
        if not isinstance(table, dict) and not hasattr(table, "to_dict"):
            raise ValueError(f"visitor {name}: table {file} is not a DataFrame or a dict")


def _at(repo: Repo, d: Dataset, rev: str) -> DatasetVersion | None:
    """The version of `d` at Git revision `rev`, when its data is in the cache."""
    rel = repo.rel(d.data)
    try:
        commit = gitrepo.resolve(repo.root, rev)
        (old,) = datasets.at_revision(repo, commit, [rel])
    except (MdflowError, ValueError):
        return None
    p = old.pointer
    if not repo.cache.has(p.hash):
        return None
    found = version_of(repo, d.data, p.hash, old.kind, p.size, p.rows)
    found.commit, found.run = commit, p.url or p.run
    return found


def _other_splits(repo: Repo, d: Dataset) -> dict[str, DatasetVersion]:
    """The cached current versions of the datasets declaring another split of this one's
    target (train beside test), by split."""
    rel = repo.rel(d.data)
    mine = roles_for(repo.config.datasets, rel)
    found: dict[str, DatasetVersion] = {}
    if mine is None or not mine.target:
        return found
    for other in datasets.all_datasets(repo):
        path, p = repo.rel(other.data), other.pointer
        roles = roles_for(repo.config.datasets, path)
        if path == rel or roles is None or not roles.split or roles.target != mine.target:
            continue
        if other.kind == "file" and roles.split != mine.split and repo.cache.has(p.hash):
            found.setdefault(
                roles.split, version_of(repo, other.data, p.hash, "file", p.size, p.rows)
            )
    return found


def _run_of(catalog: VersionCatalog, rel: str, oid: str) -> str | None:
    """The run recorded for version `oid` of `rel` (its URL, else its URI), if any."""
    run = next((r.run for r in catalog.versions(rel) if r.hash == oid), None)
    return None if run is None else run.url or run.uri


def version_of(
    repo: Repo, data: Path, oid: str, kind: str, size: int, rows: int | None
) -> DatasetVersion:
    """A version whose objects are in the cache, as visitors see it."""
    if not repo.cache.has(oid):
        raise MdflowError(f"{repo.rel(data)} ({oid}) is not in the cache", "mdflow pull it first")
    files = []
    if kind == "dir":
        manifest = datasets.cached_manifest(repo, oid, repo.rel(data))
        files = [(f.path, f.hash, f.size) for f in manifest.files] if manifest else []
    rel = repo.rel(data)
    roles = roles_for(repo.config.datasets, rel)
    version = DatasetVersion(rel, oid, kind, size, repo.cache.open, files, rows)
    if roles is not None:
        version.split, version.target = roles.split, roles.target
        version.prediction, version.category = roles.prediction, roles.category
    return version


def _previous(repo: Repo, d: Dataset) -> DatasetVersion | None:
    """The newest other version in Git history whose data is in the cache."""
    try:
        history = log(repo, str(d.data), None)
    except MdflowError:  # a dataset not committed yet has no history
        return None
    for v in history:
        if v.hash != d.pointer.hash and repo.cache.has(v.hash):
            found = version_of(repo, d.data, v.hash, v.kind, v.size, v.rows)
            found.commit, found.run = v.commit, v.url or v.run
            return found
    return None


def show(repo: Repo, arg: str, remote: str | None = None) -> tuple[str, dict[str, str | None]]:
    """The run of the dataset's current version and its report files, by artifact path: the
    text of each markdown report, None for the others (PNG, CSV, JSON)."""
    (d,) = datasets.select(repo, [arg])
    with repo.remote(remote, HINT) as target:
        runs = record_versions(repo, target, [d], SyncReport(target.name))
        run = runs[repo.rel(d.data)]
        return run, target.catalog.report_files(run.removeprefix("runs:/"))
