"""The catalogue of versions as MLflow runs in the repository's experiment: one run per
dataset version, found by its tags before one is created, with the dataset as a run input.

Once a commit holds the version, its run is "settled": tagged with the commit and its ordinal
(`mdflow.version` = v1, v2, ...), described (`mlflow.note.content`), given its dataset input
(the `mdflow` source, schema, profile, split as context) and nested under the run of that
commit (`mlflow.parentRunId`), one per commit, made the way version runs are (the oldest wins
when two clones make one at once)."""

from __future__ import annotations

import builtins
import math
from pathlib import Path
from typing import Any

from mdflow.paths import check_relpath
from mdflow.remote.catalog import RunVersion, VersionInfo, VersionRecord, VersionRun
from mdflow.remote.errors import RemoteError
from mdflow.remote.mlflow import lineage
from mdflow.remote.mlflow.connection import STORE_TAG, Connection, short
from mdflow.remote.mlflow.runs import Run

PENDING = "mdflow.pending"  # tag of a run whose version no commit holds yet
ORDINAL = "mdflow.version"  # v1, v2, ... in the Git history of the dataset's path
NOTE, PARENT = "mlflow.note.content", "mlflow.parentRunId"
# MLflow 3's UI shows an experiment as GenAI or "Model training" by a switch kept in the
# browser (GenAI unless the user flips it); links mdflow writes ask for the runs view
UI = "?workflowType=machine_learning"
REPORT = "reports/index.html"  # the version's report page, written by its visitors
MAX_TAG, MAX_POINTER = 8000, 1 << 20  # MLflow's limit on a tag value; bytes of a pointer
COMMIT_ROLE = "commit"  # STORE_TAG of the run grouping the versions one commit records


class MlflowCatalog:
    def __init__(self, conn: Connection) -> None:
        self.conn, self.url = conn, conn.shown  # url: for messages

    def record_version(self, version: VersionInfo) -> VersionRun:
        try:
            found, settled = self._find_version(version), False
            if found is None:
                found = self._create_version(version)
            elif found.status == "RUNNING":  # left so by a push killed while recording
                self._complete(found.run_id, version, found)
                settled = True
            run_id, pending = found.run_id, PENDING in found.tags
            if pending and not version.pending:
                if not settled:
                    self._settle(run_id, version, found)
                self.conn.runs.delete_tag(run_id, PENDING)
            return self._version_run(run_id, pending and version.pending)
        except Exception as e:
            raise RemoteError(f"recording {version.path} on {self.url} failed: {short(e)}") from e

    def _settle(self, run_id: str, v: VersionInfo, found: Run | None) -> None:
        """A commit holds the version: tag the run with it, its ordinal and its description,
        nest it under the commit's run, and log the dataset (unless `found` has one)."""
        git = v.git or {}
        tags = {f"mdflow.git.{k}": val for k, val in git.items()}
        tags[NOTE] = (v.description + self._report_link(run_id))[:MAX_TAG]
        if v.ordinal is not None:
            tags[ORDINAL] = f"v{v.ordinal}"
        parent, made = self._commit_run(git)
        tags[PARENT] = parent
        self.conn.runs.log_batch(run_id, {}, tags)
        if found is None or not found.has_datasets:
            self._log_dataset(run_id, v)
        self._converge(run_id, git, parent, made)

    def _converge(self, run_id: str, git: dict[str, str], parent: str, made: bool) -> None:
        """Again, now that the version is nested: another clone may have made the commit's run
        at the same moment, unseen by the first search (the server had not answered it yet).
        Nest the version under the oldest, and delete the run this clone made if nothing
        is nested under it any more."""
        oldest = self._oldest_commit_run(git)
        if oldest is None or oldest.run_id == parent:
            return
        self.conn.runs.set_tag(run_id, PARENT, oldest.run_id)
        if made:
            nested = self.conn.runs.search(self.conn.experiment_id, f"tags.`{PARENT}` = '{parent}'")
            if not nested:
                self.conn.runs.delete(parent)

    def _report_link(self, run_id: str) -> str:
        """A markdown line linking the version's report page in the MLflow UI."""
        where = f"#/experiments/{self.conn.experiment_id}/runs/{run_id}/artifacts/{REPORT}{UI}"
        if self.conn.tracking_uri.startswith("http"):
            where = f"{self.conn.tracking_uri}/{where}"
        return f"- report: [{REPORT}]({where})\n"

    def _oldest_commit_run(self, git: dict[str, str]) -> Run | None:
        query = f"tags.`{STORE_TAG}` = '{COMMIT_ROLE}' and tags.`mdflow.git.commit` = "
        query += f"'{git['commit']}'"
        runs = self.conn.runs.search(self.conn.experiment_id, query)
        return min(runs, key=lambda r: (r.start_time, r.run_id), default=None)

    def _commit_run(self, git: dict[str, str]) -> tuple[str, bool]:
        """The run of the commit in `git`, found or made (the oldest when two clones made one
        at the same time; the other is deleted by its maker), and whether this call made it."""
        found = self._oldest_commit_run(git)
        if found is not None:
            if found.status == "RUNNING":  # left so by a push that failed while making it
                self.conn.runs.finish(found.run_id)
            return found.run_id, False
        subject = git.get("subject", "")
        name = f"{git['commit'][:10]} {subject[:80]}".strip()
        tags = {STORE_TAG: COMMIT_ROLE} | {f"mdflow.git.{k}": val for k, val in git.items()}
        tags[NOTE] = (
            f"Commit `{git['commit']}`: {subject[: MAX_TAG - 100]}\n\nThe versions it records."
        )
        mine = self.conn.runs.create(self.conn.experiment_id, name, tags)
        self.conn.runs.finish(mine.run_id)
        winner = self._oldest_commit_run(git)
        if winner is not None and winner.run_id != mine.run_id:
            self.conn.runs.delete(mine.run_id)
            return winner.run_id, False
        return mine.run_id, True

    def version_of_run(self, run_id: str) -> RunVersion:
        try:
            run = self.conn.runs.get(run_id)
            path = run.tags.get("mdflow.path", "")
            if not path or "mdflow.hash" not in run.tags:
                raise RemoteError(f"run {run_id} records no dataset version (no mdflow.path tag)")
            try:
                check_relpath(path)  # names the artifact to download: nothing outside staging
            except ValueError as e:
                raise RemoteError(f"run {run_id} has an unusable mdflow.path tag: {e}") from None
            artifact = f"mdflow/{path.rsplit('/', 1)[-1]}.mdflow"
            local = self.conn.runs.download(run_id, artifact, self.conn.staging, MAX_POINTER)
            if local.stat().st_size > MAX_POINTER:
                raise RemoteError(f"run {run_id} has a pointer artifact too large to be one")
            return RunVersion(path, local.read_text(errors="replace"))
        except RemoteError:
            raise
        except Exception as e:
            raise RemoteError(f"reading run {run_id} on {self.url} failed: {short(e)}") from e

    def run_tags(self, run_id: str) -> dict[str, str]:
        try:
            return self.conn.runs.get(run_id).tags
        except Exception as e:
            raise RemoteError(f"reading run {run_id} on {self.url} failed: {short(e)}") from e

    def log_report(
        self,
        run_id: str,
        visitor: str,
        folder: Path,
        metrics: dict[str, float],
        key: str,
        *,
        artifacts: str | None = None,
        tags: dict[str, str] | None = None,
        tables: dict[str, Any] | None = None,
    ) -> None:
        runs, where = self.conn.runs, artifacts or f"reports/{visitor}"
        try:
            if any(folder.iterdir()):
                runs.log_artifacts(run_id, folder, where)
            for name, table in (tables or {}).items():
                runs.log_table(run_id, table, f"{where}/{name}")
            mine = {f"{visitor}.{k}": v for k, v in (tags or {}).items()}
            runs.log_batch(
                run_id,
                {f"{visitor}.{k}": float(v) for k, v in metrics.items()},
                {**mine, f"mdflow.visit.{visitor}": key},
            )
        except Exception as e:
            raise RemoteError(f"logging {visitor} reports on {self.url} failed: {short(e)}") from e

    def report_files(self, run_id: str) -> dict[str, str | None]:
        client, files = self.conn.client, {}
        try:
            for top in client.list_artifacts(run_id, "reports"):
                items = client.list_artifacts(run_id, top.path) if top.is_dir else [top]
                for item in items:
                    if item.is_dir:
                        continue
                    text = None
                    if item.path.endswith(".md"):
                        local = client.download_artifacts(run_id, item.path, str(self.conn.staging))
                        text = Path(local).read_text()
                    files[item.path] = text
        except Exception as e:
            raise RemoteError(f"reading reports of run {run_id} failed: {short(e)}") from e
        return files

    def versions(self, path: str) -> builtins.list[VersionRecord]:
        if "'" in path:
            raise RemoteError(f"cannot search MLflow for a path with a quote: {path!r}")
        try:
            runs = self.conn.runs.search(self.conn.experiment_id, f"tags.`mdflow.path` = '{path}'")
        except Exception as e:
            raise RemoteError(f"listing versions on {self.url} failed: {short(e)}") from e
        return [self._record(r) for r in runs if "mdflow.hash" in r.tags]  # versions only

    def _record(self, run: Run) -> VersionRecord:
        tags, metrics = run.tags, run.metrics

        def number(key: str) -> int | None:
            value = metrics.get(key)
            return int(value) if value is not None and math.isfinite(value) else None

        return VersionRecord(
            hash=tags["mdflow.hash"],
            kind=tags.get("mdflow.kind", "file"),
            size=number("size_bytes") or 0,
            rows=number("rows"),
            files=number("files"),
            time=run.start_time // 1000,
            commit=tags.get("mdflow.git.commit"),
            author=tags.get("mdflow.git.author"),
            run=self._version_run(run.run_id, PENDING in tags),
        )

    def _version_run(self, run_id: str, pending: bool) -> VersionRun:
        url, uri = None, self.conn.tracking_uri
        if uri.startswith("http"):
            url = f"{uri}/#/experiments/{self.conn.experiment_id}/runs/{run_id}{UI}"
        return VersionRun(run_id, f"runs:/{run_id}", url, pending)

    def _find_version(self, v: VersionInfo) -> Run | None:
        """The version's run, the oldest if there are several (another clone recorded it at
        the same time), else None."""
        runs = self.conn.runs.search(self.conn.experiment_id, f"tags.`mdflow.hash` = '{v.hash}'")
        mine = [r for r in runs if r.tags.get("mdflow.path") == v.path]
        return min(mine, key=lambda r: (r.start_time, r.run_id), default=None)

    def _create_version(self, v: VersionInfo) -> Run:
        """A new run for the version, completed; or, when another clone created one at the same
        time (the search after creating finds an older one), theirs, and mine is deleted."""
        tags = {"mdflow.path": v.path, "mdflow.hash": v.hash, "mdflow.kind": v.kind}
        tags |= {f"mdflow.git.{k}": val for k, val in (v.git or {}).items()} | {
            NOTE: v.description[:MAX_TAG]
        }
        if v.pending:
            tags[PENDING] = "true"
        name = f"{v.path}@{v.hash.split(':')[1][:10]}"
        mine = self.conn.runs.create(self.conn.experiment_id, name, tags)
        theirs = self._older(v, mine.run_id)
        if theirs is not None:
            return theirs
        self._complete(mine.run_id, v, None)
        # again: a run created in the same millisecond may sort first (by id)
        return self._older(v, mine.run_id) or mine

    def _older(self, v: VersionInfo, mine: str) -> Run | None:
        """Another clone's run of the version that sorts before mine (mine is then deleted)."""
        oldest = self._find_version(v)
        if oldest is None or oldest.run_id == mine:
            return None
        self.conn.runs.delete(mine)
        return oldest

    def _complete(self, run_id: str, v: VersionInfo, found: Run | None) -> None:
        """Log what a version run holds (what `found`, a run left unfinished, lacks), then
        finish it."""
        runs, name = self.conn.runs, v.path.rsplit("/", 1)[-1]
        runs.log_text(run_id, v.pointer_text, f"mdflow/{name}.mdflow")
        if v.manifest is not None:
            runs.log_text(run_id, v.manifest.decode(), "mdflow/manifest.json")
        if found is None or "size_bytes" not in found.metrics:
            numbers = {"size_bytes": v.size, "files": v.files, "rows": v.rows, "columns": v.columns}
            runs.log_batch(run_id, {k: float(n) for k, n in numbers.items() if n is not None}, {})
        if not v.pending:
            self._settle(run_id, v, found)
        runs.finish(run_id)

    def _log_dataset(self, run_id: str, v: VersionInfo) -> None:
        """The version as the run's dataset input (Datasets panel: schema, profile, split)."""
        conn = self.conn  # where the run is read from: a server, or an embedded store's folder
        server = conn.tracking_uri if conn.folder is None else str(conn.folder.resolve())
        dataset = lineage.version_dataset(v, run_id, server)
        tags = {lineage.CONTEXT: v.split or "dataset", "mdflow.hash": v.hash, "mdflow.path": v.path}
        try:
            conn.runs.log_dataset(run_id, dataset, tags)
        except Exception:  # another clone logged that dataset at the same moment: link theirs
            conn.runs.log_dataset(run_id, dataset, tags)
