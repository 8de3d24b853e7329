"""The Python API: reading dataset versions from code, versioning data from a notebook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import clone, git, mdflow, read_tree, shared_project, two_versions, write_csv
from servers import Server

import mdflow as package
from mdflow.errors import MdflowError


@pytest.fixture(autouse=True)
def _user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def test_read_any_revision_leaves_working_tree_and_index_alone(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = two_versions(repo)
    write_csv(repo / "data/t.csv", 7)  # unsaved work in the working tree
    git(repo, "add", "data/t.csv.mdflow")
    status = git(repo, "status", "--porcelain")
    index = (repo / ".git/index").read_bytes()
    work = (repo / "data/t.csv").read_bytes()
    monkeypatch.chdir(repo / "data")

    with package.open("t.csv", rev="v1") as f:
        assert f.read() == v1
    with package.open("t.csv", rev="HEAD", mode="r") as text:
        assert text.read() == v2.decode()
    assert package.read("t.csv", rev="v1")["id"].tolist() == [0, 1, 2]
    assert len(package.read("t.csv")) == 5  # the working tree's pointer: v2
    assert len(package.read("t.csv", rev="v1", usecols=["id"]).columns) == 1

    local = package.get_path("t.csv", rev="v1")
    assert local.read_bytes() == v1 and local.stat().st_mode & 0o222 == 0  # read-only
    assert (repo / ".mdflow/cache") in local.parents
    tree = package.get_path("images", rev="v1")
    assert read_tree(tree) == read_tree(repo / "data/images")
    assert package.get_path("images/nested", rev="v1").joinpath("empty.dat").read_bytes() == b""
    with package.open("images/a.txt", rev="v1") as f:
        assert f.read() == b"hello\n"

    assert git(repo, "status", "--porcelain") == status
    assert (repo / ".git/index").read_bytes() == index
    assert (repo / "data/t.csv").read_bytes() == work


def test_user_errors_are_mdflow_errors(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    two_versions(repo)
    monkeypatch.chdir(repo)
    with pytest.raises(MdflowError, match="not a table"):
        package.read("data/images/a.txt")
    with pytest.raises(MdflowError, match="not tracked by mdflow at v1"):
        package.open("data/other.csv", rev="v1")
    with pytest.raises(MdflowError, match="not a commit"):
        package.open("data/t.csv", rev="no-such-rev")
    with pytest.raises(MdflowError, match="is a folder"):
        package.open("data/images")
    with pytest.raises(MdflowError, match="not supported"):
        package.open("data/t.csv", mode="wb")  # type: ignore[call-overload]
    with pytest.raises(MdflowError, match="outside the repository"):
        package.get_path("../x.csv")
    (repo / ".mdflow/cache").rename(repo / "lost-cache")
    with pytest.raises(MdflowError, match=r"cannot read data/t.csv .*not on remote embedded"):
        package.read("data/t.csv", rev="v1")


def test_read_from_a_url_through_one_partial_clone(
    repo: Path, tmp_path: Path, mlflow_server: Server, _user_cache: Path
) -> None:
    notes = repo / "notes.txt"  # a blob a partial clone must not download
    notes.write_text("not data\n" * 5000)
    git(repo, "add", "notes.txt")
    shared_project(repo, mlflow_server.url)
    url = repo.as_uri()
    v1 = git(repo, "show", "v1:data/t.csv.mdflow")

    frame = package.read("data/t.csv", repo=url)
    pd.testing.assert_frame_equal(frame, pd.read_csv(repo / "data/t.csv"))
    assert frame.attrs["mdflow"]["repo"] == url
    (root,) = (_user_cache / "mdflow/repos").glob("*/repo")
    clone_id = (root / ".git").stat().st_ino
    missing = git(root, "rev-list", "--objects", "--all", "--missing=print")
    assert "?" + git(repo, "rev-parse", "HEAD:notes.txt").strip() in missing.split()
    assert package.read("data/t.csv", rev="v1", repo=url)["id"].tolist() == [0, 1, 2]
    assert "hash: " + package.versions("data/t.csv", repo=url)[1].hash in v1
    assert read_tree(package.get_path("data/images", repo=url)) == read_tree(repo / "data/images")

    write_csv(repo / "data/t.csv", 9)  # upstream moves on: the clone is fetched, not re-cloned
    mdflow(repo, "add", "data/t.csv")
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "v3")
    assert len(package.read("data/t.csv", repo=url)) == 9
    assert (root / ".git").stat().st_ino == clone_id
    assert sorted(p.name for p in root.parent.iterdir()) == ["lock", "repo"]


def test_versions_from_git_history(repo: Path) -> None:
    two_versions(repo)
    found = package.versions(repo / "data/t.csv", remote=False)
    assert [v.rows for v in found] == [5, 3]
    assert found[1].commit == git(repo, "rev-parse", "v1").strip()
    assert found[0].date is not None and found[0].date.year >= 2024
    assert found[0].hash.startswith("xxh3-128:") and found[0].size > 0


def test_notebook_writes_a_frame_versions_and_shares_it(repo: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(10), "y": [i * i for i in range(10)]})
    (repo / "data").mkdir()
    frame.to_parquet(repo / "data/features.parquet")
    (added,) = package.add("data/features.parquet", repo=repo)
    assert added.pointer.rows == 10 and added.changed
    assert mdflow(repo, "remote", "add", "origin", str(tmp_path / "store")).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "features")
    report = package.push(repo=repo)
    assert report.transfer.transferred and report.runs
    git(repo, "commit", "-qam", "links")

    b = clone(repo, tmp_path / "b")
    assert package.pull(["data/features.parquet"], repo=b).checkout is not None
    pd.testing.assert_frame_equal(pd.read_parquet(b / "data/features.parquet"), frame)
    pd.testing.assert_frame_equal(package.read("data/features.parquet", repo=b), frame)
    frame.head(3).to_parquet(repo / "data/features.parquet")
    package.add(repo / "data/features.parquet")
    git(repo, "commit", "-qam", "fewer rows, not pushed")
    git(b, "pull", "-q")
    with pytest.raises(MdflowError, match=r"pull incomplete: .*not on remote origin"):
        package.pull(repo=b)


def test_import_mdflow_stays_cheap(tmp_path: Path) -> None:
    probe = (
        "import sys, mdflow\n"
        "assert callable(mdflow.read) and callable(mdflow.log_input)\n"
        "print(','.join(m for m in ('mlflow', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert proc.stdout == "\n", proc.stdout


def test_training_run_links_to_the_exact_version(
    repo: Path, tmp_path: Path, mlflow_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow import MlflowClient

    data_v1, _ = shared_project(repo, mlflow_server.url)
    url = repo.as_uri()
    v1 = git(repo, "show", "v1:data/t.csv.mdflow").split("hash: ")[1].split("\n")[0]
    commit = git(repo, "rev-parse", "v1").strip()
    training = f"sqlite:///{tmp_path / 'training.db'}"  # the user's own tracking store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", training)
    experiment = MlflowClient(training).create_experiment(
        "training", artifact_location=(tmp_path / "training-artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        train = package.read("data/t.csv", rev="v1", repo=url)  # downloads from the data server
        uri = package.log_input(train, context="train")
        package.log_input("data/images", context="eval", rev="v1", repo=url)
        assert mlflow.get_tracking_uri() == training  # reading data did not move the run
    assert uri == f"mdflow://{url}@{commit}:data/t.csv"

    inputs = MlflowClient(training).get_run(run.info.run_id).inputs.dataset_inputs
    first = next(i for i in inputs if i.dataset.name == "data/t.csv")
    assert first.dataset.digest == v1.split(":")[1] and first.dataset.source_type == "mdflow"
    tags = {t.key: t.value for t in first.tags}
    assert tags["mdflow.hash"] == v1 and tags["mdflow.commit"] == commit
    assert tags["mlflow.data.context"] == "train"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-machine"))  # nothing cached
    local = Path(mlflow.data.get_source(first).load())
    assert local.read_bytes() == data_v1
    assert (tmp_path / "another-machine") in local.parents
    copied = mlflow.data.get_source(first).load(dst_path=str(tmp_path / "out"))
    assert Path(copied) == tmp_path / "out/t.csv" and Path(copied).read_bytes() == data_v1
    pd.testing.assert_frame_equal(package.read_run_input(run.info.run_id, "data/t.csv"), train)
    with pytest.raises(MdflowError, match="not a table"):
        package.read_run_input(run.info.run_id, "data/images")
    with pytest.raises(MdflowError, match="several mdflow inputs"):
        package.read_run_input(run.info.run_id)


@pytest.mark.slow
def test_type_checkers_see_the_public_api(tmp_path: Path) -> None:
    snippet = tmp_path / "use.py"
    snippet.write_text(
        "import mdflow\n"
        "from pathlib import Path\n"
        "p: Path = mdflow.get_path('data/t.csv', rev='v1')\n"
        "data: bytes = mdflow.open('data/t.csv').read()\n"
        "text: str = mdflow.open('data/t.csv', mode='r').read()\n"
        "uri: str = mdflow.log_input('data/t.csv', context='train')\n"
        "wrong: int = mdflow.read('data/t.csv')\n"
    )
    source = Path(package.__file__).parent
    assert (source / "py.typed").is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(source.parent)},  # the editable install's source
    )
    # errors inside mdflow's own files (checked here without its mypy settings) do not count
    errors = [line for line in proc.stdout.splitlines() if line.startswith("use.py:")]
    assert len(errors) == 1 and "use.py:7:" in errors[0] and "DataFrame" in errors[0], proc.stdout
