"""The run calls of the catalogue, two ways: MLflow's REST API over plain HTTP (a server whose
runs keep their artifacts behind its proxy, `http.usable`), else MLflow's client.

`import mlflow` costs one to two seconds, most of a first push of a few files; the calls that
record a version (search, create, tag, log metrics, a dataset input and a text artifact) are a
handful of requests. Both ways send the same requests MLflow's client sends (its REST store's
`CreateRun`, `UpdateRun`, `LogBatch`, `LogInputs`, ...), so a run looks the same whichever made it.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mdflow.remote.errors import RemoteError
from mdflow.remote.mlflow import http

PAGE = 1000  # MLflow's SEARCH_MAX_RESULTS_DEFAULT
MAX_PAGES = 10_000  # ten million runs: a search longer than that does not end


@dataclass
class Run:
    """What the catalogue reads of a run."""

    run_id: str
    experiment_id: str
    status: str
    start_time: int  # ms
    artifact_uri: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    has_datasets: bool = False


class Runs(Protocol):
    def search(self, experiment_id: str, query: str) -> list[Run]: ...
    def get(self, run_id: str) -> Run: ...
    def create(self, experiment_id: str, name: str, tags: dict[str, str]) -> Run: ...
    def finish(self, run_id: str) -> None: ...
    def delete(self, run_id: str) -> None: ...
    def set_tag(self, run_id: str, key: str, value: str) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def log_batch(self, run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None: ...
    def log_dataset(self, run_id: str, dataset: dict[str, str], tags: dict[str, str]) -> None: ...
    def log_text(self, run_id: str, text: str, path: str) -> None: ...
    def log_artifacts(self, run_id: str, folder: Path, where: str) -> None: ...
    def log_table(self, run_id: str, table: Any, path: str) -> None: ...
    def download(self, run_id: str, path: str, folder: Path, limit: int | None = None) -> Path: ...


def now_ms() -> int:
    return int(time.time() * 1000)


class RestRuns:
    """Runs through the REST API; artifacts through the server's proxy. A run whose artifacts
    are elsewhere (another scheme or host) has its artifact calls made by `fallback`."""

    def __init__(
        self, api: http.MlflowHttp, fallback: Callable[[], Runs], experiment: str | None = None
    ) -> None:
        """`experiment`: the experiment's folder below the proxy, when its store run is
        proxied; a run's artifacts must then be in `<experiment>/<run id>/artifacts`."""
        self.api, self.fallback, self.experiment = api, fallback, experiment
        self._uris: dict[str, str] = {}  # run id -> artifact URI, from what the server sent

    def _run(self, raw: Any) -> Run:
        run = _parse(raw)
        self._uris[run.run_id] = run.artifact_uri
        return run

    def search(self, experiment_id: str, query: str) -> list[Run]:
        body: dict[str, Any] = {
            "experiment_ids": [experiment_id],
            "filter": query,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": PAGE,
        }
        found: list[Run] = []
        seen: set[str] = set()
        while True:
            page = self.api.post_json("runs/search", body)
            found += [self._run(r) for r in _list(page.get("runs"))]
            token = page.get("next_page_token")
            if not token:
                return found
            _next_page(str(token), seen)
            body["page_token"] = token

    def get(self, run_id: str) -> Run:
        return self._run(self.api.get_json("runs/get", run_id=run_id).get("run"))

    def create(self, experiment_id: str, name: str, tags: dict[str, str]) -> Run:
        body = {
            "experiment_id": experiment_id,
            "user_id": tags.get("mlflow.user", "unknown"),
            "start_time": now_ms(),
            "tags": _pairs(tags),
            "run_name": name,
        }
        return self._run(self.api.post_json("runs/create", body).get("run"))

    def finish(self, run_id: str) -> None:
        body = {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED", "end_time": now_ms()}
        self.api.post_json("runs/update", body)

    def delete(self, run_id: str) -> None:
        self.api.post_json("runs/delete", {"run_id": run_id})

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        body = {"run_id": run_id, "run_uuid": run_id, "key": key, "value": value}
        self.api.post_json("runs/set-tag", body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.api.post_json("runs/delete-tag", {"run_id": run_id, "key": key})

    def log_batch(self, run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        at = now_ms()
        numbers = [{"key": k, "value": v, "timestamp": at, "step": 0} for k, v in metrics.items()]
        body = {"run_id": run_id, "metrics": numbers, "params": [], "tags": _pairs(tags)}
        self.api.post_json("runs/log-batch", body)

    def log_dataset(self, run_id: str, dataset: dict[str, str], tags: dict[str, str]) -> None:
        given = {k: v for k, v in dataset.items() if v is not None}
        item = {"tags": _pairs(tags), "dataset": given}
        self.api.post_json("runs/log-inputs", {"run_id": run_id, "datasets": [item]})

    def _proxied(self, run_id: str) -> str | None:
        uri = self._uris.get(run_id)
        if uri is None:
            uri = self.get(run_id).artifact_uri
        root = proxied_root(uri)
        if self.experiment is not None and root != f"{self.experiment}/{run_id}/artifacts":
            raise RemoteError(  # another host, another experiment: the server's answer
                f"run {run_id} keeps its artifacts outside its experiment ({uri!r})"
            )
        return root

    def log_text(self, run_id: str, text: str, path: str) -> None:
        root = self._proxied(run_id)
        if root is None:
            self.fallback().log_text(run_id, text, path)
            return
        with tempfile.TemporaryDirectory(prefix="mdflow-text-") as tmp:
            local = Path(tmp) / "text"
            local.write_text(text, encoding="utf-8")
            self.api.upload(local, f"{root}/{path}")

    def log_artifacts(self, run_id: str, folder: Path, where: str) -> None:
        root = self._proxied(run_id)
        if root is None:
            self.fallback().log_artifacts(run_id, folder, where)
            return
        for local in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.api.upload(local, f"{root}/{where}/{local.relative_to(folder).as_posix()}")

    def log_table(self, run_id: str, table: Any, path: str) -> None:
        self.fallback().log_table(run_id, table, path)  # MLflow's table format and its tag

    def download(self, run_id: str, path: str, folder: Path, limit: int | None = None) -> Path:
        """The artifact in a new file of `folder`; with `limit`, no more than `limit` + 1
        bytes of it (the caller tells a file too large by its size)."""
        root = self._proxied(run_id)
        if root is None:
            return self.fallback().download(run_id, path, folder, limit)
        fd, name = tempfile.mkstemp(dir=folder, prefix="artifact-")
        os.close(fd)
        self.api.download(f"{root}/{path}", Path(name), limit)
        return Path(name)


class ClientRuns:
    """Runs through MLflow's client (`client`: an MlflowClient, scoped by env.Scoped)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def search(self, experiment_id: str, query: str) -> list[Run]:
        found: list[Run] = []
        seen: set[str] = set()
        token = None
        while True:
            page = self.client.search_runs(
                [experiment_id], filter_string=query, max_results=PAGE, page_token=token
            )
            found += [_entity(r) for r in page]
            token = page.token
            if not token:
                return found
            _next_page(str(token), seen)

    def get(self, run_id: str) -> Run:
        return _entity(self.client.get_run(run_id))

    def create(self, experiment_id: str, name: str, tags: dict[str, str]) -> Run:
        return _entity(self.client.create_run(experiment_id, run_name=name, tags=tags))

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id)

    def delete(self, run_id: str) -> None:
        self.client.delete_run(run_id)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.delete_tag(run_id, key)

    def log_batch(self, run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
        from mlflow.entities import Metric, RunTag

        at = now_ms()
        numbers = [Metric(k, v, at, 0) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=numbers, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_dataset(self, run_id: str, dataset: dict[str, str], tags: dict[str, str]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        item = DatasetInput(
            dataset=Dataset(**dataset), tags=[InputTag(key=k, value=v) for k, v in tags.items()]
        )
        self.client.log_inputs(run_id, [item])

    def log_text(self, run_id: str, text: str, path: str) -> None:
        self.client.log_text(run_id, text, path)

    def log_artifacts(self, run_id: str, folder: Path, where: str) -> None:
        self.client.log_artifacts(run_id, str(folder), where)

    def log_table(self, run_id: str, table: Any, path: str) -> None:
        with warnings.catch_warnings():  # MLflow's select_dtypes warns on pandas 3
            warnings.simplefilter("ignore")
            self.client.log_table(run_id, table, path)

    def download(self, run_id: str, path: str, folder: Path, limit: int | None = None) -> Path:
        return Path(self.client.download_artifacts(run_id, path, str(folder)))  # whole


def _next_page(token: str, seen: set[str]) -> None:
    """Refuse a search that would not end: a page token given twice, or too many pages."""
    if token in seen or len(seen) >= MAX_PAGES:
        raise ValueError(f"the server's search answers do not end (page {len(seen) + 1})")
    seen.add(token)


def proxied_root(artifact_uri: str) -> str | None:
    """The artifact path below the server's proxy (`mlflow-artifacts:/<path>`), else None."""
    head, sep, path = artifact_uri.partition(":")
    if head != "mlflow-artifacts" or not sep or path.startswith("//"):
        return None  # another scheme, or a proxy on another host: MLflow's client handles it
    if not path.strip("/"):
        return None
    parts = path.strip("/").split("/")
    if any(p in ("", ".", "..") or "\\" in p for p in parts):  # a server's answer
        raise RemoteError(f"the server gave an unusable artifact location {artifact_uri!r}")
    return "/".join(parts)


def _pairs(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(values: Any) -> Iterator[tuple[str, Any]]:
    for item in _list(values):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            yield item["key"], item.get("value")


def _parse(raw: Any) -> Run:
    """A run as the REST API sends it (a server's answer: shapes checked, not trusted)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("info"), dict):
        raise ValueError("the server answered without a run")
    info, data, inputs = raw["info"], _dict(raw.get("data")), _dict(raw.get("inputs"))
    return Run(
        run_id=str(info.get("run_id") or info.get("run_uuid") or ""),
        experiment_id=str(info.get("experiment_id", "")),
        status=str(info.get("status", "")),
        start_time=int(info.get("start_time") or 0),
        artifact_uri=str(info.get("artifact_uri", "")),
        tags={k: str(v) for k, v in _items(data.get("tags"))},
        metrics={k: float(v) for k, v in _items(data.get("metrics"))},
        has_datasets=bool(_list(inputs.get("dataset_inputs"))),
    )


def _entity(run: Any) -> Run:
    """A run as MLflow's client returns it."""
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return Run(
        run_id=str(run.info.run_id),
        experiment_id=str(run.info.experiment_id),
        status=str(run.info.status),
        start_time=int(run.info.start_time or 0),
        artifact_uri=str(run.info.artifact_uri),
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
        has_datasets=bool(inputs),
    )
