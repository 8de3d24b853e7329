"""MLflow's side of lineage: training runs name the dataset versions they read, and MLflow
loads them back through a dataset source of type `mdflow` (mdflow/lineage.py builds it with
the function that reads a version; the `mlflow.dataset_source` entry point names it).

MLflow loads entry points while `import mlflow` runs, so mlflow is imported inside functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SOURCE_TYPE = "mdflow"
Loader = Callable[[str, "str | None", "str | None"], str]  # (uri, hash, dst_path) -> path


def dataset_source_class(load: Loader) -> type[Any]:
    """MLflow's DatasetSource for `mdflow://<repo>@<commit>:<path>` and its hash; `load`
    reads that exact version."""
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
            return load(self.uri, self.hash, dst_path)

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


def log_input(source: Any, name: str, oid: str, context: str | None, tags: dict[str, str]) -> None:
    """Log a dataset version (its `source`) as an input of the active MLflow run (started if
    none is)."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    digest = oid.split(":", 1)[1]  # 32 hex digits: MLflow keeps at most 36 characters
    dataset = MetaDataset(source=source, name=name, digest=digest)  # type: ignore[abstract]
    mlflow.log_input(dataset, context=context, tags=tags)


def run_inputs(run_id: str) -> list[tuple[str, str, str | None]]:
    """(name, URI, hash) of the mdflow datasets a run on the current tracking server used."""
    import mlflow

    run = mlflow.MlflowClient().get_run(run_id)
    found = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        if item.dataset.source_type == SOURCE_TYPE:
            source = json.loads(item.dataset.source)
            found.append((item.dataset.name, str(source["uri"]), source.get("hash")))
    return found
