"""Push and pull through a real `mlflow server` (local disk or S3 artifacts) and embedded stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    clone,
    git,
    hinted,
    make_tree,
    mdflow,
    mdflow_proc,
    new_repo,
    obj,
    pointer_hash,
    read_tree,
    status_hint,
    use_server,
    write_csv,
)
from servers import FaultProxy, Server

from mdflow.hashing import hash_bytes

BIG = 3 << 20  # stored loose on the remote (>= 1 MiB); smaller objects travel in packs


def big_file(path: Path, seed: int, size: int = BIG) -> bytes:
    data = (seed.to_bytes(4, "big") * (size // 4 + 1))[:size]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def make_project(repo: Path, url: str) -> None:
    write_csv(repo / "data/train.csv", 200)
    make_tree(repo / "data/images")
    for i in range(150):  # many small files: they must travel in packs
        (repo / f"data/images/many/{i:03d}.txt").parent.mkdir(parents=True, exist_ok=True)
        (repo / f"data/images/many/{i:03d}.txt").write_text(f"small file {i}\n")
    big_file(repo / "data/big.bin", 1)
    assert mdflow(repo, "add", "data/train.csv", "data/images", "data/big.bin").code == 0
    assert mdflow(repo, "remote", "add", "origin", url).code == 0
    # tests share one server per session: each gets its own experiment, hence its own store
    cfg = repo / "mdflow.yaml"
    cfg.write_text(
        cfg.read_text().replace("experiment: mdflow/repo", f"experiment: {experiment(repo)}")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data v1")


def experiment(repo: Path) -> str:
    return f"mdflow/{repo.parent.name}"


def store_folder(server: Server, repo: Path) -> Path:
    """This test's artifacts on the shared server (its experiment's folder)."""
    from mlflow import MlflowClient

    exp = MlflowClient(server.url).get_experiment_by_name(experiment(repo))
    return Path(server.artifacts) / exp.experiment_id


def snapshot(repo: Path) -> dict[str, bytes]:
    """The data files (pointers may differ: a push adds run links to be committed)."""
    return {
        k: v
        for k, v in read_tree(repo / "data").items()
        if not k.endswith((".mdflow", ".gitignore"))
    }


def servers(request: pytest.FixtureRequest) -> Server:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(params=["mlflow_server", "mlflow_s3_server"])
def server(request: pytest.FixtureRequest) -> Server:
    return servers(request)


def test_collaboration_round_trip(repo: Path, tmp_path: Path, server: Server) -> None:
    make_project(repo, server.url)
    r = mdflow(repo, "push")
    assert r.code == 0, r.err
    assert r.out.startswith("pushed ")
    assert mdflow(repo, "push").out.startswith("pushed 0 objects")
    git(repo, "commit", "-qam", "link data versions to their runs")

    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull")
    assert r.code == 0, r.err
    assert snapshot(b) == snapshot(repo)
    assert mdflow(b, "status", "--exit-code").code == 0

    write_csv(b / "data/train.csv", 250, extra_column=True)
    (b / "data/images/a.txt").write_text("changed by B\n")
    assert mdflow(b, "add", "data/train.csv", "data/images").code == 0
    git(b, "commit", "-qam", "data v2")
    assert mdflow(b, "push").code == 0
    git(b, "commit", "-qam", "link data v2 to its runs")
    git(b, "push", "-q", "origin", "HEAD:refs/heads/from-b")

    git(repo, "merge", "-q", "--ff-only", "from-b")
    r = mdflow(repo, "pull")
    assert r.code == 0, r.err
    assert snapshot(repo) == snapshot(b)


def test_packs_keep_requests_few(repo: Path, tmp_path: Path, mlflow_server: Server) -> None:
    make_project(repo, mlflow_server.url)
    assert mdflow(repo, "push").code == 0
    store = next(store_folder(mlflow_server, repo).rglob("packs"))
    assert 1 <= len(list(store.glob("*.pack"))) <= 2
    loose = list(store.parent.joinpath("objects").rglob("*"))
    assert len([p for p in loose if p.is_file()]) == 1  # only the 3 MiB file travels alone


def test_corrupt_object_on_remote_is_refused(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    make_project(repo, mlflow_server.url)
    assert mdflow(repo, "push").code == 0
    objects = next(store_folder(mlflow_server, repo).rglob("objects"))
    stored = next(p for p in objects.rglob("*") if p.is_file())
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF
    stored.write_bytes(bytes(data))

    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull")
    assert r.code == 1
    assert "corrupt on remote origin" in r.err
    assert stored.parent.name + stored.name in r.err  # names the object
    assert not (b / "data/big.bin").exists()
    assert mdflow(b, "fsck").code == 0  # nothing unverified entered the cache
    assert (b / "data/train.csv").exists()  # the intact datasets were pulled


def test_corrupt_object_in_a_pack_is_refused_and_the_rest_pulled(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    make_project(repo, mlflow_server.url)
    assert mdflow(repo, "push").code == 0
    oid = hash_bytes(b"hello\n")  # data/images/a.txt
    for idx in store_folder(mlflow_server, repo).rglob("packs/*.idx"):
        entry = next((e for e in json.loads(idx.read_text())["objects"] if e["hash"] == oid), None)
        if entry is not None:
            pack = idx.with_suffix(".pack")
            data = bytearray(pack.read_bytes())
            data[entry["offset"]] ^= 0xFF
            pack.write_bytes(bytes(data))

    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull")
    assert r.code == 1
    assert f"{oid}: corrupt on remote origin (in packs/" in r.err
    assert not (b / "data/images/a.txt").exists()
    assert (b / "data/images/nested/deeper/b.bin").read_bytes() == bytes(range(256)) * 40
    assert mdflow(b, "fsck").code == 0  # nothing unverified entered the cache
    assert not (b / ".mdflow/cache" / oid[9:11] / oid[11:]).exists()


def test_wrong_url_is_one_line_error(repo: Path) -> None:
    from servers import free_port

    (repo / "f.bin").write_bytes(b"x")
    mdflow(repo, "add", "f.bin")
    url = f"http://127.0.0.1:{free_port()}"
    mdflow(repo, "remote", "add", "origin", url)
    started = time.monotonic()
    r = mdflow(repo, "push")
    assert r.code == 1
    assert r.err.count("\n") == 1, r.err
    assert r.err.startswith(f"mdflow: error: cannot reach the MLflow server at {url} ")
    assert "connection refused" in r.err and "Max retries" not in r.err
    assert time.monotonic() - started < 30  # a safety bound only: timings live in benchmarks/


def test_pre_push_hook_with_the_server_down_is_one_line_error(repo: Path) -> None:
    """Pins the hook's message: a remote failure is a one-line error with the next step (it
    was a bare RemoteError, exit 2, before remote errors went through repo.remote())."""
    from servers import free_port

    (repo / "f.bin").write_bytes(b"x")
    mdflow(repo, "add", "f.bin")
    mdflow(repo, "remote", "add", "origin", f"http://127.0.0.1:{free_port()}")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    r = mdflow(repo, "hook", "push")
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert r.err.startswith("mdflow: error: cannot reach the MLflow server at")
    assert r.err.rstrip().endswith("— check the remote (mdflow remote list), then git push again")


@pytest.mark.slow
def test_server_stopped_mid_push_then_resumed(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "server"
    folder.mkdir()
    server = Server(folder, str(folder / "artifacts"), {}).start()
    try:
        for i in range(12):  # loose objects: at least 1 MiB, below CHUNKED_MIN (4 MiB)
            big_file(repo / f"big/{i}.bin", 100 + i, 3 << 20)
        mdflow(repo, "add", "big")
        mdflow(repo, "remote", "add", "origin", server.url)
        # no backoff between MLflow's retries: the objects left fail in seconds, not a minute
        env = {**os.environ, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "mdflow", "push", "-j", "1"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        objects = folder / "artifacts"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(objects.rglob("objects/*/*"))) < 3:
            time.sleep(0.05)
        server.stop()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, out + err
        assert "failed" in err
        server.start()
        r = mdflow(repo, "push")
        assert r.code == 0, r.err
        b = clone(repo, tmp_path / "b")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "big")
        b = clone(repo, tmp_path / "b2")
        assert mdflow(b, "pull").code == 0
        assert read_tree(b / "big") == read_tree(repo / "big")
    finally:
        server.stop()


def test_noop_push_and_pull_need_no_server(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "server"
    folder.mkdir()
    server = Server(folder, str(folder / "artifacts"), {}).start()
    make_project(repo, server.url)
    assert mdflow(repo, "push").code == 0
    server.stop()
    assert mdflow(repo, "push").out.startswith("pushed 0 objects")
    assert mdflow(repo, "pull").code == 0


def test_embedded_store_between_clones(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    assert mdflow(repo, "push").code == 0
    b = clone(repo, tmp_path / "b")
    assert mdflow(b, "pull").code == 0
    assert snapshot(b) == snapshot(repo)


def test_pull_names_what_the_remote_lacks(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    b = clone(repo, tmp_path / "b")  # nothing was pushed
    r = mdflow(b, "pull")
    assert r.code == 1 and "not on remote origin" in r.err
    assert not (b / "data/big.bin").exists()


def test_remote_add_and_remove_keep_the_comments_of_mdflow_yaml(repo: Path) -> None:
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text() + "\n# what the tables are for\ndatasets:\n- paths: [t.csv]\n")
    before = cfg.read_text()
    assert mdflow(repo, "remote", "add", "origin", "http://mlflow.example:5000").code == 0
    assert mdflow(repo, "remote", "add", "backup", "/srv/store").code == 0
    text = cfg.read_text()
    assert text.startswith(before) and "# what the tables are for" in text  # init's too
    assert "url: http://mlflow.example:5000" in text and "default: origin" in text
    assert mdflow(repo, "remote", "remove", "origin").code == 0
    text = cfg.read_text()
    assert text.startswith(before) and "origin" not in text and "default: backup" in text
    assert mdflow(repo, "remote", "list").out == "backup\t/srv/store (default)\n"


def test_remote_commands_and_secrets_stay_local(repo: Path) -> None:
    assert mdflow(repo, "remote", "add", "origin", "http://mlflow.example:5000").code == 0
    assert mdflow(repo, "remote", "add", "backup", "/srv/store", "--default").code == 0
    r = mdflow(repo, "remote", "list")
    assert (
        "origin\thttp://mlflow.example:5000\n" in r.out and "backup\t/srv/store (default)" in r.out
    )
    assert mdflow(repo, "remote", "add", "bad", "ftp://x").code == 1
    text = (repo / "mdflow.yaml").read_text()
    (repo / "mdflow.yaml").write_text(
        text.replace("url: /srv/store", "url: /srv/store\n      auth: {token: s3cret}")
    )
    r = mdflow(repo, "remote", "list")
    assert r.code == 1 and "credentials" in r.err and "config.local.yaml" in r.err
    (repo / "mdflow.yaml").write_text(text)
    (repo / ".mdflow/config.local.yaml").write_text(
        "remote:\n  remotes:\n    origin:\n      url: http://mlflow.example:5000\n"
        "      auth: {token: s3cret}\n"
    )
    assert mdflow(repo, "remote", "list").code == 0
    assert mdflow(repo, "remote", "remove", "backup").code == 0
    assert "backup" not in (repo / "mdflow.yaml").read_text()
    assert "s3cret" not in git(repo, "diff") + (repo / "mdflow.yaml").read_text()


def test_versions_are_mlflow_runs_linked_from_pointers(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    from mlflow import MlflowClient

    make_project(repo, mlflow_server.url)
    r = mdflow(repo, "push")
    assert r.code == 0, r.err
    assert "git commit data/big.bin.mdflow data/images.mdflow data/train.csv.mdflow" in r.err
    pointer = (repo / "data/train.csv.mdflow").read_text()
    run_id = pointer.split("run: runs:/")[1].split("\n")[0]
    assert f"url: {mlflow_server.url}/#/experiments/" in pointer

    client = MlflowClient(mlflow_server.url)
    run = client.get_run(run_id)
    oid = pointer.split("hash: ")[1].split("\n")[0]
    assert run.info.run_name == f"data/train.csv@{oid.split(':')[1][:10]}"
    assert run.data.tags["mdflow.path"] == "data/train.csv"
    assert run.data.tags["mdflow.hash"] == oid
    assert run.data.tags["mdflow.git.branch"] == "main"
    assert run.data.metrics["rows"] == 200
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == oid.split(":")[1]
    assert dataset_input.dataset.name == "data/train.csv"
    artifacts = {a.path for a in client.list_artifacts(run_id, "mdflow")}
    assert artifacts == {"mdflow/train.csv.mdflow"}
    # listing versions works from MLflow alone
    exp = client.get_experiment_by_name(experiment(repo))
    found = client.search_runs([exp.experiment_id], filter_string=f"tags.`mdflow.hash` = '{oid}'")
    assert [f.info.run_id for f in found] == [run_id]

    before = (repo / "data/train.csv.mdflow").read_text()
    assert mdflow(repo, "push").code == 0  # idempotent: no new run, pointer unchanged
    assert (repo / "data/train.csv.mdflow").read_text() == before
    assert (
        len(client.search_runs([exp.experiment_id], filter_string=f"tags.`mdflow.hash` = '{oid}'"))
        == 1
    )


def test_machine_local_store_runs_stay_out_of_pointers(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    mdflow(repo, "remote", "add", "other", str(tmp_path / "other"))  # not the default
    assert mdflow(repo, "push", "--remote", "other").code == 0
    assert "run:" not in (repo / "data/train.csv.mdflow").read_text()
    (repo / "mdflow.yaml").write_text("mdflow: 1\n")  # no remote: the embedded .mdflow store
    r = mdflow(repo, "push")
    assert r.code == 0, r.err
    assert "run:" not in (repo / "data/train.csv.mdflow").read_text()


def test_status_remote_tells_what_is_not_pushed(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    r = mdflow(repo, "status", "--remote", "--exit-code")
    assert r.code == 1 and r.out.count("not pushed:") == 3
    assert mdflow(repo, "push").code == 0
    r = mdflow(repo, "status", "--remote", "--exit-code")
    assert r.code == 0 and "all clean, all pushed" in r.out
    write_csv(repo / "data/train.csv", 7)
    mdflow(repo, "add", "data/train.csv")
    states = {
        s["path"]: s["pushed"] for s in json.loads(mdflow(repo, "status", "--remote", "--json").out)
    }
    assert states == {"data/big.bin": True, "data/images": True, "data/train.csv": False}


def test_log_lists_versions_from_git_and_remote(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    v1 = git(repo, "rev-parse", "HEAD").strip()
    write_csv(repo / "data/train.csv", 300)
    mdflow(repo, "add", "data/train.csv")
    git(repo, "commit", "-qam", "more rows")
    git_only = json.loads(mdflow(repo, "log", "data/train.csv", "--no-remote", "--json").out)
    assert [(v["rows"], v["in_git"], v["on_remote"]) for v in git_only] == [
        (300, True, False),
        (200, True, False),
    ]
    assert git_only[1]["commit"] == v1 and git_only[0]["subject"] == "more rows"

    assert mdflow(repo, "push").code == 0  # only the newest version gets a run
    both = json.loads(mdflow(repo, "log", "data/train.csv", "--json").out)
    assert [(v["rows"], v["on_remote"], bool(v["run"])) for v in both] == [
        (300, True, True),
        (200, False, False),
    ]
    r = mdflow(repo, "log", "data/train.csv")
    assert r.code == 0 and r.out.splitlines()[0].startswith("HASH")


def test_pull_rev_fills_the_cache_without_touching_the_workspace(
    repo: Path, tmp_path: Path
) -> None:
    make_project(repo, str(tmp_path / "store"))
    old = (repo / "data/train.csv").read_bytes()
    assert mdflow(repo, "push").code == 0
    write_csv(repo / "data/train.csv", 5)
    mdflow(repo, "add", "data/train.csv")
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "v2")

    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull", "--rev", "HEAD~1", "data/train.csv")
    assert r.code == 0, r.err
    assert not (b / "data/train.csv").exists()  # workspace untouched
    (tmp_path / "store").rename(tmp_path / "store-gone")  # from here on: offline
    git(b, "checkout", "-q", "HEAD~1")
    assert mdflow(b, "checkout", "data/train.csv").code == 0
    assert (b / "data/train.csv").read_bytes() == old
    r = mdflow(b, "pull", "--rev", "no-such-rev")
    assert r.code == 1 and "not a commit" in r.err


def test_wrong_credentials_then_right_ones(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "auth-server"
    folder.mkdir()
    env = {"MLFLOW_AUTH_ADMIN_PASSWORD": "Adm1n-pass-123", "MLFLOW_FLASK_SERVER_SECRET_KEY": "t"}
    server = Server(folder, str(folder / "artifacts"), env, args=("--app-name", "basic-auth"))
    server.start()
    try:
        make_project(repo, server.url)
        local = repo / ".mdflow/config.local.yaml"
        auth = (
            "remote:\n  remotes:\n    origin:\n      url: {url}\n"
            "      auth: {{username: admin, password: {pw}}}\n"
        )
        local.write_text(auth.format(url=server.url, pw="wrong"))
        r = mdflow_proc(repo, "push")
        assert r.code == 1 and r.err.count("\n") == 1
        assert "refused the credentials (HTTP 401)" in r.err
        local.write_text(auth.format(url=server.url, pw="Adm1n-pass-123"))
        r = mdflow_proc(repo, "push")
        assert r.code == 0, r.err
        assert "password" not in (repo / "mdflow.yaml").read_text()
    finally:
        server.stop()


def test_server_errors_fail_the_push_and_a_rerun_completes(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    proxy = FaultProxy(mlflow_server.url)
    try:
        make_project(repo, proxy.url)
        proxy.fail = ["/objects/"]  # every loose-object upload answers 500
        r = mdflow(repo, "push")
        assert r.code == 1 and proxy.failed > 0
        big = (repo / "data/big.bin.mdflow").read_text().split("hash: ")[1].split("\n")[0]
        assert f"failed: {big}" in r.err
        assert "run:" not in (repo / "data/big.bin.mdflow").read_text()  # incomplete: no run
        proxy.fail = []
        r = mdflow(repo, "push")
        assert r.code == 0, r.err
        assert r.out.startswith("pushed 1 object (")  # only what failed before
        b = clone(repo, tmp_path / "b")
        assert mdflow(b, "pull").code == 0
        assert snapshot(b) == snapshot(repo)
    finally:
        proxy.close()


def test_partial_pull_of_one_file_inside_a_folder(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    assert mdflow(repo, "push").code == 0
    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull", "data/images/nested/deeper/b.bin")
    assert r.code == 0, r.err
    assert r.out.startswith("pulled 2 objects")  # the manifest and that one file
    assert read_tree(b / "data/images") == {
        "nested/deeper/b.bin": (repo / "data/images/nested/deeper/b.bin").read_bytes()
    }
    assert not (b / "data/train.csv").exists()
    r = mdflow(b, "pull", "data/images/no-such-file")
    assert r.code == 1 and "no file no-such-file in its manifest" in r.err
    assert mdflow(b, "pull", "data/images").code == 0
    assert snapshot(b)["images/many/000.txt"] == b"small file 0\n"


def test_pull_version_without_git_checkout(repo: Path, tmp_path: Path) -> None:
    make_project(repo, str(tmp_path / "store"))
    v1 = (repo / "data/train.csv").read_bytes()
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "links")
    write_csv(repo / "data/train.csv", 9)
    mdflow(repo, "add", "data/train.csv")
    v2 = (repo / "data/train.csv").read_bytes()
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "v2")
    v1_hash = json.loads(mdflow(repo, "log", "data/train.csv", "--json").out)[1]["hash"]

    b = clone(repo, tmp_path / "b")
    git(b, "checkout", "-q", "HEAD~2")  # the clone is at v1; it fetches the latest without git
    r = mdflow(b, "pull", "data/train.csv", "--version", "latest")
    assert r.code == 0, r.err
    assert (b / "data/train.csv").read_bytes() == v2
    r = mdflow(b, "pull", "data/train.csv", "--version", v1_hash.split(":")[1][:8])
    assert r.code == 0, r.err
    assert (b / "data/train.csv").read_bytes() == v1
    r = mdflow(b, "pull", "data/train.csv", "--version", "ffffffff")
    assert r.code == 1 and "no version of" in r.err
    r = mdflow(b, "pull", "data/images", "--version", "latest")
    assert r.code == 0, r.err
    assert snapshot(b)["images/a.txt"] == b"hello\n"


@pytest.mark.slow
def test_pull_killed_midway_leaves_nothing_half_written(repo: Path, tmp_path: Path) -> None:
    for i in range(16):
        big_file(repo / f"big/{i}.bin", 500 + i, 2 << 20)
    mdflow(repo, "add", "big")
    make_project(repo, str(tmp_path / "store"))
    assert mdflow(repo, "push").code == 0
    b = clone(repo, tmp_path / "b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdflow", "pull", "-j", "1"],
        cwd=b,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cache = b / ".mdflow/cache"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(cache.glob("tmp/obj-*")):
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no cleanup handlers run
    proc.wait()
    assert mdflow(b, "fsck").code == 0  # every object present is whole and correct
    for p in (b / "big").rglob("*") if (b / "big").exists() else []:
        assert not p.name.endswith(".mdflow-tmp")
    r = mdflow(b, "pull")
    assert r.code == 0, r.err
    assert read_tree(b / "big") == read_tree(repo / "big")


def test_pull_through_a_server_does_not_import_mlflow(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    from test_cli import PROBE

    make_project(repo, mlflow_server.url)
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "link runs")
    b = clone(repo, tmp_path / "b")
    probe = PROBE.format(heavy=("mlflow",))
    proc = subprocess.run(
        [sys.executable, "-c", probe, "pull"], cwd=b, capture_output=True, text=True, check=False
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr  # the REST API alone moved the objects
    assert snapshot(b) == snapshot(repo)


WATCH_TRANSFER = """
import runpy, sys, threading
import mdflow.sync
seen = []
transfer = mdflow.sync.push_objects
def watched(*args, **kwargs):
    seen.append((sorted(t.name for t in threading.enumerate()), "mlflow" in sys.modules))
    return transfer(*args, **kwargs)
mdflow.sync.push_objects = watched
sys.argv = ["mdflow", "push"]
try:
    runpy.run_module("mdflow", run_name="__main__")
finally:
    print("AT-TRANSFER=" + repr(seen), file=sys.stderr)
"""


def test_objects_travel_with_no_other_thread_and_no_mlflow_loading(
    repo: Path, mlflow_server: Server
) -> None:
    """mlflow is imported after the transfer, not beside it: its import calls setenv (its
    telemetry session id) and loads C libraries, while transfer threads resolving the server's
    name read the C environment without the GIL (the SIGSEGV of docs/reliability.md); it
    saved no time either (docs/remote-layout.md)."""
    make_project(repo, mlflow_server.url)
    proc = subprocess.run(
        [sys.executable, "-c", WATCH_TRANSFER], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "AT-TRANSFER=[(['MainThread'], False)]" in proc.stderr, proc.stderr
    assert "3 dataset versions have MLflow runs" in proc.stdout  # recorded after, with mlflow


def test_store_run_deleted_then_everything_is_pushed_again(
    repo: Path, tmp_path: Path, server: Server
) -> None:
    from mlflow import MlflowClient

    make_project(repo, server.url)
    assert mdflow(repo, "push").code == 0
    client = MlflowClient(server.url)
    exp = client.get_experiment_by_name(experiment(repo))
    (old,) = client.search_runs([exp.experiment_id], "tags.`mdflow.role` = 'store'")
    client.delete_run(old.info.run_id)  # someone cleaned up the experiment by hand

    (repo / "data/new.txt").write_text("after the store run was deleted\n")
    assert mdflow(repo, "add", "data/new.txt").code == 0
    r = mdflow(repo, "push")  # inventories read from the old store run no longer count
    assert r.code == 0, r.err
    assert r.out.startswith("pushed ") and not r.out.startswith("pushed 1 object (")
    (new,) = client.search_runs([exp.experiment_id], "tags.`mdflow.role` = 'store'")
    assert new.info.run_id != old.info.run_id
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "new data")

    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull")
    assert r.code == 0, r.err
    assert snapshot(b) == snapshot(repo)


def test_deleted_experiment_is_named_then_restored(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    from mlflow import MlflowClient

    make_project(repo, mlflow_server.url)
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "link runs")
    client = MlflowClient(mlflow_server.url)
    exp_id = client.get_experiment_by_name(experiment(repo)).experiment_id
    client.delete_experiment(exp_id)

    b = clone(repo, tmp_path / "b")
    r = mdflow(b, "pull")
    assert r.code == 1
    assert r.err.count("\n") == 1 and "is deleted on the server: restore it" in r.err

    client.restore_experiment(exp_id)
    r = mdflow(b, "pull")
    assert r.code == 0, r.err
    assert snapshot(b) == snapshot(repo)


def pushed_version(repo: Path, rows: int) -> bytes:
    """data/t.csv with `rows` rows added, committed, pushed, its run link committed."""
    write_csv(repo / "data/t.csv", rows)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"{rows} rows")
    r = mdflow(repo, "push")
    assert r.code == 0, r.err
    assert r.out.startswith("pushed 1 object (")
    assert "1 dataset version has an MLflow run on origin" in r.out
    git(repo, "commit", "-qam", "link the version to its run")
    return (repo / "data/t.csv").read_bytes()


def test_status_hints_pull_in_a_fresh_clone_and_after_git_pull(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(repo, mlflow_server.url, "mdflow/hints-pull")
    pushed_version(repo, 3)
    b = clone(repo, tmp_path / "b")
    hint = status_hint(b, "data/t.csv")  # missing from the workspace and the cache
    assert hinted(hint) == [["pull", "data/t.csv"]], hint
    assert mdflow(b, *hinted(hint)[0]).code == 0
    assert mdflow(b, "status", "--exit-code").code == 0

    v2 = pushed_version(repo, 5)
    git(b, "pull", "-q")  # the pointer names v2; the workspace holds v1, which is cached
    hint = status_hint(b, "data/t.csv")
    assert hinted(hint) == [["pull", "data/t.csv"]] and "checkout" not in hint, hint
    r = mdflow(b, "checkout", "-f")
    assert r.code == 1 and "missing from cache: data/t.csv — mdflow pull data/t.csv" in r.err
    assert mdflow(b, *hinted(hint)[0]).code == 0
    assert mdflow(b, "status", "--exit-code").code == 0
    assert (b / "data/t.csv").read_bytes() == v2


def test_status_hint_discards_new_content_with_pull_force(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(repo, mlflow_server.url, "mdflow/hints-pull-force")
    pushed_version(repo, 3)
    b = clone(repo, tmp_path / "b")
    assert mdflow(b, "pull").code == 0
    v2 = pushed_version(repo, 5)
    git(b, "pull", "-q")
    write_csv(b / "data/t.csv", 4)  # new content, and the pointer's version is not cached
    hint = status_hint(b, "data/t.csv")
    assert hinted(hint) == [["add", "data/t.csv"], ["pull", "-f", "data/t.csv"]], hint
    r = mdflow(b, "pull")  # without -f, the new content is kept and said so
    assert r.code == 1 and "kept data/t.csv" in r.err
    assert mdflow(b, *hinted(hint)[1]).code == 0
    assert mdflow(b, "status", "--exit-code").code == 0
    assert (b / "data/t.csv").read_bytes() == v2


def test_status_hint_pulls_from_the_embedded_store(repo: Path) -> None:
    (repo / "f.txt").write_text("v1\n")
    assert mdflow(repo, "add", "f.txt").code == 0
    assert mdflow(repo, "push").code == 0  # no remote configured: the embedded store
    (repo / "f.txt").unlink()
    obj(repo, pointer_hash(repo, "f.txt")).unlink()
    hint = status_hint(repo, "f.txt")
    assert hinted(hint) == [["pull", "f.txt"]], hint
    assert mdflow(repo, *hinted(hint)[0]).code == 0
    assert mdflow(repo, "status", "--exit-code").code == 0
    assert (repo / "f.txt").read_text() == "v1\n"


DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")


def recorded(url: str, repo: Path) -> dict[str, object]:
    """What a person sees of the runs a push recorded for `repo`: every version run and the
    commit's run, by name, with the ids that differ between two recordings replaced."""
    from mlflow import MlflowClient

    client = MlflowClient(url)
    exp = client.get_experiment_by_name(experiment(repo)).experiment_id
    runs = [r for r in client.search_runs([exp]) if r.data.tags.get("mdflow.role") != "store"]
    commit = git(repo, "rev-parse", "HEAD").strip()
    ids = {commit: "<commit>", commit[:10]: "<commit>", str(repo): "<repo>"}
    ids |= {f"/experiments/{exp}/": "/<exp>/"}
    ids |= {r.info.run_id: f"<run {r.info.run_name.replace(commit[:10], '')}>" for r in runs}

    def plain(text: str) -> str:
        for value, name in ids.items():
            text = text.replace(value, name)
        return text

    seen: dict[str, object] = {}
    for r in runs:
        inputs = [
            (
                [plain(str(getattr(i.dataset, k))) for k in DATASET_FIELDS],
                sorted((t.key, t.value) for t in i.tags),
            )
            for i in (r.inputs.dataset_inputs if r.inputs else [])
        ]
        texts = {}
        for f in artifact_files(client, r.info.run_id):
            data = Path(client.download_artifacts(r.info.run_id, f)).read_bytes()
            texts[f] = plain(data.decode()) if f.endswith((".mdflow", ".json", ".md")) else data
        seen[plain(r.info.run_name)] = {
            "status": r.info.status,
            "tags": {k: plain(v) for k, v in r.data.tags.items()},
            "metrics": r.data.metrics,
            "inputs": inputs,
            "artifacts": texts,
        }
    return seen


def artifact_files(client: Any, run_id: str, folder: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, folder):
        found += artifact_files(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(found)


def test_a_push_records_runs_over_rest_as_mlflows_client_does(
    tmp_path: Path, mlflow_server: Server
) -> None:
    """A push through a server records its versions with plain HTTP requests, never importing
    mlflow; the runs are those MLflow's own client makes (forced here by a setting that
    makes mdflow hand every call to it)."""
    from test_cli import PROBE

    recordings = []
    for name, forced in (("rest", False), ("client", True)):
        repo = new_repo(tmp_path / name / "repo")
        make_project(repo, mlflow_server.url)
        env = {**os.environ, "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": str(forced).lower()}
        proc = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=("mlflow",)), "push"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert "3 dataset versions have MLflow runs" in proc.stdout, proc.stderr
        assert ("HEAVY=mlflow\n" if forced else "HEAVY=\n") in proc.stderr, proc.stderr
        assert mdflow_proc(repo, "visit", env=env).code == 0
        recordings.append(recorded(mlflow_server.url, repo))
    rest, client = recordings
    assert len(rest) == 4  # three versions and their commit
    assert rest.keys() == client.keys()
    for name, run in rest.items():
        assert isinstance(run, dict)
        for field, value in run.items():
            assert value == client[name][field], (name, field)  # type: ignore[index]
