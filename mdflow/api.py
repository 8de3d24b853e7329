"""mdflow's Python API: read any dataset version from code, version data from a notebook.

Every function is importable from the package (`import mdflow; mdflow.read(...)`); importing
`mdflow` stays cheap, this module is loaded on first use. See docs/api.md.

`path` names a dataset, a file inside a folder dataset, or a folder inside one. With
`repo=None` the repository is the one around the current folder and `path` is relative to the
current folder, as on the command line; with `repo` (a working tree's path or a Git URL) it is
relative to that repository's root. `rev` is any Git revision; without it the working tree's
pointers are read (for a URL: the default branch).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, TextIO, overload

from mdflow import reading
from mdflow.errors import MdflowError
from mdflow.reading import PathArg, RepoArg

if TYPE_CHECKING:
    import pandas as pd

    from mdflow.history import Version
    from mdflow.repo import Repo
    from mdflow.sync import SyncReport
    from mdflow.tracking import Added


def get_path(path: PathArg, rev: str | None = None, repo: RepoArg = None) -> Path:
    """A local, read-only path holding that version, in the cache (downloaded when needed).

    A file is the cache object itself; a folder is a tree of links to cache objects under
    `.mdflow/trees/`. Do not write there.

    >>> import pandas as pd, mdflow
    >>> frame = pd.read_parquet(mdflow.get_path("data/train.parquet", rev="v1.0"))
    """
    src, loc = reading.locate(path, rev, repo)
    reading.fill_cache(src.repo, loc)
    return reading.local_path(src.repo, loc)


def get(
    source: str | os.PathLike[str],
    path: str | None = None,
    rev: str | None = None,
    out: PathArg | None = None,
    remote: str | None = None,
) -> Path:
    """Download a version as plain files at `out` (default: its name in the current folder)
    and return where: from another repository (`source` a Git URL or a path, `path` from its
    root, `rev` default HEAD), or by its MLflow run (`source` = "runs:/<run id>") through the
    server alone, with no Git repository: `remote` (default MLFLOW_TRACKING_URI) names it.

    >>> import mdflow
    >>> mdflow.get("runs:/4f2c1b0e9a7d4c5b", out="train.csv", remote="http://mlflow:5000")
    """
    text, dest = os.fspath(source), None if out is None else os.fspath(out)
    if text.startswith("runs:/"):
        from mdflow import runs

        if path is not None or rev is not None:
            raise MdflowError("runs:/ID names one version", "pass no path or rev with it")
        return runs.get(text, dest, remote).target
    if path is None:
        raise MdflowError("mdflow.get(source) needs a path", "pass path=, or a runs:/ID source")
    return reading.export(text, path, rev, dest)[0]


@overload
def open(
    path: PathArg, rev: str | None = None, repo: RepoArg = None, mode: Literal["rb"] = "rb"
) -> BinaryIO: ...


@overload
def open(
    path: PathArg, rev: str | None = None, repo: RepoArg = None, *, mode: Literal["r", "rt"]
) -> TextIO: ...


def open(path: PathArg, rev: str | None = None, repo: RepoArg = None, mode: str = "rb") -> IO[Any]:
    """A read-only file object of one file of a dataset version (`mode` "rb", or "r" for
    UTF-8 text).

    >>> import mdflow
    >>> with mdflow.open("data/train.csv", rev="HEAD~3", mode="r") as f:
    ...     header = f.readline()
    """
    if mode not in ("rb", "r", "rt"):
        raise MdflowError(f"mode {mode!r} is not supported", 'mdflow.open reads: use "rb" or "r"')
    src, loc = reading.locate(path, rev, repo)
    if loc.dataset.kind == "dir" and not loc.dataset.only:
        raise MdflowError(f"{path} is a folder", "open a file inside it, or use mdflow.get_path")
    raw = reading.open_file(src.repo, loc)
    return raw if mode == "rb" else io.TextIOWrapper(raw, encoding="utf-8")


def read(
    path: PathArg, rev: str | None = None, repo: RepoArg = None, **pandas_kwargs: Any
) -> pd.DataFrame:
    """A table (csv, tsv, parquet, json lines) of a dataset version as a pandas DataFrame.

    `pandas_kwargs` go to the pandas reader. `frame.attrs["mdflow"]` records where the data
    came from, so `mdflow.log_input(frame)` can name the exact version.

    >>> import mdflow
    >>> train = mdflow.read("data/train.csv", rev="v1.0", repo="https://git.example.com/data.git")
    """
    from mdflow import tables

    src, loc = reading.locate(path, rev, repo)
    name = PurePosixPath(os.fspath(path)).name
    tables.require_table(name)  # before any download
    reading.fill_cache(src.repo, loc)
    frame = tables.read_frame(str(reading.local_path(src.repo, loc)), name, **pandas_kwargs)
    with contextlib.suppress(MdflowError):  # no commit yet: nothing to refer to
        frame.attrs["mdflow"] = asdict(reading.reference(src, loc))
    return frame


def versions(path: PathArg, repo: RepoArg = None, remote: bool = True) -> list[Version]:
    """The versions of a dataset, newest first: hash, size, rows, `date`, commit, run URI.

    From Git history (one pass over the pointer's commits) and, with `remote`, the versions
    recorded as runs on the default remote.

    >>> import mdflow
    >>> [(v.hash[:18], v.date, v.commit, v.run) for v in mdflow.versions("data/train.csv")]
    """
    from mdflow.history import log

    src = reading.source_of(path, None, repo)
    rel = reading.rel_path(src, path, repo is None)
    return log(src.repo, str(src.repo.root / rel), "" if remote else None)


def add(paths: PathArg | Sequence[PathArg], repo: RepoArg = None) -> list[Added]:
    """Track files or folders, as `mdflow add` does: returns what was added, with pointers.

    >>> import mdflow
    >>> frame.to_parquet("data/features.parquet")
    >>> mdflow.add("data/features.parquet")  # then git add data/features.parquet.mdflow
    """
    from mdflow.tracking import add as add_datasets

    found = _work_tree(repo, paths)
    return add_datasets(found, _args(found, paths, repo))


def push(
    paths: PathArg | Sequence[PathArg] = (),
    remote: str | None = None,
    jobs: int | None = None,
    repo: RepoArg = None,
) -> SyncReport:
    """Upload the datasets' objects the remote lacks and record their versions as runs, as
    `mdflow push` does (all datasets when `paths` is empty). Raises MdflowError when anything
    could not be transferred.

    >>> import mdflow
    >>> mdflow.push("data/features.parquet")
    """
    from mdflow import sync

    found = _work_tree(repo, paths)
    return _checked(sync.push(found, _args(found, paths, repo), remote, jobs), "push")


def pull(
    paths: PathArg | Sequence[PathArg] = (),
    remote: str | None = None,
    jobs: int | None = None,
    rev: str | None = None,
    repo: RepoArg = None,
) -> SyncReport:
    """Download what the datasets need and check them out, as `mdflow pull` does; with `rev`,
    only fill the cache with that commit's versions. Raises MdflowError on any failure.

    >>> import mdflow
    >>> mdflow.pull("data/train.csv")
    """
    from mdflow import sync

    found = _work_tree(repo, paths)
    return _checked(sync.pull(found, _args(found, paths, repo), remote, jobs, rev), "pull")


def log_input(
    path_or_df_source: PathArg | pd.DataFrame,
    context: str | None = "train",
    rev: str | None = None,
    repo: RepoArg = None,
) -> str:
    """Record a dataset version as an input of the active MLflow run (`mlflow.log_input`;
    MLflow starts a run if none is active), so the run's Datasets section names the exact
    data: name = path, digest = the hash's hex digits, source = `mdflow://<repo>@<commit>:<path>`,
    input tags `mdflow.hash`, `mdflow.commit`, `mdflow.path`. Pass a path (with `rev`, `repo`)
    or a DataFrame returned by `mdflow.read`. Returns the source URI.

    >>> import mlflow, mdflow
    >>> with mlflow.start_run():
    ...     train = mdflow.read("data/train.csv", rev="v1.0")
    ...     mdflow.log_input(train, context="train")
    """
    from mdflow import lineage

    attrs = getattr(path_or_df_source, "attrs", None)
    if isinstance(attrs, dict) and "mdflow" in attrs:
        ref = reading.DatasetRef(**attrs["mdflow"])
    elif isinstance(path_or_df_source, str | os.PathLike):
        ref = reading.reference(*reading.locate(path_or_df_source, rev, repo))
    else:
        raise MdflowError(
            "mdflow.log_input takes a dataset path or a DataFrame from mdflow.read",
            "pass the path the data was read from",
        )
    lineage.log_input(ref, context)
    return ref.uri


def read_run_input(run_id: str, name: str | None = None, **pandas_kwargs: Any) -> pd.DataFrame:
    """The table an MLflow run logged with `mdflow.log_input` (or a version run's dataset), as
    a DataFrame, read from that exact version (the run is looked up on the current MLflow
    tracking server). `name` picks one input by its path when the run has several.

    >>> import mdflow
    >>> train = mdflow.read_run_input("4f2c1b0e9a7d4c5b", name="data/train.csv")
    """
    from mdflow import lineage, tables

    inputs = lineage.run_inputs(run_id)
    found = [i for i in inputs if name is None or i[0] == name]
    if len(found) != 1:
        names = ", ".join(i[0] for i in inputs) or "none"
        what = "several mdflow inputs" if found else f"no mdflow input {name or ''}".rstrip()
        raise MdflowError(f"run {run_id} has {what} (inputs: {names})", "name one of them")
    input_name, source = found[0]
    tables.require_table(input_name)  # before any download
    if not source.get("run"):  # read through Git, from the cache
        return tables.read_frame(lineage.load_source(source), input_name, **pandas_kwargs)
    with tempfile.TemporaryDirectory(prefix="mdflow-read-") as tmp:  # through the run
        return tables.read_frame(lineage.load_source(source, tmp), input_name, **pandas_kwargs)


def _work_tree(repo: RepoArg, paths: PathArg | Sequence[PathArg]) -> Repo:
    """The working tree of `repo`; without it, the one holding the first path when that is
    absolute, else the current folder's."""
    from mdflow.repo import Repo

    if repo is not None:
        return Repo.find(Path(repo))
    first = _items(paths)[:1]
    absolute = first and os.path.isabs(first[0])
    return Repo.find(Path(first[0]).parent if absolute else None)


def _items(paths: PathArg | Sequence[PathArg]) -> list[PathArg]:
    return [paths] if isinstance(paths, str | os.PathLike) else list(paths)


def _args(found: Repo, paths: PathArg | Sequence[PathArg], repo: RepoArg) -> list[str]:
    """Command arguments: paths from the current folder, or from `repo`'s root when given."""
    base = found.root if repo is not None else Path.cwd()
    return [str(base / os.fspath(p)) for p in _items(paths)]


def _checked(report: SyncReport, verb: str) -> SyncReport:
    from mdflow.sync import problems as problems_of

    problems = problems_of(report)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MdflowError(
            f"{verb} incomplete: {problems[0]}{more}",
            f"check the remote and run it again (mdflow {verb} -v shows details)",
        )
    return report
