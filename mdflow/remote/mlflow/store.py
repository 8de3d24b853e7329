"""Object storage in the artifacts of the store run: through the server's artifact proxy over
plain HTTP when it can, else through MLflow's artifact repositories."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from mdflow.remote.errors import RemoteError
from mdflow.remote.mlflow.connection import Connection, short
from mdflow.remote.mlflow.env import Scoped
from mdflow.remote.mlflow.runs import proxied_root


class MlflowStore:
    def __init__(self, conn: Connection) -> None:
        self.conn, self.name, self.url = conn, conn.name, conn.shown  # url: for messages
        self.http = conn.http
        self._root = proxied_root(conn.artifact_uri) if self.http else None
        self.artifacts: Any = None
        if self._root is None:
            try:
                from mlflow.store.artifact.artifact_repository_registry import (
                    get_artifact_repository,
                )

                with conn.scope():
                    repo = get_artifact_repository(
                        conn.artifact_uri, tracking_uri=conn.tracking_uri
                    )
                self.artifacts = Scoped(repo, conn.scope)
            except Exception as e:
                raise RemoteError(f"cannot open remote {self.name} ({self.url}): {short(e)}") from e

    def store_id(self) -> str:
        return f"{self.conn.tracking_uri} {self.conn.run_id}"

    def list(self, folder: str) -> list[str]:
        try:
            if self._root is not None and self.http is not None:
                return self.http.list(f"{self._root}/{folder}")
            infos = self.artifacts.list_artifacts(folder)
        except Exception as e:
            raise RemoteError(f"listing {folder}/ on {self.url} failed: {short(e)}") from e
        return sorted(posixpath.basename(i.path) for i in infos if not i.is_dir)

    def put(self, local: Path, dest: str) -> None:
        if self._root is not None and self.http is not None:
            try:
                self.http.upload(local, f"{self._root}/{dest}")
            except Exception as e:
                raise RemoteError(f"uploading {dest} to {self.url} failed: {short(e)}") from e
            return
        folder, name = posixpath.split(dest)
        source = local
        if local.name != name:  # MLflow names the artifact after the local file
            link_dir = Path(tempfile.mkdtemp(dir=self.conn.staging))
            source = link_dir / name
            source.symlink_to(local.resolve())
        try:
            self.artifacts.log_artifact(str(source), folder or None)
        except Exception as e:
            raise RemoteError(f"uploading {dest} to {self.url} failed: {short(e)}") from e
        finally:
            if source != local:
                shutil.rmtree(source.parent, ignore_errors=True)

    def get(self, src: str, local: Path, limit: int | None = None) -> None:
        """Through the server's proxy, no more than `limit` + 1 bytes; through MLflow's client
        (an embedded store, or a server only it can speak to), the whole file."""
        if self._root is not None and self.http is not None:
            try:
                self.http.download(f"{self._root}/{src}", local, limit)
            except Exception as e:
                local.unlink(missing_ok=True)
                raise RemoteError(f"downloading {src} from {self.url} failed: {short(e)}") from e
            return
        tmp = Path(tempfile.mkdtemp(dir=local.parent, prefix=".mdflow-download-"))
        try:
            got = self.artifacts.download_artifacts(src, dst_path=str(tmp))
            os.replace(got, local)
        except Exception as e:
            raise RemoteError(f"downloading {src} from {self.url} failed: {short(e)}") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def open(self, src: str) -> BinaryIO | None:
        if self._root is None or self.http is None:
            return None  # MLflow's client downloads whole files only
        try:
            return self.http.stream(f"{self._root}/{src}")
        except Exception as e:
            raise RemoteError(f"downloading {src} from {self.url} failed: {short(e)}") from e

    def read_range(self, src: str, offset: int, size: int) -> bytes | None:
        if self._root is None or self.http is None:
            return None  # MLflow's client downloads whole files only
        try:
            return self.http.read_range(f"{self._root}/{src}", offset, size)
        except Exception as e:
            raise RemoteError(f"downloading {src} from {self.url} failed: {short(e)}") from e
