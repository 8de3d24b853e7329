"""The few calls of MLflow's REST API that moving objects needs, over plain HTTP.

`import mlflow` costs about a second; a pull or the transfer part of a push needs only the
artifact proxy of the server (`/api/2.0/mlflow-artifacts/artifacts/...`) and two lookups that
find the store run. This client honours MLflow's client settings for them: credentials
(MLFLOW_TRACKING_USERNAME/PASSWORD or ~/.mlflow/credentials, MLFLOW_TRACKING_TOKEN), TLS
(MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_TRACKING_SERVER_CERT_PATH, MLFLOW_TRACKING_CLIENT_CERT_PATH),
retries and timeout. Settings it cannot honour (auth plugins, SigV4, workspaces, header plugins,
signed-URL transfers) make `usable()` false: MLflow's own client is used then.
"""

from __future__ import annotations

import base64
import configparser
import importlib.metadata
import os
import posixpath
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO

from mdflow.config import AuthConfig

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
UNSUPPORTED = ("MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_AWS_SIGV4", "MLFLOW_WORKSPACE")
PROXY_VARS = ("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD")
TRANSIENT = (408, 429, 500, 502, 503, 504)  # what MLflow's client retries
CHUNK = 1 << 20


class NotFound(Exception):
    """The server answered 404: the experiment, run or artifact does not exist."""


class Unreachable(ConnectionError):
    """No connection to the server: nothing listens there, or the host is unknown."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the MLflow server at {url}: {reason}")
        self.url, self.reason = url, reason


def unreachable_reason(text: str) -> str | None:
    """Why a connection failed, in a few words, from the text of requests' or urllib3's error
    (None when the text is not about a failed connection)."""
    reasons = (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("Failed to resolve", "unknown host"),
        ("No route to host", "no route to host"),
        ("timed out", "the connection timed out"),
        ("Failed to establish a new connection", "no connection"),
        ("Max retries exceeded", "no connection"),
    )
    return next((why for needle, why in reasons if needle in text), None)


def usable(url: str) -> bool:
    """Whether this client can stand in for MLflow's own one with the current settings."""
    if not url.startswith(("http://", "https://")):
        return False
    if any(os.environ.get(v, "").strip() for v in UNSUPPORTED):
        return False
    if any(_truthy(os.environ.get(v, "false")) for v in PROXY_VARS):
        return False  # signed URLs: bytes go straight to the artifact store
    return not importlib.metadata.entry_points(group="mlflow.request_header_provider")


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "on")


def _credentials(auth: AuthConfig | None) -> tuple[str | None, str | None, str | None]:
    """(token, user, password): the remote's `auth` from config.local.yaml, else MLflow's."""
    if auth and auth.token:
        return auth.token, None, None
    if auth and auth.username:
        return None, auth.username, auth.password or ""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    path = Path(os.path.expanduser("~/.mlflow/credentials"))
    if (not user or not password) and path.is_file():
        cfg = configparser.ConfigParser()
        cfg.read(path)
        if "mlflow" in cfg:
            user = user or cfg["mlflow"].get("mlflow_tracking_username")
            password = password or cfg["mlflow"].get("mlflow_tracking_password")
    return token, user, password


def has_credentials() -> bool:
    """Whether MLflow credentials are set (environment or ~/.mlflow/credentials)."""
    return any(_credentials(None))


class MlflowHttp:
    """One server: a pooled session shared by the transfer threads."""

    def __init__(self, url: str, auth: AuthConfig | None = None, pool: int = 64) -> None:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "120"))
        retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7"))
        retry = Retry(
            total=retries,
            connect=0,  # nothing listens (or no such host): retrying with backoff only waits
            backoff_factor=float(os.environ.get("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "2")),
            status_forcelist=TRANSIENT,
            allowed_methods=None,  # PUT and POST too, as MLflow's client does
            raise_on_status=False,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        token, user, password = _credentials(auth)
        self._secrets: list[str] = []  # never repeated in a message, whatever a server echoes
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
            self._secrets.append(token)
        elif user and password:
            self.session.auth = (user, password)
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._secrets += [basic, password]
        if _truthy(os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "false")):
            self.session.verify = False
        elif os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            self.session.verify = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
        if os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
            self.session.cert = os.environ["MLFLOW_TRACKING_CLIENT_CERT_PATH"]

    def _request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        import requests

        try:
            resp = self.session.request(method, self.url + endpoint, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as e:
            reason = unreachable_reason(str(e))
            if reason is None:
                raise
            raise Unreachable(self.url, reason) from e
        if resp.status_code == 404:
            resp.close()
            raise NotFound(f"{endpoint}: not found on {self.url}")
        if resp.status_code >= 400:  # the message names the code, as MLflow's client does
            text = self.hide(" ".join(resp.text[:4000].split()))[:200]
            resp.close()
            raise OSError(
                f"API request to {endpoint} failed with error code {resp.status_code}: {text}"
            )
        return resp

    def hide(self, text: str) -> str:
        """`text` with this session's credentials masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def get_json(self, endpoint: str, **params: str) -> dict[str, Any]:
        data = self._request("GET", f"{API}/{endpoint}", params=params).json()
        if not isinstance(data, dict):
            raise ValueError(f"{endpoint}: unexpected answer from {self.url}")
        return data

    def post_json(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        data = self._request("POST", f"{API}/{endpoint}", json=body).json()
        if not isinstance(data, dict):
            raise ValueError(f"{endpoint}: unexpected answer from {self.url}")
        return data

    # --- the artifact proxy ------------------------------------------------------------------

    def _artifact(self, path: str) -> str:
        return f"{ARTIFACTS}/{urllib.parse.quote(path)}"

    def list(self, path: str) -> list[str]:
        """Names of the files directly in the artifact folder `path` ([] when missing)."""
        data = self._request("GET", ARTIFACTS, params={"path": path}).json()
        names = []
        for item in data.get("files", []) if isinstance(data, dict) else []:
            name = item.get("path") if isinstance(item, dict) else None
            if isinstance(name, str) and not item.get("is_dir") and _plain(name):
                names.append(name)
        return sorted(names)

    def download(self, path: str, local: Path, limit: int | None = None) -> None:
        """The artifact into `local`; with `limit`, no more than `limit` + 1 bytes of it (the
        caller tells a file too large by its size)."""
        left = None if limit is None else limit + 1
        with self._request("GET", self._artifact(path), stream=True) as resp, local.open("wb") as f:
            for block in resp.iter_content(chunk_size=CHUNK):
                if left is not None:
                    block = block[:left]
                    left -= len(block)
                f.write(block)
                if left == 0:
                    break

    def stream(self, path: str) -> BinaryIO:
        """The artifact as a file object reading from the response as it arrives."""
        resp = self._request("GET", self._artifact(path), stream=True)
        resp.raw.decode_content = True
        return resp.raw  # type: ignore[no-any-return]

    def read_range(self, path: str, offset: int, size: int) -> bytes | None:
        """Bytes `offset` to `offset + size` of the artifact (an HTTP range request), or None
        when the server answers with the whole file instead (then nothing more is read)."""
        if size == 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + size - 1}"}
        with self._request("GET", self._artifact(path), headers=headers, stream=True) as resp:
            if resp.status_code != 206:
                return None
            data: bytes = resp.raw.read(size + 1, decode_content=True)
        if len(data) != size:
            raise OSError(f"{path}: the server sent {len(data)} bytes for a range of {size}")
        return data

    def upload(self, local: Path, path: str) -> None:
        with local.open("rb") as f:
            headers = {"Content-Type": "application/octet-stream"}
            self._request("PUT", self._artifact(path), data=f, headers=headers).close()


def _plain(name: str) -> bool:
    """A file name a server may answer with: no folder part, nothing that climbs out."""
    return bool(name) and posixpath.basename(name) == name and name not in (".", "..")
