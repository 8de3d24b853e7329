"""The catalogue of versions as MLflow runs in the repository's experiment: one run per
dataset version, found by its tags before one is created, with the dataset as a run input."""

from __future__ import annotations

import builtins
import time
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
                return self._version_run(self._create_version(version), version.pending)
            run_id, pending = found
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
        self, run_id: str, visitor: str, folder: Path, metrics: dict[str, float], key: str
    ) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        client = self.conn.client
        try:
            if any(folder.iterdir()):
                client.log_artifacts(run_id, str(folder), f"reports/{visitor}")
            client.log_batch(
                run_id,
                metrics=[Metric(f"{visitor}.{k}", float(v), now, 0) for k, v in metrics.items()],
                tags=[RunTag(f"mdflow.visit.{visitor}", key)],
            )
        except Exception as e:
            raise RemoteError(f"logging {visitor} reports on {self.url} failed: {short(e)}") from e

    def report_files(self, run_id: str) -> dict[str, str | None]:
        client, files = self.conn.client, {}
        try:
            for folder in client.list_artifacts(run_id, "reports"):
                for item in client.list_artifacts(run_id, folder.path):
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

    def _find_version(self, v: VersionInfo) -> tuple[str, bool] | None:
        """(run id, pending) of the version's run, if there is one."""
        runs = self.conn.client.search_runs(
            [self.conn.experiment_id], filter_string=f"tags.`mdflow.hash` = '{v.hash}'"
        )
        mine = [r for r in runs if r.data.tags.get("mdflow.path") == v.path]
        return (str(mine[0].info.run_id), PENDING in mine[0].data.tags) if mine else None

    def _create_version(self, v: VersionInfo) -> str:
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag, Metric

        client, hexd = self.conn.client, v.hash.split(":")[1]
        tags = {"mdflow.path": v.path, "mdflow.hash": v.hash, "mdflow.kind": v.kind}
        tags |= {f"mdflow.git.{k}": val for k, val in (v.git or {}).items()}
        if v.pending:
            tags[PENDING] = "true"
        run = client.create_run(
            self.conn.experiment_id, run_name=f"{v.path}@{hexd[:10]}", tags=tags
        )
        run_id = run.info.run_id
        name = v.path.rsplit("/", 1)[-1]
        client.log_text(run_id, v.pointer_text, f"mdflow/{name}.mdflow")
        if v.manifest is not None:
            client.log_text(run_id, v.manifest.decode(), "mdflow/manifest.json")
        numbers = {"size_bytes": v.size, "files": v.files, "rows": v.rows, "columns": v.columns}
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(n), now, 0) for k, n in numbers.items() if n is not None]
        client.log_batch(run_id, metrics=metrics)
        source = HTTPDatasetSource(url=f"{self.conn.url}#{v.path}@{hexd}")  # type: ignore[no-untyped-call]
        dataset = MetaDataset(source=source, name=v.path, digest=hexd)  # type: ignore[abstract]
        context = InputTag(key="mlflow.data.context", value="mdflow")
        client.log_inputs(
            run_id, [DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[context])]
        )
        client.set_terminated(run_id)
        return str(run_id)
