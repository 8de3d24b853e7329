"""The catalogue of versions as MLflow runs in the repository's experiment: one run per
dataset version, found by its tags before one is created, with the dataset as a run input."""

from __future__ import annotations

import builtins
import time
import warnings
from pathlib import Path
from typing import Any

from mdflow.remote.catalog import VersionInfo, VersionRecord, VersionRun
from mdflow.remote.errors import RemoteError
from mdflow.remote.mlflow.connection import Connection, short

PENDING = "mdflow.pending"  # tag of a run whose version no commit holds yet


class MlflowCatalog:
    def __init__(self, conn: Connection) -> None:
        self.conn, self.url = conn, conn.shown  # url: for messages

    def expect_records(self) -> None:
        self.conn.preload()

    def record_version(self, version: VersionInfo) -> VersionRun:
        try:
            found = self._find_version(version)
            if found is None:
                found = self._create_version(version)
            elif found.info.status == "RUNNING":  # left so by a push killed while recording
                self._complete(found.info.run_id, version, found)
            run_id, pending = str(found.info.run_id), PENDING in found.data.tags
            if pending and not version.pending:
                self._confirm(run_id, version.git or {})
            return self._version_run(run_id, pending and version.pending)
        except Exception as e:
            raise RemoteError(f"recording {version.path} on {self.url} failed: {short(e)}") from e

    def _confirm(self, run_id: str, git: dict[str, str]) -> None:
        """A commit now holds the version: tag it, and the run is no longer pending."""
        from mlflow.entities import RunTag

        tags = [RunTag(f"mdflow.git.{k}", v) for k, v in git.items()]
        self.conn.client.log_batch(run_id, tags=tags)
        self.conn.client.delete_tag(run_id, PENDING)

    def run_tags(self, run_id: str) -> dict[str, str]:
        try:
            return dict(self.conn.client.get_run(run_id).data.tags)
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
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        client, where = self.conn.client, artifacts or f"reports/{visitor}"
        try:
            if any(folder.iterdir()):
                client.log_artifacts(run_id, str(folder), where)
            for name, table in (tables or {}).items():
                with warnings.catch_warnings():  # MLflow's select_dtypes warns on pandas 3
                    warnings.simplefilter("ignore")
                    client.log_table(run_id, table, f"{where}/{name}")
            mine = [RunTag(f"{visitor}.{k}", v) for k, v in (tags or {}).items()]
            client.log_batch(
                run_id,
                metrics=[Metric(f"{visitor}.{k}", float(v), now, 0) for k, v in metrics.items()],
                tags=[*mine, RunTag(f"mdflow.visit.{visitor}", key)],
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
            runs = self.conn.client.search_runs(
                [self.conn.experiment_id], filter_string=f"tags.`mdflow.path` = '{path}'"
            )
        except Exception as e:
            raise RemoteError(f"listing versions on {self.url} failed: {short(e)}") from e
        return [self._record(r) for r in runs]

    def _record(self, run: Any) -> VersionRecord:
        tags, metrics = run.data.tags, run.data.metrics

        def number(key: str) -> int | None:
            return int(metrics[key]) if key in metrics else None

        return VersionRecord(
            hash=tags["mdflow.hash"],
            kind=tags.get("mdflow.kind", "file"),
            size=number("size_bytes") or 0,
            rows=number("rows"),
            files=number("files"),
            time=int(run.info.start_time // 1000),
            commit=tags.get("mdflow.git.commit"),
            author=tags.get("mdflow.git.author"),
            run=self._version_run(run.info.run_id, PENDING in tags),
        )

    def _version_run(self, run_id: str, pending: bool) -> VersionRun:
        url, uri = None, self.conn.tracking_uri
        if uri.startswith("http"):
            url = f"{uri}/#/experiments/{self.conn.experiment_id}/runs/{run_id}"
        return VersionRun(run_id, f"runs:/{run_id}", url, pending)

    def _find_version(self, v: VersionInfo) -> Any | None:
        """The version's run, the oldest if there are several (another clone recorded it at
        the same time), else None."""
        runs = self.conn.client.search_runs(
            [self.conn.experiment_id], filter_string=f"tags.`mdflow.hash` = '{v.hash}'"
        )
        mine = [r for r in runs if r.data.tags.get("mdflow.path") == v.path]
        return min(mine, key=lambda r: (r.info.start_time, r.info.run_id), default=None)

    def _create_version(self, v: VersionInfo) -> Any:
        """A new run for the version, completed; or, when another clone created one at the same
        time (the search after creating finds an older one), theirs, and mine is deleted."""
        tags = {"mdflow.path": v.path, "mdflow.hash": v.hash, "mdflow.kind": v.kind}
        tags |= {f"mdflow.git.{k}": val for k, val in (v.git or {}).items()}
        if v.pending:
            tags[PENDING] = "true"
        name = f"{v.path}@{v.hash.split(':')[1][:10]}"
        mine = self.conn.client.create_run(self.conn.experiment_id, run_name=name, tags=tags)
        theirs = self._older(v, mine.info.run_id)
        if theirs is not None:
            return theirs
        self._complete(mine.info.run_id, v, None)
        # again: a run created in the same millisecond may sort first (by id)
        return self._older(v, mine.info.run_id) or mine

    def _older(self, v: VersionInfo, mine: str) -> Any | None:
        """Another clone's run of the version that sorts before mine (mine is then deleted)."""
        oldest = self._find_version(v)
        if oldest is None or oldest.info.run_id == mine:
            return None
        self.conn.client.delete_run(mine)
        return oldest

    def _complete(self, run_id: str, v: VersionInfo, found: Any | None) -> None:
        """Log what a version run holds (what `found`, a run left unfinished, lacks), then
        finish it."""
        from mlflow.entities import Metric

        client, hexd = self.conn.client, v.hash.split(":")[1]
        name = v.path.rsplit("/", 1)[-1]
        client.log_text(run_id, v.pointer_text, f"mdflow/{name}.mdflow")
        if v.manifest is not None:
            client.log_text(run_id, v.manifest.decode(), "mdflow/manifest.json")
        if found is None or "size_bytes" not in found.data.metrics:
            numbers = {"size_bytes": v.size, "files": v.files, "rows": v.rows, "columns": v.columns}
            now = int(time.time() * 1000)
            metrics = [Metric(k, float(n), now, 0) for k, n in numbers.items() if n is not None]
            client.log_batch(run_id, metrics=metrics)
        if found is None or not (found.inputs and found.inputs.dataset_inputs):
            self._log_dataset(run_id, v.path, hexd)
        client.set_terminated(run_id)

    def _log_dataset(self, run_id: str, path: str, hexd: str) -> None:
        """The version as the run's dataset input, so it shows in the UI's Datasets column."""
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        source = HTTPDatasetSource(url=f"{self.conn.url}#{path}@{hexd}")  # type: ignore[no-untyped-call]
        dataset = MetaDataset(source=source, name=path, digest=hexd)  # type: ignore[abstract]
        context = InputTag(key="mlflow.data.context", value="mdflow")
        self.conn.client.log_inputs(
            run_id, [DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[context])]
        )
