"""Reports: run the declared visitors on dataset versions, log their reports to each version's
run, read them back."""

from __future__ import annotations

import fnmatch
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from mdflow import datasets
from mdflow.config import VisitorConfig, roles_for
from mdflow.datasets import Dataset
from mdflow.errors import MdflowError
from mdflow.history import log
from mdflow.remote.catalog import VersionCatalog
from mdflow.repo import Repo
from mdflow.sync import SyncReport, record_versions
from mdflow.visitors import DatasetVersion, load, options_key

HINT = "check the remote (mdflow remote list) and try again"


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
    with repo.remote(remote, HINT) as target:
        runs = record_versions(repo, target, chosen, SyncReport(target.name))
        results = []
        for d in chosen:
            run_id = runs[repo.rel(d.data)].removeprefix("runs:/")
            results += _visit_one(repo, target.catalog, d, run_id, force)
        return results


def _applicable(repo: Repo, d: Dataset, declared: list[VisitorConfig]) -> list[VisitorConfig]:
    rel = repo.rel(d.data)
    return [v for v in declared if any(fnmatch.fnmatch(rel, p) for p in v.paths)]


def _visit_one(
    repo: Repo, catalog: VersionCatalog, d: Dataset, run_id: str, force: bool
) -> list[Visited]:
    rel = repo.rel(d.data)
    version = version_of(repo, d.data, d.pointer.hash, d.kind, d.pointer.size, d.pointer.rows)
    previous = _previous(repo, d)
    if previous is not None and previous.run is None:  # Git's pointer has no run link
        previous.run = _run_of(catalog, rel, previous.hash)
    done = catalog.run_tags(run_id)
    results = []
    for cfg in _applicable(repo, d, repo.config.visitors):
        visitor = load(cfg.use, repo.root, cfg.options)
        key = options_key(cfg.use, cfg.options)
        if not force and done.get(f"mdflow.visit.{visitor.name}") == key:
            results.append(Visited(rel, visitor.name, "skipped", cfg.optional))
            continue
        with tempfile.TemporaryDirectory(prefix="mdflow-report-") as out:
            try:
                metrics = visitor.visit(version, previous, Path(out))
            except Exception:
                results.append(
                    Visited(rel, visitor.name, "failed", cfg.optional, traceback.format_exc())
                )
                continue
            catalog.log_report(run_id, visitor.name, Path(out), metrics, key)
        results.append(Visited(rel, visitor.name, "ran", cfg.optional, metrics=metrics))
    return results


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
        version.split, version.target, version.prediction = (
            roles.split,
            roles.target,
            roles.prediction,
        )
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
