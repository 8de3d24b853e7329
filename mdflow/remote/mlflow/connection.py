"""One MLflow tracking server or embedded store (sqlite + artifact folder), as a remote sees
it: the repository's experiment and its "store run", whose artifacts hold the objects.

Found or created through the REST API when the server allows it (a handful of requests, no
`import mlflow`), else with MLflow's client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mdflow.remote.errors import RemoteError
from mdflow.remote.mlflow import embedded, env, http
from mdflow.remote.mlflow.runs import ClientRuns, RestRuns, Run, Runs, proxied_root
from mdflow.remote.registry import RemoteSpec
from mdflow.urls import redact_text

STORE_TAG = "mdflow.role"
STORE_RUN_NAME = "mdflow-store"
# MLflow 3's UI opens an experiment without this tag on its GenAI overview (traces); this kind
# makes it a training experiment, whose page is the runs table
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
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


class Connection:
    def __init__(self, spec: RemoteSpec, root: Path) -> None:
        self.name, self.url, self.shown = spec.name, spec.url, spec.shown
        self._credentials = _credentials(spec)
        self.tracking_uri, artifact_location, self.folder = _locations(spec.url, root)
        self._client: Any = None
        self._runs: Runs | None = None
        with self.scope():  # MLflow's timeout and retries, as MLflow's client gets them
            usable = http.usable(self.tracking_uri)
            self.http = http.MlflowHttp(self.tracking_uri, spec.auth) if usable else None
        try:
            with self.scope():
                if spec.run is not None:
                    self.experiment_id, self.run_id, self.artifact_uri = self._open_run(spec.run)
                else:
                    self.experiment_id, self.run_id, self.artifact_uri = self._open(
                        spec.experiment, artifact_location
                    )
        except RemoteError:
            raise
        except Exception as e:
            raise self._failed(e) from e
        self.staging = Path(tempfile.mkdtemp(prefix="mdflow-upload-"))

    def scope(self) -> contextlib.AbstractContextManager[None]:
        """The environment for one of mdflow's calls into MLflow (env.py): its defaults and
        this remote's credentials, restored after."""
        defaults = {k: v for k, v in _ENV_DEFAULTS.items() if k not in os.environ}
        return env.scoped({**defaults, **self._credentials})

    def _open(self, experiment: str, artifact_location: str | None) -> tuple[str, str, str]:
        if self.http is not None:
            return self._find_store(experiment)
        if self.folder is None:  # a server that only MLflow's client can speak to
            return self._locate(experiment, artifact_location)
        embedded.ensure(self.folder)
        try:
            return self._locate(experiment, artifact_location)
        except Exception:
            if not embedded.set_aside_if_empty(self.folder):
                raise
        self._forget_store()  # it was half-made: made again, then opened
        embedded.ensure(self.folder)
        return self._locate(experiment, artifact_location)

    def _open_run(self, run_id: str) -> tuple[str, str, str]:
        """The experiment of the run `run_id` and its store run, creating nothing."""
        if self.http is not None:
            try:
                run = self.http.get_json("runs/get", run_id=run_id)["run"]
            except http.NotFound:
                raise RemoteError(f"no run {run_id} on {self.shown}") from None
            exp_id = str(run["info"]["experiment_id"])
            store = oldest_store(self._lookup(), exp_id)
        else:
            if self.folder is not None and not (self.folder / embedded.DB).exists():
                raise RemoteError(f"no MLflow store in {self.folder}")
            try:
                self.experiment_id = str(self.client.get_run(run_id).info.experiment_id)
            except Exception as e:
                if "RESOURCE_DOES_NOT_EXIST" in str(e) or "not found" in str(e).lower():
                    raise RemoteError(f"no run {run_id} on {self.shown}") from None
                raise
            exp_id = self.experiment_id
            store = oldest_store(self._lookup(), exp_id)
        if store is None:
            raise RemoteError(f"run {run_id} is not in an experiment where mdflow stores data")
        return exp_id, store.run_id, store.artifact_uri

    def _forget_store(self) -> None:
        """Drop MLflow's engine of the sqlite store set aside (it caches one per URI)."""
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        self._client = None
        engine = SqlAlchemyStore._engine_map.pop(self.tracking_uri, None)
        if engine is not None:
            engine.dispose()

    def _failed(self, e: Exception) -> RemoteError:
        """Why the remote could not be opened, in one line."""
        if isinstance(e, http.Unreachable):
            reason: str | None = e.reason
        else:  # through MLflow's client: urllib3's words
            reason = http.unreachable_reason(str(e))
        if reason is not None:
            where = f"the MLflow server at {self.shown} (remote {self.name})"
            return RemoteError(f"cannot reach {where}: {reason}")
        return RemoteError(f"cannot open remote {self.name} ({self.shown}): {short(e)}")

    @property
    def client(self) -> Any:
        """MLflow's client, imported on first use (a pull never needs it with a server)."""
        if self._client is None:
            import mlflow

            for logger in ("mlflow", "alembic"):  # after import: mlflow sets its level then
                logging.getLogger(logger).setLevel(logging.WARNING)
            # no mlflow.set_tracking_uri: mdflow runs inside training code (Python API), whose
            # own MLflow runs must keep going to the tracking server the user chose
            with self.scope():
                self._client = env.Scoped(mlflow.MlflowClient(self.tracking_uri), self.scope)
        return self._client

    @property
    def runs(self) -> Runs:
        """The run calls of the catalogue: over the REST API when this client can stand in for
        MLflow's (no `import mlflow`), else through MLflow's client."""
        if self._runs is None:
            if self.http is not None:
                store = proxied_root(self.artifact_uri)
                tail = f"/{self.run_id}/artifacts"
                experiment = store.removesuffix(tail) if store and store.endswith(tail) else None
                self._runs = RestRuns(self.http, lambda: ClientRuns(self.client), experiment)
            else:
                self._runs = ClientRuns(self.client)
        return self._runs

    def _lookup(self) -> Runs:
        """The run calls for finding the store run, before `runs` can know where it is."""
        if self.http is not None:
            return RestRuns(self.http, lambda: ClientRuns(self.client))
        return ClientRuns(self.client)

    def _find_store(self, experiment: str) -> tuple[str, str, str]:
        """(experiment id, store run id, its artifact URI) through the REST API; the same
        steps as `_locate`."""
        assert self.http is not None
        exp_id = _experiment_http(self.http, experiment)
        store = store_run(self._lookup(), exp_id)
        return exp_id, store.run_id, store.artifact_uri

    def _locate(self, experiment: str, artifact_location: str | None) -> tuple[str, str, str]:
        """Find or create the experiment and its store run with MLflow's client."""
        self.experiment_id = self._experiment(experiment, artifact_location)
        store = store_run(self._lookup(), self.experiment_id)
        return self.experiment_id, store.run_id, store.artifact_uri

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage != "active":
            raise RemoteError(_deleted(name))
        if found is None:
            try:
                exp_id = str(self.client.create_experiment(name, artifact_location))
                self.client.set_experiment_tag(exp_id, KIND_TAG, KIND)
                return exp_id
            except Exception:  # created concurrently by another clone: use theirs
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if KIND_TAG not in found.tags:  # made by an older mdflow; a kind set by hand stays
            self.client.set_experiment_tag(found.experiment_id, KIND_TAG, KIND)
        return str(found.experiment_id)

    def close(self) -> None:
        if self.http is not None:
            self.http.session.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def _experiment_http(api: http.MlflowHttp, name: str) -> str:
    def find() -> tuple[str, bool] | None:
        try:
            exp = api.get_json("experiments/get-by-name", experiment_name=name)["experiment"]
        except http.NotFound:
            return None
        if exp["lifecycle_stage"] != "active":
            raise RemoteError(_deleted(name))
        kinds = [t for t in exp.get("tags", []) if t.get("key") == KIND_TAG]
        return str(exp["experiment_id"]), bool(kinds)

    found = find()
    if found is None:
        try:
            created = {"name": name, "tags": [{"key": KIND_TAG, "value": KIND}]}
            return str(api.post_json("experiments/create", created)["experiment_id"])
        except OSError:  # created concurrently by another clone: use theirs
            found = find()
            if found is None:
                raise
    exp_id, has_kind = found
    if not has_kind:  # made by an older mdflow; a kind set by hand stays
        tag = {"experiment_id": exp_id, "key": KIND_TAG, "value": KIND}
        api.post_json("experiments/set-experiment-tag", tag)
    return exp_id


def oldest_store(runs: Runs, experiment_id: str) -> Run | None:
    """The experiment's store run: of its active runs tagged as one, the first made (by start
    time, then id: every clone picks the same one)."""
    found = runs.search(experiment_id, f"tags.`{STORE_TAG}` = 'store'")
    return min(found, key=lambda r: (r.start_time, r.run_id), default=None)


def store_run(runs: Runs, experiment_id: str) -> Run:
    """The experiment's store run, made when it has none. Two clones making one at the same
    time both find the two runs afterwards; the one whose run is not the oldest deletes it."""
    found = oldest_store(runs, experiment_id)
    if found is not None:
        return found
    mine = runs.create(experiment_id, STORE_RUN_NAME, {STORE_TAG: "store"})
    runs.finish(mine.run_id)
    oldest = oldest_store(runs, experiment_id)
    if oldest is None:
        raise RemoteError(f"the store run {mine.run_id} made in experiment {experiment_id} is gone")
    if oldest.run_id != mine.run_id:
        runs.delete(mine.run_id)
    return oldest


def _credentials(spec: RemoteSpec) -> dict[str, str | None]:
    """MLflow's credential variables for the remote's `auth` (none: the environment's own)."""
    auth = spec.auth
    if auth and auth.token:
        names = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
        return {"MLFLOW_TRACKING_TOKEN": auth.token} | dict.fromkeys(names)
    if auth and auth.username:
        return {
            "MLFLOW_TRACKING_USERNAME": auth.username,
            "MLFLOW_TRACKING_PASSWORD": auth.password or "",
            "MLFLOW_TRACKING_TOKEN": None,
        }
    return {}


def _locations(url: str, root: Path) -> tuple[str, str | None, Path | None]:
    """(tracking URI, artifact location for new experiments, embedded store folder) of a
    remote URL."""
    if url.startswith(("http://", "https://")):
        return url.rstrip("/"), None, None
    folder = Path(url.removeprefix("file://"))
    folder = folder if folder.is_absolute() else root / folder
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / embedded.DB}", (folder / "artifacts").as_uri(), folder


def _deleted(experiment: str) -> str:
    return (
        f"experiment {experiment!r} is deleted on the server: restore it (mlflow experiments "
        "restore) or delete it for good (mlflow gc) so that mdflow creates it again"
    )


def short(e: Exception) -> str:
    """One line for the user; authentication refusals say so plainly."""
    text = str(e).strip().splitlines()
    first = text[0] if text else type(e).__name__
    if isinstance(e, http.Unreachable):
        return first
    reason = http.unreachable_reason(first)
    if reason is not None:  # urllib3's internals, through MLflow's client
        return f"cannot reach the server: {reason}"
    for code in ("401", "403"):
        if f"error code {code}" in first or f"{code} Client Error" in first:
            return (
                f"the server refused the credentials (HTTP {code}): set MLFLOW_TRACKING_USERNAME/"
                "MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN, or auth in "
                ".mdflow/config.local.yaml"
            )
    return redact_text(first)[:300]
