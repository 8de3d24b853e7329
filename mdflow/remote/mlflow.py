"""The MLflow adapter: the only module of mdflow that imports mlflow.

A remote is the artifact folder of one "store run" in the repository's experiment, on an
MLflow tracking server or in an embedded store (sqlite + artifact folder).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import logging
import os
import posixpath
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from mdflow.remote import RemoteSpec, http, register
from mdflow.remote.base import RemoteError, VersionInfo, VersionRecord, VersionRun
from mdflow.repo import Repo

STORE_TAG = "mdflow.role"
STORE_RUN_NAME = "mdflow-store"
_ENV_DEFAULTS = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",  # MLflow's default (7, with backoff) hides outages
    # generous: with proxied downloads the server stages a large object before the first byte
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "900",
    # Through the server only: without these, MLflow clients fetch every artifact (and upload
    # files of 500 MiB or more) straight from S3 with signed URLs, so they would need to reach S3.
    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # mdflow draws its own
}


class MlflowRemote:
    def __init__(self, spec: RemoteSpec, repo: Repo) -> None:
        self.name = spec.name
        self.url = spec.url
        self._configure_env(spec)
        self.tracking_uri, artifact_location = _locations(spec.url, repo.root)
        self._client: Any = None
        self._preload: threading.Thread | None = None
        self.http = http.MlflowHttp(self.tracking_uri) if http.usable(self.tracking_uri) else None
        self.artifacts: Any = None
        try:
            if self.http is not None:
                self.experiment_id, self.run_id, uri = self._find_store(spec.experiment)
            else:
                self.experiment_id, self.run_id, uri = self._locate(
                    spec.experiment, artifact_location
                )
            self._root = _proxied_root(uri) if self.http else None
            if self._root is None:
                from mlflow.store.artifact.artifact_repository_registry import (
                    get_artifact_repository,
                )

                self.artifacts = get_artifact_repository(uri, tracking_uri=self.tracking_uri)
        except Exception as e:
            raise RemoteError(f"cannot open remote {self.name} ({self.url}): {_short(e)}") from e
        self._staging = Path(tempfile.mkdtemp(prefix="mdflow-upload-"))

    @property
    def client(self) -> Any:
        """MLflow's client, imported on first use (a pull never needs it with a server)."""
        if self._client is None:
            import mlflow

            for logger in ("mlflow", "alembic"):  # after import: mlflow sets its level then
                logging.getLogger(logger).setLevel(logging.WARNING)
            # no mlflow.set_tracking_uri: mdflow runs inside training code (Python API), whose
            # own MLflow runs must keep going to the tracking server the user chose
            self._client = mlflow.MlflowClient(self.tracking_uri)
        return self._client

    def expect_records(self) -> None:
        """Import mlflow in the background while objects travel: runs are recorded next."""
        if self._client is None and self._preload is None and "mlflow" not in sys.modules:
            self._preload = threading.Thread(target=_import_mlflow, daemon=True)
            self._preload.start()

    def _find_store(self, experiment: str) -> tuple[str, str, str]:
        """(experiment id, store run id, its artifact URI), found or created through the REST
        API: a handful of requests, no `import mlflow`. The same steps as `_locate`."""
        api = self.http
        assert api is not None
        exp_id = self._experiment_http(api, experiment)
        runs = self._store_runs_http(api, exp_id)
        if not runs:
            now = int(time.time() * 1000)
            tag = {"key": STORE_TAG, "value": "store"}
            new = {"experiment_id": exp_id, "run_name": STORE_RUN_NAME, "start_time": now}
            mine = api.post_json("runs/create", new | {"tags": [tag]})["run"]["info"]["run_id"]
            api.post_json("runs/update", {"run_id": mine, "status": "FINISHED", "end_time": now})
            runs = self._store_runs_http(api, exp_id)
            if runs[0]["info"]["run_id"] != mine:  # another clone created one at the same time
                api.post_json("runs/delete", {"run_id": mine})
        info = runs[0]["info"]
        return exp_id, str(info["run_id"]), str(info["artifact_uri"])

    @staticmethod
    def _experiment_http(api: http.MlflowHttp, name: str) -> str:
        def find() -> str | None:
            try:
                exp = api.get_json("experiments/get-by-name", experiment_name=name)["experiment"]
            except http.NotFound:
                return None
            if exp["lifecycle_stage"] != "active":
                raise RemoteError(_deleted(name))
            return str(exp["experiment_id"])

        found = find()
        if found is None:
            try:
                return str(api.post_json("experiments/create", {"name": name})["experiment_id"])
            except OSError:  # created concurrently by another clone: use theirs
                found = find()
                if found is None:
                    raise
        return found

    @staticmethod
    def _store_runs_http(api: http.MlflowHttp, exp_id: str) -> list[dict[str, Any]]:
        query = {
            "experiment_ids": [exp_id],
            "filter": f"tags.`{STORE_TAG}` = 'store'",
            "run_view_type": "ACTIVE_ONLY",
            "order_by": ["attributes.start_time ASC"],
        }
        runs = api.post_json("runs/search", query).get("runs", [])
        return runs if isinstance(runs, list) else []

    def _locate(self, experiment: str, artifact_location: str | None) -> tuple[str, str, str]:
        """Find or create the experiment and its store run with MLflow's client."""
        self.experiment_id = self._experiment(experiment, artifact_location)
        run_id = self._store_run()
        return self.experiment_id, run_id, str(self.client.get_run(run_id).info.artifact_uri)

    def store_id(self) -> str:
        return f"{self.tracking_uri} {self.run_id}"

    @staticmethod
    def _configure_env(spec: RemoteSpec) -> None:
        for key, value in _ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)

        auth = spec.auth
        if auth and auth.token:
            os.environ["MLFLOW_TRACKING_TOKEN"] = auth.token
        if auth and auth.username:
            os.environ["MLFLOW_TRACKING_USERNAME"] = auth.username
            os.environ["MLFLOW_TRACKING_PASSWORD"] = auth.password or ""

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage != "active":
            raise RemoteError(_deleted(name))
        if found is None:
            try:
                return str(self.client.create_experiment(name, artifact_location))
            except Exception:  # created concurrently by another clone: use theirs
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        return str(found.experiment_id)

    def _store_runs(self) -> list[Any]:
        return list(
            self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{STORE_TAG}` = 'store'",
                order_by=["attributes.start_time ASC"],
            )
        )

    def _store_run(self) -> str:
        runs = self._store_runs()
        if runs:
            return str(runs[0].info.run_id)
        mine = self.client.create_run(
            self.experiment_id, tags={STORE_TAG: "store"}, run_name=STORE_RUN_NAME
        )
        self.client.set_terminated(mine.info.run_id)
        oldest = self._store_runs()[0].info.run_id
        if oldest != mine.info.run_id:  # another clone created one at the same time
            self.client.delete_run(mine.info.run_id)
        return str(oldest)

    def list(self, folder: str) -> list[str]:
        try:
            if self._root is not None and self.http is not None:
                return self.http.list(f"{self._root}/{folder}")
            infos = self.artifacts.list_artifacts(folder)
        except Exception as e:
            raise RemoteError(f"listing {folder}/ on {self.url} failed: {_short(e)}") from e
        return sorted(posixpath.basename(i.path) for i in infos if not i.is_dir)

    def put(self, local: Path, dest: str) -> None:
        if self._root is not None and self.http is not None:
            try:
                self.http.upload(local, f"{self._root}/{dest}")
            except Exception as e:
                raise RemoteError(f"uploading {dest} to {self.url} failed: {_short(e)}") from e
            return
        folder, name = posixpath.split(dest)
        source = local
        if local.name != name:  # MLflow names the artifact after the local file
            link_dir = Path(tempfile.mkdtemp(dir=self._staging))
            source = link_dir / name
            source.symlink_to(local.resolve())
        try:
            self.artifacts.log_artifact(str(source), folder or None)
        except Exception as e:
            raise RemoteError(f"uploading {dest} to {self.url} failed: {_short(e)}") from e
        finally:
            if source != local:
                shutil.rmtree(source.parent, ignore_errors=True)

    def get(self, src: str, local: Path) -> None:
        if self._root is not None and self.http is not None:
            try:
                self.http.download(f"{self._root}/{src}", local)
            except Exception as e:
                local.unlink(missing_ok=True)
                raise RemoteError(f"downloading {src} from {self.url} failed: {_short(e)}") from e
            return
        tmp = Path(tempfile.mkdtemp(dir=local.parent, prefix=".mdflow-download-"))
        try:
            got = self.artifacts.download_artifacts(src, dst_path=str(tmp))
            os.replace(got, local)
        except Exception as e:
            raise RemoteError(f"downloading {src} from {self.url} failed: {_short(e)}") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def open_stream(self, src: str) -> BinaryIO | None:
        if self._root is None or self.http is None:
            return None  # MLflow's client downloads whole files only
        try:
            return self.http.stream(f"{self._root}/{src}")
        except Exception as e:
            raise RemoteError(f"downloading {src} from {self.url} failed: {_short(e)}") from e

    def record_version(self, version: VersionInfo) -> VersionRun:
        try:
            run_id = self._find_version(version) or self._create_version(version)
        except Exception as e:
            raise RemoteError(f"recording {version.path} on {self.url} failed: {_short(e)}") from e
        return self._version_run(run_id)

    def run_tags(self, run_id: str) -> dict[str, str]:
        try:
            return dict(self.client.get_run(run_id).data.tags)
        except Exception as e:
            raise RemoteError(f"reading run {run_id} on {self.url} failed: {_short(e)}") from e

    def log_report(
        self, run_id: str, visitor: str, folder: Path, metrics: dict[str, float], key: str
    ) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        try:
            if any(folder.iterdir()):
                self.client.log_artifacts(run_id, str(folder), f"reports/{visitor}")
            self.client.log_batch(
                run_id,
                metrics=[Metric(f"{visitor}.{k}", float(v), now, 0) for k, v in metrics.items()],
                tags=[RunTag(f"mdflow.visit.{visitor}", key)],
            )
        except Exception as e:
            raise RemoteError(f"logging {visitor} reports on {self.url} failed: {_short(e)}") from e

    def report_texts(self, run_id: str) -> dict[str, str]:
        texts = {}
        try:
            for folder in self.client.list_artifacts(run_id, "reports"):
                for item in self.client.list_artifacts(run_id, folder.path):
                    if item.path.endswith(".md"):
                        local = self.client.download_artifacts(
                            run_id, item.path, str(self._staging)
                        )
                        texts[item.path] = Path(local).read_text()
        except Exception as e:
            raise RemoteError(f"reading reports of run {run_id} failed: {_short(e)}") from e
        return texts

    def versions(self, path: str) -> builtins.list[VersionRecord]:
        if "'" in path:
            raise RemoteError(f"cannot search MLflow for a path with a quote: {path!r}")
        try:
            runs = self.client.search_runs(
                [self.experiment_id], filter_string=f"tags.`mdflow.path` = '{path}'"
            )
        except Exception as e:
            raise RemoteError(f"listing versions on {self.url} failed: {_short(e)}") from e
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
            run=self._version_run(run.info.run_id),
        )

    def _version_run(self, run_id: str) -> VersionRun:
        url = None
        if self.tracking_uri.startswith("http"):
            url = f"{self.tracking_uri}/#/experiments/{self.experiment_id}/runs/{run_id}"
        return VersionRun(run_id, f"runs:/{run_id}", url)

    def _find_version(self, v: VersionInfo) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`mdflow.hash` = '{v.hash}'"
        )
        mine = [r for r in runs if r.data.tags.get("mdflow.path") == v.path]
        return str(mine[0].info.run_id) if mine else None

    def _create_version(self, v: VersionInfo) -> str:
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag, Metric

        hexd = v.hash.split(":")[1]
        tags = {"mdflow.path": v.path, "mdflow.hash": v.hash, "mdflow.kind": v.kind}
        tags |= {f"mdflow.git.{k}": val for k, val in (v.git or {}).items()}
        run = self.client.create_run(
            self.experiment_id, run_name=f"{v.path}@{hexd[:10]}", tags=tags
        )
        run_id = run.info.run_id
        name = v.path.rsplit("/", 1)[-1]
        self.client.log_text(run_id, v.pointer_text, f"mdflow/{name}.mdflow")
        if v.manifest is not None:
            self.client.log_text(run_id, v.manifest.decode(), "mdflow/manifest.json")
        numbers = {"size_bytes": v.size, "files": v.files, "rows": v.rows, "columns": v.columns}
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(n), now, 0) for k, n in numbers.items() if n is not None]
        self.client.log_batch(run_id, metrics=metrics)
        source = HTTPDatasetSource(url=f"{self.url}#{v.path}@{hexd}")  # type: ignore[no-untyped-call]
        dataset = MetaDataset(source=source, name=v.path, digest=hexd)  # type: ignore[abstract]
        context = InputTag(key="mlflow.data.context", value="mdflow")
        self.client.log_inputs(
            run_id, [DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[context])]
        )
        self.client.set_terminated(run_id)
        return str(run_id)

    def close(self) -> None:
        if self._preload is not None:
            self._preload.join()  # no import left running at exit
        if self.http is not None:
            self.http.session.close()
        shutil.rmtree(self._staging, ignore_errors=True)


def _import_mlflow() -> None:
    with contextlib.suppress(Exception):  # the import is done again where it is needed
        importlib.import_module("mlflow")


def _proxied_root(artifact_uri: str) -> str | None:
    """The artifact path below the server's proxy (`mlflow-artifacts:/<path>`), else None."""
    head, sep, path = artifact_uri.partition(":")
    if head != "mlflow-artifacts" or not sep or path.startswith("//"):
        return None  # another scheme, or a proxy on another host: MLflow's client handles it
    return path.strip("/") or None


def _locations(url: str, root: Path) -> tuple[str, str | None]:
    """(tracking URI, artifact location for new experiments) of a remote URL."""
    if url.startswith(("http://", "https://")):
        return url.rstrip("/"), None
    folder = Path(url.removeprefix("file://"))
    folder = folder if folder.is_absolute() else root / folder
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def _deleted(experiment: str) -> str:
    return (
        f"experiment {experiment!r} is deleted on the server: restore it (mlflow experiments "
        "restore) or delete it for good (mlflow gc) so that mdflow creates it again"
    )


def _short(e: Exception) -> str:
    """One line for the user; authentication refusals say so plainly."""
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    for code in ("401", "403"):
        if f"error code {code}" in first or f"{code} Client Error" in first:
            return (
                f"the server refused the credentials (HTTP {code}): set MLFLOW_TRACKING_USERNAME/"
                "MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN, or auth in "
                ".mdflow/config.local.yaml"
            )
    return first[:300]


register("http", MlflowRemote)
register("https", MlflowRemote)
register("file", MlflowRemote)


# Lineage: training runs name the dataset versions they read (mdflow.log_input), and MLflow
# loads them back through a dataset source registered by the `mlflow.dataset_source` entry
# point (pyproject.toml). The class is built on first access: MLflow loads entry points while
# `import mlflow` runs, so this module must not import mlflow at its top.

SOURCE_TYPE = "mdflow"


def __getattr__(name: str) -> Any:
    if name == "MdflowDatasetSource":
        cls = _dataset_source_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _dataset_source_class() -> type[Any]:
    from mlflow.data.dataset_source import DatasetSource

    class MdflowDatasetSource(DatasetSource):
        """A dataset version in Git + mdflow: `mdflow://<repo>@<commit>:<path>` and its hash.

        `load(dst_path=None)` downloads that exact version and returns its local path.
        """

        def __init__(self, uri: str, hash: str | None = None) -> None:
            self.uri, self.hash = uri, hash

        @staticmethod
        def _get_source_type() -> str:
            return SOURCE_TYPE

        def load(self, dst_path: str | None = None) -> str:
            from mdflow.commands import get  # MLflow's way into mdflow, like the CLI's

            return str(get.load_uri(self.uri, self.hash, dst_path))

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return isinstance(raw_source, str) and raw_source.startswith("mdflow://")

        @classmethod
        def _resolve(cls, raw_source: Any) -> MdflowDatasetSource:
            return cls(str(raw_source))

        def to_dict(self) -> dict[str, Any]:
            return {"uri": self.uri, "hash": self.hash}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> MdflowDatasetSource:
            return cls(str(source_dict["uri"]), source_dict.get("hash"))

    return MdflowDatasetSource


def log_input(name: str, uri: str, oid: str, context: str | None, tags: dict[str, str]) -> None:
    """Log a dataset version as an input of the active MLflow run (started if none is)."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    source = __getattr__("MdflowDatasetSource")(uri, oid)
    digest = oid.split(":", 1)[1]  # 32 hex digits: MLflow keeps at most 36 characters
    dataset = MetaDataset(source=source, name=name, digest=digest)  # type: ignore[abstract]
    mlflow.log_input(dataset, context=context, tags=tags)


def run_inputs(run_id: str) -> builtins.list[tuple[str, str, str | None]]:
    """(name, URI, hash) of the mdflow datasets a run on the current tracking server used."""
    import json

    import mlflow

    run = mlflow.MlflowClient().get_run(run_id)
    found = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        if item.dataset.source_type == SOURCE_TYPE:
            source = json.loads(item.dataset.source)
            found.append((item.dataset.name, str(source["uri"]), source.get("hash")))
    return found
