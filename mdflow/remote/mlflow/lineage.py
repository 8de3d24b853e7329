"""MLflow's side of lineage: training runs name the dataset versions they read, and MLflow
loads them back through a dataset source of type `mdflow` (mdflow/lineage.py builds it with
the function that reads a version; the `mlflow.dataset_source` entry point names it).

MLflow loads entry points while `import mlflow` runs, so mlflow is imported inside functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mdflow.remote.catalog import Column, VersionInfo

SOURCE_TYPE = "mdflow"
CONTEXT = "mlflow.data.context"  # the input tag MLflow's UI shows as a badge (Train, Test...)
Loader = Callable[[dict[str, Any], "str | None"], str]  # (source as a dict, dst_path) -> path


def dataset_source_class(load: Loader) -> type[Any]:
    """MLflow's DatasetSource for `mdflow://<repo>@<commit>:<path>` and its hash; `load`
    reads that exact version."""
    from mlflow.data.dataset_source import DatasetSource

    class MdflowDatasetSource(DatasetSource):
        """A dataset version in Git + mdflow: `mdflow://<repo>@<commit>:<path>` and its hash;
        for the dataset of a version run, also that run and its server (`run`, `server`).

        `load(dst_path=None)` downloads that exact version (verified) and returns its local
        path: through the run on the server when the source names one, else through Git.
        """

        def __init__(
            self,
            uri: str,
            hash: str | None = None,
            run: str | None = None,
            server: str | None = None,
        ) -> None:
            self.uri, self.hash, self.run, self.server = uri, hash, run, server

        @staticmethod
        def _get_source_type() -> str:
            return SOURCE_TYPE

        def load(self, dst_path: str | None = None) -> str:
            return load(self.to_dict(), dst_path)

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return isinstance(raw_source, str) and raw_source.startswith("mdflow://")

        @classmethod
        def _resolve(cls, raw_source: Any) -> MdflowDatasetSource:
            return cls(str(raw_source))

        def to_dict(self) -> dict[str, Any]:
            found = {"uri": self.uri, "hash": self.hash, "run": self.run, "server": self.server}
            return {k: v for k, v in found.items() if v is not None or k in ("uri", "hash")}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> MdflowDatasetSource:
            get = source_dict.get
            return cls(str(source_dict["uri"]), get("hash"), get("run"), get("server"))

    return MdflowDatasetSource


def server_in_use() -> str | None:
    """The MLflow server this process talks to (its tracking URI, when that is a server)."""
    import mlflow

    uri = str(mlflow.get_tracking_uri())
    return uri if uri.startswith(("http://", "https://")) else None


def log_input(source: Any, name: str, oid: str, context: str | None, tags: dict[str, str]) -> None:
    """Log a dataset version (its `source`) as an input of the active MLflow run (started if
    none is)."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    digest = oid.split(":", 1)[1]  # 32 hex digits: MLflow keeps at most 36 characters
    dataset = MetaDataset(source=source, name=name, digest=digest)  # type: ignore[abstract]
    mlflow.log_input(dataset, context=context, tags=tags)


def version_dataset(v: VersionInfo, run_id: str, server: str) -> dict[str, str]:
    """The fields of a version run's dataset (MLflow's `Dataset` entity): the same loadable
    `mdflow` source as `log_input` writes (plus the run and its server, so that MLflow access
    alone loads it), the table's schema and profile, and the digest = the hex digits of
    mdflow's hash of the whole content (MLflow's own digest hashes only the first 10,000
    rows). No schema or profile: the key is left out."""
    source = {"uri": v.source_uri or "", "hash": v.hash, "run": run_id, "server": server}
    found = {
        "name": v.path,
        "digest": v.hash.split(":", 1)[1],
        "source_type": SOURCE_TYPE,
        "source": json.dumps(source),
    }
    if v.columns_info:
        found["schema"] = json.dumps({"mlflow_colspec": colspec(v.columns_info)})
    if v.profile:
        found["profile"] = json.dumps(v.profile)
    return found


def colspec(columns: list[Column]) -> list[dict[str, Any]]:
    """MLflow's column specs of a table's columns, as `mlflow.types.Schema.to_dict()` writes
    them (a test holds the two equal)."""
    return [
        {"type": _mlflow_type(c.dtype), "name": c.name, "required": c.nulls == 0} for c in columns
    ]


_TYPES = {"bool": "boolean", "boolean": "boolean", "float32": "float", "float16": "float"}
_TYPES |= {"int32": "integer", "int16": "integer", "int8": "integer", "uint8": "integer"}
_TYPES |= {"uint16": "integer", "Int32": "integer", "Int16": "integer", "Int8": "integer"}


def _mlflow_type(dtype: str) -> str:
    """MLflow's data type name for a pandas dtype (`_infer_schema`'s choice for a frame)."""
    if dtype in _TYPES:
        return _TYPES[dtype]
    if dtype.lower().startswith(("int", "uint")):
        return "long"
    if dtype.lower().startswith("float"):
        return "double"
    return "datetime" if dtype.startswith("datetime64") else "string"


def run_inputs(run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, source) of the mdflow datasets a run on the current tracking server used."""
    import mlflow

    run = mlflow.MlflowClient().get_run(run_id)
    found = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        if item.dataset.source_type == SOURCE_TYPE:
            source = json.loads(item.dataset.source)
            if isinstance(source, dict) and "uri" in source:
                found.append((item.dataset.name, source))
    return found
