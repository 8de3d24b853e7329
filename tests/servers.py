"""Real servers for tests: an `mlflow server` subprocess, optionally with S3 from moto_server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import BinaryIO

BIN = Path(sys.executable).parent
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Until `url` answers 200 (a loaded 2-core machine can take a minute to start MLflow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} after {timeout}s")


@dataclass
class Server:
    """A running `mlflow server`; `stop()` and `start()` simulate an outage."""

    folder: Path
    artifacts: str
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.port = self.port or free_port()
        with (self.folder / "server.log").open("ab") as log:
            self.proc = self._popen(log)
        try:
            wait_for(f"{self.url}/health", self.proc)
        except BaseException:  # a server that never answered is not left running
            self.proc.kill()
            self.proc.wait()
            raise
        return self

    def _popen(self, log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--backend-store-uri",
                f"sqlite:///{self.folder / 'mlflow.db'}",
                "--artifacts-destination",
                self.artifacts,
                "--workers",
                "1",
                *self.args,
            ],
            env={**os.environ, **self.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            cwd=self.folder,  # the basic-auth app writes basic_auth.db into its cwd
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def start_moto(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with (folder / "moto.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **S3_ENV},
            cwd=folder,
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/moto-api/", proc)
    return proc, url


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **_creds()).create_bucket(Bucket=bucket)


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }


def forward(
    handler: BaseHTTPRequestHandler, target: str, hold: Callable[[bytes], None] | None = None
) -> tuple[int, bytes, Message]:
    """Send a proxy's request on to `target` (after `hold(body)`, when given); the answer's
    status, bytes and headers."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    if hold is not None:
        hold(body or b"")
    headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
    req = urllib.request.Request(
        target + handler.path, data=body, headers=headers, method=handler.command
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def send_head(handler: BaseHTTPRequestHandler, status: int, headers: Message, length: int) -> None:
    """The status line and headers of a forwarded answer of `length` bytes."""
    handler.send_response(status)
    for k, v in headers.items():
        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


class FaultProxy:
    """A FAKE for one fault a real server cannot be made to show on demand: HTTP 500.

    Forwards every request to `target`, except that requests whose path contains any of
    `fail` get a 500 answer without reaching the server. With `gather = (text, n)`, the first
    `n` requests whose body holds `text` wait for each other (at most 20 s) before going on:
    a race between clients, made certain.
    """

    def __init__(self, target: str) -> None:
        import http.server
        import threading

        self.target = target
        self.fail: list[str] = []
        self.failed = 0
        self.gather: tuple[str, int] | None = None
        self._arrived = 0
        self._all_in = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                if any(f in self.path for f in proxy.fail):
                    proxy.failed += 1
                    self.send_error(500, "injected fault")
                    return
                status, data, rh = forward(self, proxy.target, proxy._hold)
                send_head(self, status, rh, len(data))
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _hold(self, body: bytes) -> None:
        if self.gather is None or self.gather[0].encode() not in body or self._all_in.is_set():
            return
        with self._lock:
            self._arrived += 1
            if self._arrived >= self.gather[1]:
                self._all_in.set()
        self._all_in.wait(20)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
