"""The remote's own state under faults: the embedded store killed while it is created, version
runs left RUNNING, two clones recording one version at once, credentials that must stay out
of the process environment, and MLflow's settings that must never reach the C environment.
Real `mlflow server`s and real embedded stores; the one fake (tests/servers.py FaultProxy)
stands for faults a real server cannot be made to show on demand, and a thread calling C's
getenv through ctypes stands for getaddrinfo, which reads the environment at moments no test
can choose.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, mdflow, pointer_hash, use_server, write_csv
from servers import FaultProxy, Server

ADMIN_PASSWORD = "Adm1n-pass-123"


def tracked_csv(repo: Path) -> None:
    write_csv(repo / "data/t.csv", 20)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")


def store_files(store: Path) -> dict[str, tuple[int, int]]:
    if not store.exists():
        return {}
    found = {p.name: p.stat() for p in store.iterdir() if p.is_file()}
    return {name: (st.st_size, st.st_mtime_ns) for name, st in found.items() if st.st_size}


def kill_during_creation(repo: Path, delay: float) -> None:
    """Start `mdflow push` into the embedded store and SIGKILL it `delay` seconds after it
    began writing the store's files (MLflow's migrations take a few seconds)."""
    store = repo / ".mdflow/mlflow"
    before = store_files(store)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdflow", "push"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and store_files(store) == before:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_push_killed_while_the_embedded_store_is_created(repo: Path) -> None:
    tracked_csv(repo)
    for delay in (0.2, 0.5, 0.9, 1.4, 2.0):  # somewhere in the migrations, whatever the load
        kill_during_creation(repo, delay)
    r = mdflow(repo, "push")
    assert r.code == 0, r.err
    assert "1 dataset version has an MLflow run" in r.out
    r = mdflow(repo, "log", "data/t.csv")
    assert r.code == 0, r.err


def auth_server(folder: Path) -> Server:
    """A real `mlflow server` with MLflow's basic-auth app (admin / ADMIN_PASSWORD)."""
    folder.mkdir()
    env = {"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, "MLFLOW_FLASK_SERVER_SECRET_KEY": "t"}
    return Server(folder, str(folder / "artifacts"), env, args=("--app-name", "basic-auth"))


def test_credentials_stay_out_of_the_process_environment(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mdflow as api

    server = auth_server(tmp_path / "auth-server").start()
    try:
        use_server(repo, server.url, "mdflow/auth")
        tracked_csv(repo)
        (repo / ".mdflow/config.local.yaml").write_text(
            f"remote:\n  remotes:\n    origin:\n      url: {server.url}\n"
            f"      auth: {{username: admin, password: {ADMIN_PASSWORD}}}\n"
        )
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "the-users-own")  # for their own server
        monkeypatch.chdir(repo)
        api.push()
        assert [v.run is not None for v in api.versions("data/t.csv")] == [True]
    finally:
        server.stop()
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        assert name not in os.environ
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "the-users-own"
    probe = "import os; print(' '.join(k for k in os.environ if k.startswith('MLFLOW_')))"
    seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    names = seen.stdout.split()
    assert "MLFLOW_TRACKING_TOKEN" in names
    assert "MLFLOW_TRACKING_USERNAME" not in names and "MLFLOW_TRACKING_PASSWORD" not in names


def c_getenv(name: str) -> str | None:
    """`name` in the C environment (what getaddrinfo and child processes read)."""
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    found = libc.getenv(name.encode())
    return None if found is None else found.decode()


def test_mdflow_settings_never_touch_the_c_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's settings for mdflow's calls live in os.environ's mapping only: setenv and
    unsetenv on one thread while C code reads the environment on another without the GIL
    (getaddrinfo in MLflow's telemetry thread) crashed `mdflow push` with SIGSEGV."""
    from mdflow.remote.mlflow import env

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "the-users-own")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(os, "putenv", lambda *a: calls.append(("putenv", *a)))
    monkeypatch.setattr(os, "unsetenv", lambda *a: calls.append(("unsetenv", *a)))
    values = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "900", "MLFLOW_TRACKING_TOKEN": None}
    with env.scoped(values):
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "900"  # what MLflow reads
        assert os.getenv("MLFLOW_TRACKING_TOKEN") is None
        assert c_getenv("MLFLOW_HTTP_REQUEST_TIMEOUT") is None
        assert c_getenv("MLFLOW_TRACKING_TOKEN") == "the-users-own"
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "the-users-own"
    assert calls == []


RACE = """
import ctypes, threading
from mdflow.remote.mlflow import env
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
done = threading.Event()
def read():  # C code reading the environment without the GIL, as getaddrinfo does
    while not done.is_set():
        libc.getenv(b"LOCALDOMAIN")
reader = threading.Thread(target=read)
reader.start()
values = {f"MLFLOW_SETTING_{i}": "1" for i in range(6)} | {"MLFLOW_TRACKING_TOKEN": None}
for _ in range(50_000):
    with env.scoped(values):
        pass
done.set()
reader.join()
print("survived")
"""


def test_mdflow_settings_change_while_c_code_reads_the_environment() -> None:
    """50,000 calls' worth of settings set and restored while another thread reads the C
    environment: the process lives (with setenv it died of SIGSEGV within a second)."""
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["survived"]


def version_runs(server: Server, exp: str, oid: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    found = client.get_experiment_by_name(exp)
    assert found is not None
    query = f"tags.`mdflow.hash` = '{oid}'"
    return list(client.search_runs([found.experiment_id], filter_string=query))


def test_a_run_left_running_is_finished_by_the_next_push(
    repo: Path, mlflow_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FaultProxy (a fake) answers 500 to logging the dataset input, right after the run
    was created: the state a push killed while recording leaves."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    proxy = FaultProxy(mlflow_server.url)
    try:
        use_server(repo, proxy.url, "mdflow/left-running")
        tracked_csv(repo)
        proxy.fail = ["/runs/log-inputs"]
        assert mdflow(repo, "push").code == 1
        oid = pointer_hash(repo, "data/t.csv")
        assert [r.info.status for r in version_runs(mlflow_server, "mdflow/left-running", oid)] == [
            "RUNNING"
        ]
        proxy.fail = []
        r = mdflow(repo, "push")
        assert r.code == 0, r.err
    finally:
        proxy.close()
    (run,) = version_runs(mlflow_server, "mdflow/left-running", oid)
    assert run.info.status == "FINISHED"
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["data/t.csv"]
    assert run.data.metrics["size_bytes"] == (repo / "data/t.csv").stat().st_size


def test_two_clones_pushing_one_version_at_once_make_one_run(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    """The FaultProxy (a fake) holds both clones' searches for the version until both have
    asked, so neither finds the other's run: the race, every time."""
    proxy = FaultProxy(mlflow_server.url)
    try:
        use_server(repo, proxy.url, "mdflow/race")
        tracked_csv(repo)
        other = shutil.copytree(repo, tmp_path / "other", symlinks=True)  # its cache too
        proxy.gather = ("mdflow.hash", 2)
        push_at_once(repo, other)
    finally:
        proxy.close()
    runs = version_runs(mlflow_server, "mdflow/race", pointer_hash(repo, "data/t.csv"))
    assert [r.info.status for r in runs] == ["FINISHED"]
    links = {
        (w / "data/t.csv.mdflow").read_text().split("run: ")[1].split()[0] for w in (repo, other)
    }
    assert links == {f"runs:/{runs[0].info.run_id}"}


def test_two_clones_making_the_store_run_at_once_keep_one_and_lose_nothing(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    """Two clones push into a new experiment at once. The FaultProxy (a fake) holds both
    searches for the store run until both have asked, so both make one; afterwards one store
    run is left, and what each clone pushed pulls into a third."""
    from mlflow import MlflowClient

    proxy = FaultProxy(mlflow_server.url)
    try:
        use_server(repo, proxy.url, "mdflow/store-race")
        tracked_csv(repo)
        other = shutil.copytree(repo, tmp_path / "other", symlinks=True)
        for clone, name in ((repo, "one/a.csv"), (other, "two/u.csv")):
            write_csv(clone / name, 7 if clone == repo else 9)
            assert mdflow(clone, "add", name).code == 0
            git(clone, "add", "-A")
            git(clone, "commit", "-qm", name)
        proxy.gather = ("mdflow.role", 2)
        push_at_once(repo, other)
        proxy.gather = None
        client = MlflowClient(mlflow_server.url)
        experiment = client.get_experiment_by_name("mdflow/store-race")
        assert experiment is not None
        query = "tags.`mdflow.role` = 'store'"
        assert len(client.search_runs([experiment.experiment_id], filter_string=query)) == 1
        deleted = client.search_runs([experiment.experiment_id], query, run_view_type=2)
        assert len(deleted) == 1  # the race happened: the younger store run was deleted

        third = shutil.copytree(repo, tmp_path / "third", symlinks=True)
        shutil.rmtree(third / ".mdflow" / "cache")
        git(third, "pull", "-q", "--no-rebase", "--no-edit", str(other), "HEAD")
        r = mdflow(third, "pull")
        assert r.code == 0, r.err
        for name, source in (("data/t.csv", repo), ("one/a.csv", repo), ("two/u.csv", other)):
            assert (third / name).read_bytes() == (source / name).read_bytes()
    finally:
        proxy.close()


def push_at_once(*clones: Path) -> None:
    """`mdflow push` in every clone at the same moment (real processes); all succeed."""
    procs = [
        subprocess.Popen([sys.executable, "-m", "mdflow", "push"], cwd=c, stderr=subprocess.PIPE)
        for c in clones
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(clones), errors


def test_two_clones_recording_one_commit_at_once_make_one_commit_run(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    """The FaultProxy (a fake) holds both clones' searches for the commit's run until both
    have asked, so both make one: the older stays, both versions nest under it, and the
    ordinals agree (they come from the commit's history, not from the server)."""
    from mlflow import MlflowClient

    proxy = FaultProxy(mlflow_server.url)
    try:
        use_server(repo, proxy.url, "mdflow/race-commit")
        write_csv(repo / "data/t.csv", 20)
        write_csv(repo / "data/u.csv", 7)
        assert mdflow(repo, "add", "data/t.csv", "data/u.csv").code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "two datasets in one commit")
        other = shutil.copytree(repo, tmp_path / "other", symlinks=True)
        proxy.gather = ("= 'commit'", 2)
        push_at_once(repo, other)
    finally:
        proxy.close()
    client = MlflowClient(mlflow_server.url)
    exp = client.get_experiment_by_name("mdflow/race-commit")
    head = git(repo, "rev-parse", "HEAD").strip()
    query = f"tags.`mdflow.role` = 'commit' and tags.`mdflow.git.commit` = '{head}'"
    (parent,) = client.search_runs([exp.experiment_id], filter_string=query)
    for rel, ordinal in (("data/t.csv", "v1"), ("data/u.csv", "v1")):
        (run,) = version_runs(mlflow_server, "mdflow/race-commit", pointer_hash(repo, rel))
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["mdflow.version"] == ordinal


def test_first_push_into_the_embedded_store_says_so_on_a_terminal(repo: Path) -> None:
    tracked_csv(repo)
    parent, child = os.openpty()  # stderr is a terminal: the status line shows
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdflow", "push"], cwd=repo, stdout=subprocess.DEVNULL, stderr=child
    )
    os.close(child)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the child has exited
        while block := os.read(parent, 4096):
            shown += block
    os.close(parent)
    assert proc.wait(120) == 0
    assert "creating the embedded MLflow store (first use)…" in shown.decode()
    assert "INFO" not in shown.decode()  # MLflow's own log lines stay out
    (repo / "data/t.csv").write_text("id\n1\n")  # a second push: the store exists, nothing shown
    assert mdflow(repo, "add", "data/t.csv").code == 0
    r = mdflow(repo, "push")
    assert r.code == 0 and "creating" not in r.err


def test_reading_commands_never_create_the_embedded_store(repo: Path) -> None:
    """No remote, nothing pushed, a version missing from the cache: diff, status --remote,
    pull and the Python API answer at once; none creates `.mdflow/mlflow` (seconds of
    MLflow's migrations, for a store that would hold nothing)."""
    tracked_csv(repo)
    write_csv(repo / "data/t.csv", 30)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    git(repo, "commit", "-qam", "more rows")
    shutil.rmtree(repo / ".mdflow/cache")
    r = mdflow(repo, "diff", "HEAD~1", "HEAD")
    assert r.code == 0 and "not available" in r.out, r.err
    r = mdflow(repo, "status", "--remote")
    assert "not pushed:" in r.out + r.err
    r = mdflow(repo, "pull")
    assert r.code == 1 and "nothing was ever pushed to it" in r.err
    import mdflow as api
    from mdflow.errors import MdflowError

    with pytest.raises(MdflowError, match="nothing was ever pushed to it"):
        api.read("data/t.csv", repo=str(repo))
    assert not (repo / ".mdflow/mlflow").exists()
