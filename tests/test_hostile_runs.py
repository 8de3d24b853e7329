"""Attacks on version runs recorded over MLflow's REST API (mdflow/remote/mlflow/runs.py).

Each hostile answer comes from a FAKE server in the test process (http.server): a real MLflow
server cannot be made to answer with an endless page token, a run of the wrong shape or an
artifact URI of our choosing.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import git, mdflow, use_server, write_csv
from servers import FaultProxy, Server

from mdflow.remote.errors import RemoteError
from mdflow.remote.mlflow import http as mhttp
from mdflow.remote.mlflow.catalog import MlflowCatalog
from mdflow.remote.mlflow.connection import short
from mdflow.remote.mlflow.runs import RestRuns, Runs

CANARY = "Cn4ryQz-t0ken-runs"  # a fake token that must never show up

Answer = Callable[[str, str, bytes, dict[str, str]], tuple[int, Any]]


class Fake:
    """A FAKE MLflow server: `answer(method, path, body, headers)` gives (status, JSON or
    bytes); every request is kept in `seen`."""

    def __init__(self, answer: Answer) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                fake.seen.append((self.command, self.path, headers))
                status, data = answer(self.command, self.path, body, headers)
                raw = data if isinstance(data, bytes) else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Answer], Fake]]:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", CANARY)
    started: list[Fake] = []

    def start(answer: Answer) -> Fake:
        started.append(Fake(answer))
        return started[-1]

    yield start
    for f in started:
        f.close()


def no_fallback() -> Runs:
    raise AssertionError("MLflow's client was not expected here")


def run(run_id: str, uri: str, tags: dict[str, str], metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "info": {
            "run_id": run_id,
            "experiment_id": "1",
            "status": "FINISHED",
            "start_time": 1_700_000_000_000,
            "artifact_uri": uri,
        },
        "data": {
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
            "metrics": [{"key": k, "value": v} for k, v in metrics.items()],
        },
    }


def catalog(url: str, runs: Runs) -> MlflowCatalog:
    conn = SimpleNamespace(shown=url, tracking_uri=url, experiment_id="1", runs=runs)
    return MlflowCatalog(conn)  # type: ignore[arg-type]


# --- pagination --------------------------------------------------------------------------

PAGES = 40  # the fake gives up after this many pages of the same token


def test_a_page_token_that_never_ends_fails_the_search(serve: Callable[[Answer], Fake]) -> None:
    pages = {"n": 0}

    def answer(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        pages["n"] += 1
        if pages["n"] >= PAGES:  # the fake ends it, so that the test ends
            return 200, {"runs": []}
        return 200, {"runs": [], "next_page_token": "same-token-again"}

    fake = serve(answer)
    runs = RestRuns(mhttp.MlflowHttp(fake.url), no_fallback)
    with pytest.raises(Exception):  # noqa: B017 (any failure is better than a hang)
        runs.search("1", "tags.`mdflow.path` = 'data/t.csv'")
    assert pages["n"] < PAGES


# --- answers of the wrong shape ----------------------------------------------------------


def test_a_run_tagged_with_the_path_but_no_hash_is_a_remote_error(
    serve: Callable[[Answer], Fake],
) -> None:
    stray = run("a" * 32, "mlflow-artifacts:/1/x/artifacts", {"mdflow.path": "data/t.csv"}, {})
    fake = serve(lambda *_: (200, {"runs": [stray]}))
    cat = catalog(fake.url, RestRuns(mhttp.MlflowHttp(fake.url), no_fallback))
    try:
        found = cat.versions("data/t.csv")
    except RemoteError:
        return  # refused in mdflow's words: fine
    assert found == []  # or the stray run left out


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_version_run_with_a_metric_that_is_no_number_does_not_crash_versions(
    serve: Callable[[Answer], Fake], value: str
) -> None:
    tags = {"mdflow.path": "data/t.csv", "mdflow.hash": "xxh3-128:" + "0" * 32}
    bad = run("b" * 32, "mlflow-artifacts:/1/y/artifacts", tags, {"rows": value})
    fake = serve(lambda *_: (200, {"runs": [bad]}))
    cat = catalog(fake.url, RestRuns(mhttp.MlflowHttp(fake.url), no_fallback))
    try:
        found = cat.versions("data/t.csv")
    except RemoteError:
        return
    assert [r.hash for r in found] == [tags["mdflow.hash"]]


def test_answers_of_the_wrong_shape_fail_in_mdflows_words(
    serve: Callable[[Answer], Fake],
) -> None:
    """Fine as it is: a run that is no run, a list for a page, text for JSON all end as one
    RemoteError naming the server."""
    shapes: list[Any] = [{"run": []}, [1, 2], b"<html>oops</html>", {"run": {"info": "x"}}]
    for shape in shapes:
        fake = serve(lambda *_, s=shape: (200, s))
        cat = catalog(fake.url, RestRuns(mhttp.MlflowHttp(fake.url), no_fallback))
        with pytest.raises(RemoteError, match=f"reading run r1 on {fake.url} failed"):
            cat.version_of_run("r1")


# --- credentials -------------------------------------------------------------------------


def test_a_server_echoing_the_token_in_an_error_does_not_put_it_in_the_message(
    serve: Callable[[Answer], Fake],
) -> None:
    def echo(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        return 500, f"bad request; Authorization: {headers.get('Authorization')}".encode()

    fake = serve(echo)
    runs = RestRuns(mhttp.MlflowHttp(fake.url), no_fallback)
    with pytest.raises(OSError) as caught:
        runs.get("r1")
    assert any(CANARY in h.get("Authorization", "") for _, _, h in fake.seen)  # it was sent
    assert CANARY not in short(caught.value)


def test_a_run_whose_artifacts_are_on_another_host_gets_no_token(
    serve: Callable[[Answer], Fake],
) -> None:
    elsewhere = serve(lambda *_: (200, {}))
    host = elsewhere.url.removeprefix("http://")
    uri = f"mlflow-artifacts://{host}/1/r1/artifacts"
    server = serve(lambda *_: (200, {"run": run("r1", uri, {}, {})}))

    def fallback() -> Runs:
        from mlflow import MlflowClient

        from mdflow.remote.mlflow.runs import ClientRuns

        return ClientRuns(MlflowClient(tracking_uri=server.url))

    runs = RestRuns(mhttp.MlflowHttp(server.url), fallback, experiment="1")  # as Connection
    with pytest.raises(RemoteError, match="outside its experiment"):
        runs.log_text("r1", "pointer text", "mdflow/t.csv.mdflow")
    sent = [h.get("Authorization", "") for _, _, h in elsewhere.seen]
    assert not any(CANARY in h for h in sent), "the token went to another host"


def test_reports_are_not_written_outside_the_runs_experiment(
    serve: Callable[[Answer], Fake], tmp_path: Path
) -> None:
    uri = "mlflow-artifacts:/999/someone-elses-run/artifacts"
    fake = serve(lambda *_: (200, {"run": run("r1", uri, {}, {})}))
    runs = RestRuns(mhttp.MlflowHttp(fake.url), no_fallback, experiment="1")  # as Connection
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/index.html").write_text("<p>report</p>")
    with pytest.raises(RemoteError, match="outside its experiment"):
        runs.log_artifacts("r1", tmp_path / "reports", "reports/stats")
    puts = [p for m, p, _ in fake.seen if m == "PUT"]
    assert not any("/999/" in p for p in puts), puts


def test_a_dataset_source_naming_another_server_gets_no_token(
    serve: Callable[[Answer], Fake], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mdflow import lineage

    mine = serve(lambda *_: (404, {"error_code": "RESOURCE_DOES_NOT_EXIST"}))
    elsewhere = serve(lambda *_: (404, {"error_code": "RESOURCE_DOES_NOT_EXIST"}))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mine.url)
    source = {
        "uri": "mdflow://https://example.org/r.git@" + "0" * 40 + ":data/t.csv",
        "hash": "xxh3-128:" + "0" * 32,
        "run": "c" * 32,
        "server": elsewhere.url,
    }
    with contextlib.suppress(Exception):  # no such run anywhere: failing is right
        lineage.load_source(source, str(tmp_path / "out"))
    assert any(CANARY in h.get("Authorization", "") for _, _, h in mine.seen)
    sent = [h.get("Authorization", "") for _, _, h in elsewhere.seen]
    assert not any(CANARY in h for h in sent), "the token went to the source's server"


# --- huge answers ------------------------------------------------------------------------

HUGE = 64 << 20


def test_a_huge_pointer_artifact_is_not_downloaded_whole(
    serve: Callable[[Answer], Fake], tmp_path: Path
) -> None:
    sent = {"bytes": 0}
    tags = {"mdflow.path": "data/t.csv", "mdflow.hash": "xxh3-128:" + "0" * 32}
    version = run("r1", "mlflow-artifacts:/1/r1/artifacts", tags, {})

    def answer(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        if "mlflow-artifacts" in path:
            sent["bytes"] = HUGE
            return 200, b"#" * HUGE
        return 200, {"run": version}

    fake = serve(answer)
    runs = RestRuns(mhttp.MlflowHttp(fake.url), no_fallback)
    staging = tmp_path / "staging"
    staging.mkdir()
    conn = SimpleNamespace(shown=fake.url, tracking_uri=fake.url, experiment_id="1")
    cat = MlflowCatalog(SimpleNamespace(**vars(conn), runs=runs, staging=staging))  # type: ignore[arg-type]
    with pytest.raises(RemoteError, match="too large"):
        cat.version_of_run("r1")
    assert sent["bytes"] == HUGE  # the server did send it all
    written = sum(p.stat().st_size for p in staging.iterdir())
    assert written <= 2 << 20, f"{written} bytes written for a pointer of at most 1 MiB"


def test_an_artifact_uri_with_dot_dot_stays_below_the_artifact_proxy(
    serve: Callable[[Answer], Fake],
) -> None:
    uri = "mlflow-artifacts:/1/r1/artifacts/../../../../../../mlflow/runs"
    fake = serve(lambda *_: (200, {"run": run("r1", uri, {}, {})}))
    runs = RestRuns(mhttp.MlflowHttp(fake.url), no_fallback)
    with contextlib.suppress(Exception):  # refusing is what should happen
        runs.log_text("r1", "pointer text", "mdflow/t.csv.mdflow")
    puts = [p for m, p, _ in fake.seen if m == "PUT"]
    assert all(p.startswith(mhttp.ARTIFACTS + "/") for p in puts), puts


# --- a server failing mid-way (a real server behind a proxy) -----------------------------


class OnceProxy(FaultProxy):
    """The FaultProxy (a FAKE for HTTP 500) failing only the `nth` request whose path holds
    `what`, once."""

    def __init__(self, target: str, what: str, nth: int) -> None:
        super().__init__(target)
        self.what, self.nth, self.count = what, nth, 0
        handler = self.httpd.RequestHandlerClass
        forward = handler._forward  # type: ignore[attr-defined]
        proxy = self

        def once(h: http.server.BaseHTTPRequestHandler) -> None:
            if proxy.what in h.path:
                proxy.count += 1
                if proxy.count == proxy.nth:
                    proxy.failed += 1
                    h.send_error(500, "injected fault")
                    return
            forward(h)

        for verb in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            setattr(handler, f"do_{verb}", once)


def test_a_commit_run_left_running_by_a_failed_push_is_finished_by_the_next(
    repo: Path, mlflow_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    proxy = OnceProxy(mlflow_server.url, "/runs/update", nth=2)  # 1: the version's, 2: commit's
    try:
        use_server(repo, proxy.url, "mdflow/attack-commit-running")
        write_csv(repo / "data/t.csv", 20)
        assert mdflow(repo, "add", "data/t.csv").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "data")
        assert mdflow(repo, "push").code == 1 and proxy.failed == 1
        r = mdflow(repo, "push")
        assert r.code == 0, r.err
    finally:
        proxy.close()
    client = MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name("mdflow/attack-commit-running")
    assert exp is not None
    found = client.search_runs([exp.experiment_id])
    statuses = {r.data.tags.get("mdflow.role", "version"): r.info.status for r in found}
    assert statuses == {"store": "FINISHED", "commit": "FINISHED", "version": "FINISHED"}, statuses
