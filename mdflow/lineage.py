"""Lineage: a training run names the dataset versions it read, and leads back to them.

`log_input` records a version as an input of the active MLflow run, with a source of type
`mdflow` (`mdflow://<repo>@<commit>:<path>` and the hash); `MdflowDatasetSource` is what MLflow
loads that source with (the `mlflow.dataset_source` entry point in pyproject.toml names it) and
`run_inputs` lists a run's mdflow inputs. The MLflow side lives in remote/mlflow/lineage.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the library loads on use: MLflow imports this module with every `import mlflow`
    from mdflow.reading import DatasetRef


def __getattr__(name: str) -> Any:
    """`MdflowDatasetSource`, built on first access: MLflow loads entry points while `import
    mlflow` runs, so this module must not import mlflow at its top."""
    if name == "MdflowDatasetSource":
        from mdflow.remote.mlflow import lineage

        cls = lineage.dataset_source_class(_load)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load(source: dict[str, Any], dst_path: str | None) -> str:
    """Read the version a source names: through its run on an MLflow server when it names
    one (the dataset of a version run), else through Git (`mdflow://` URI)."""
    from mdflow.reading import load_uri

    if source.get("run"):
        from mdflow import runs

        return str(runs.load(str(source["run"]), _servers(source), dst_path))
    return str(load_uri(str(source["uri"]), source.get("hash"), dst_path))


def _servers(source: dict[str, Any]) -> list[str | None]:
    """The server in use, then the one the source names (where the run was recorded) unless
    MLflow credentials are set: they are meant for the server in use, and a source is data
    anyone who can write a run may have written."""
    from mdflow.remote.mlflow import http, lineage

    in_use, named = lineage.server_in_use(), source.get("server")
    if named and named != in_use and not http.has_credentials():
        return [in_use, str(named)]
    return [in_use]


def log_input(ref: DatasetRef, context: str | None) -> None:
    """Record the version `ref` as an input of the active MLflow run (started if none is)."""
    from mdflow.remote.mlflow import lineage

    tags = {"mdflow.hash": ref.hash, "mdflow.commit": ref.commit, "mdflow.path": ref.path}
    source = __getattr__("MdflowDatasetSource")(ref.uri, ref.hash)
    lineage.log_input(source, ref.path, ref.hash, context, tags)


def run_inputs(run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, source) of the mdflow datasets a run on the current tracking server used; read
    one with `load_source`."""
    from mdflow.remote.mlflow import lineage

    return lineage.run_inputs(run_id)


def load_source(source: dict[str, Any], dst_path: str | None = None) -> str:
    """The local path of the version an `mdflow` dataset source names (see `_load`)."""
    return _load(source, dst_path)
