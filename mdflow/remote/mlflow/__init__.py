"""The MLflow adapter: the only modules of mdflow that import mlflow.

A remote is the artifact folder of one "store run" in the repository's experiment, on an
MLflow tracking server or in an embedded store (sqlite + artifact folder): connection.py finds
them, store.py moves objects, catalog.py records versions as runs, lineage.py is MLflow's
dataset source. http.py speaks the REST API without importing mlflow.
"""

from __future__ import annotations

from pathlib import Path

from mdflow.remote.catalog import VersionCatalog
from mdflow.remote.mlflow.catalog import MlflowCatalog
from mdflow.remote.mlflow.connection import Connection
from mdflow.remote.mlflow.store import MlflowStore
from mdflow.remote.registry import RemoteSpec, register
from mdflow.remote.store import ObjectStore


class MlflowBackend:
    """The store and the catalogue of one MLflow remote, over one connection."""

    def __init__(self, spec: RemoteSpec, root: Path) -> None:
        self.connection = Connection(spec, root)
        try:
            self.store: ObjectStore = MlflowStore(self.connection)
        except BaseException:
            self.connection.close()
            raise
        self.catalog: VersionCatalog = MlflowCatalog(self.connection)

    def close(self) -> None:
        self.connection.close()


register("http", MlflowBackend)
register("https", MlflowBackend)
register("file", MlflowBackend)
