"""Every dataset version a first-class MLflow dataset: the version run's Datasets panel
(loadable source, schema, profile, split), its description, ordinal and commit run, and
`mdflow get runs:/<id>` through the server alone, on a real `mlflow server`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, make_tree, mdflow, mdflow_proc, pointer_hash, read_tree, use_server
from servers import Server

ROLES = """datasets:
- paths: [data/train.csv]
  split: train
  target: species
- paths: [data/test.csv]
  split: test
  target: species
"""


def penguins(path: Path, rows: int, seed: int = 0) -> bytes:
    """A penguins-like table: strings, integers, floats with missing values."""
    species = ("Adelie", "Gentoo", "Chinstrap")
    lines = ["species,island,bill_length_mm,flipper_length_mm,body_mass_g,sex,year"]
    for i in range(rows):
        bill = "" if (i + seed) % 17 == 0 else f"{35 + (i * 7 + seed) % 20 + 0.1 * (i % 10):.1f}"
        sex = "" if i % 23 == 5 else ("male", "female")[i % 2]
        lines.append(
            f"{species[i % 3]},Biscoe,{bill},{180 + i % 40},{3000 + (i * 37) % 2000},{sex},"
            f"{2007 + i % 3}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path.read_bytes()


@pytest.fixture
def hooked(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_server: Server
) -> Path:
    """A repository as `mdflow init` makes it (default visitors), hooks installed, the real
    server as its remote (an experiment of its own), splits and targets declared."""
    monkeypatch.setenv("MDFLOW_NO_PROGRESS", "1")
    use_server(repo, mlflow_server.url, f"mdflow/{tmp_path.name}")
    (repo / "mdflow.yaml").write_text((repo / "mdflow.yaml").read_text() + ROLES)
    assert mdflow(repo, "install").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hooks and roles")
    return repo


def commit(repo: Path, message: str) -> None:
    r = subprocess.run(
        ["git", "commit", "-m", message], cwd=repo, text=True, capture_output=True, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr


def version_run(server: Server, repo: Path, rel: str) -> Any:
    from mlflow import MlflowClient

    run_id = (repo / f"{rel}.mdflow").read_text().split("run: runs:/")[1].split()[0]
    return MlflowClient(server.url).get_run(run_id)


def test_one_commit_gives_a_first_class_mlflow_dataset(
    hooked: Path, tmp_path: Path, mlflow_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow import MlflowClient

    data = penguins(hooked / "data/train.csv", 120)
    assert mdflow(hooked, "add", "data/train.csv").code == 0
    git(hooked, "add", "-A")
    commit(hooked, "penguins: first training set")
    head = git(hooked, "rev-parse", "HEAD").strip()
    client = MlflowClient(mlflow_server.url)
    run = version_run(mlflow_server, hooked, "data/train.csv")
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the runs table

    (item,) = run.inputs.dataset_inputs
    ds, oid = item.dataset, pointer_hash(hooked, "data/train.csv")
    assert ds.name == "data/train.csv" and ds.digest == oid.split(":")[1]  # whole content
    assert ds.source_type == "mdflow"
    assert {t.key: t.value for t in item.tags}["mlflow.data.context"] == "train"
    columns = {c["name"]: c for c in json.loads(ds.schema)["mlflow_colspec"]}
    assert list(columns) == data.decode().splitlines()[0].split(",")
    assert columns["bill_length_mm"]["type"] == "double"
    assert columns["bill_length_mm"]["required"] is False  # it has missing values
    assert (columns["year"]["type"], columns["species"]["type"]) == ("long", "string")
    profile = json.loads(ds.profile)
    assert (profile["num_rows"], profile["num_columns"], profile["num_elements"]) == (120, 7, 840)

    tags = run.data.tags
    assert tags["mdflow.version"] == "v1" and tags["mdflow.git.commit"] == head
    note = tags["mlflow.note.content"]
    for text in ("data/train.csv", "v1", "120 rows, 7 columns", head[:10], "first training set"):
        assert text in note
    assert "split: train" in note and "target: `species`" in note
    assert f"runs/{run.info.run_id}/artifacts/reports/index.html" in note
    parent = client.get_run(tags["mlflow.parentRunId"])
    assert parent.data.tags["mdflow.role"] == "commit"
    assert parent.data.tags["mdflow.git.commit"] == head and parent.info.status == "FINISHED"

    # MLflow's own way back to the data: the exact bytes, through the server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    elsewhere = tmp_path / "elsewhere"  # no Git repository
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = mlflow.data.get_source(item).load()
    assert Path(loaded).read_bytes() == data
    assert Path(mlflow.data.get_source(item).load(str(elsewhere / "dst"))).read_bytes() == data
    import mdflow as api

    frame = api.read_run_input(run.info.run_id)
    assert len(frame) == 120 and list(frame.columns) == list(columns)

    # and mdflow's: `mdflow get runs:/<id>` in an empty folder outside any repository
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server.url}
    empty = tmp_path / "empty"
    empty.mkdir()
    r = mdflow_proc(empty, "get", f"runs:/{run.info.run_id}", env=env)
    assert r.code == 0, r.err
    assert (empty / "train.csv").read_bytes() == data
    assert f"from run {run.info.run_id}" in r.out


def test_one_commit_groups_its_versions_and_ordinals_count_per_path(
    hooked: Path, mlflow_server: Server
) -> None:
    from mlflow import MlflowClient

    penguins(hooked / "data/train.csv", 60)
    assert mdflow(hooked, "add", "data/train.csv").code == 0
    git(hooked, "add", "-A")
    commit(hooked, "train v1")
    penguins(hooked / "data/train.csv", 90, seed=3)
    penguins(hooked / "data/test.csv", 30, seed=1)
    assert mdflow(hooked, "add", "data/train.csv", "data/test.csv").code == 0
    git(hooked, "add", "-A")
    commit(hooked, "more training data, and a test set")
    head = git(hooked, "rev-parse", "HEAD").strip()

    train = version_run(mlflow_server, hooked, "data/train.csv")
    test = version_run(mlflow_server, hooked, "data/test.csv")
    assert (train.data.tags["mdflow.version"], test.data.tags["mdflow.version"]) == ("v2", "v1")
    parent_id = train.data.tags["mlflow.parentRunId"]
    assert test.data.tags["mlflow.parentRunId"] == parent_id
    client = MlflowClient(mlflow_server.url)
    assert client.get_run(parent_id).data.tags["mdflow.git.commit"] == head
    commits = client.search_runs(
        [train.info.experiment_id], filter_string="tags.`mdflow.role` = 'commit'"
    )
    assert len(commits) == 2  # one per commit that recorded versions
    note = train.data.tags["mlflow.note.content"]
    assert "since v1:" in note and "60 → 90" in note and "more training data" in note
    (item,) = test.inputs.dataset_inputs
    assert {t.key: t.value for t in item.tags}["mlflow.data.context"] == "test"
    assert "mdflow get runs:/" not in note  # nothing the UI cannot show


def test_get_by_run_fetches_files_and_folders_without_git(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(repo, mlflow_server.url, f"mdflow/{tmp_path.name}")
    penguins(repo / "data/t.csv", 40)
    make_tree(repo / "data/images")
    assert mdflow(repo, "add", "data/t.csv", "data/images").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    assert mdflow(repo, "push").code == 0
    table, folder = (
        (repo / f"{rel}.mdflow").read_text().split("run: ")[1].split()[0]
        for rel in ("data/t.csv", "data/images")
    )
    here = tmp_path / "outside"  # not a repository, no MLFLOW_TRACKING_URI
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    r = mdflow_proc(here, "get", folder, "--remote", mlflow_server.url, "-o", "imgs", env=env)
    assert r.code == 0, r.err
    assert read_tree(here / "imgs") == read_tree(repo / "data/images")
    assert os.access(here / "imgs/tools/run.sh", os.X_OK)
    r = mdflow_proc(here, "get", table, "--remote", mlflow_server.url, env=env)
    assert r.code == 0 and (here / "t.csv").read_bytes() == (repo / "data/t.csv").read_bytes()

    import mdflow as api

    got = api.get(table, out=here / "again.csv", remote=mlflow_server.url)
    assert got.read_bytes() == (repo / "data/t.csv").read_bytes()

    for args, words in (
        ((table,), "MLFLOW_TRACKING_URI"),  # no server named
        ((table, "--remote", mlflow_server.url), "already exists"),
        (("runs:/nosuchrun0", "--remote", mlflow_server.url), "no run nosuchrun0"),
        (("runs:/../x", "--remote", mlflow_server.url), "not a run URI"),
        ((table, "data/t.csv", "--remote", mlflow_server.url), "no PATH"),
    ):
        r = mdflow_proc(here, "get", *args, env=env)
        assert r.code == 1 and words in r.err and r.err.count("\n") == 1, (args, r.err)
    assert sorted(p.name for p in here.iterdir()) == ["again.csv", "imgs", "t.csv"]


def test_get_by_run_refuses_hostile_tags_and_artifacts(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    """A run whose tags or pointer someone with access to the server rewrote."""
    from mlflow import MlflowClient

    use_server(repo, mlflow_server.url, f"mdflow/{tmp_path.name}")
    penguins(repo / "data/t.csv", 10)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    assert mdflow(repo, "push").code == 0
    client = MlflowClient(mlflow_server.url)
    good = version_run(mlflow_server, repo, "data/t.csv")
    exp = good.info.experiment_id
    pointer = (repo / "data/t.csv.mdflow").read_text()
    here = tmp_path / "outside"
    here.mkdir()

    def forged(path: str, text: str) -> str:
        run = client.create_run(exp, tags={"mdflow.path": path, "mdflow.hash": "x"})
        name = path.rsplit("/", 1)[-1]
        client.log_text(run.info.run_id, text, f"mdflow/{name}.mdflow")
        return f"runs:/{run.info.run_id}"

    other = "xxh3-128:" + "0" * 32  # an object the store does not hold
    cases = {
        forged("../../etc/passwd", pointer): "unusable mdflow.path",
        forged("data/t.csv", "mdflow: 1\npath: t.csv\nhash: nope\nsize: 1\n"): "pointer",
        forged("data/t.csv", pointer.replace(pointer_hash(repo, "data/t.csv"), other)): other,
    }
    for uri, words in cases.items():
        r = mdflow_proc(here, "get", uri, "--remote", mlflow_server.url)
        assert r.code == 1 and words in r.err and r.err.count("\n") == 1, r.err
    assert list(here.iterdir()) == []


def test_a_version_recorded_before_its_commit_gets_its_dataset_once_confirmed(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    """`mdflow push` before `git commit`: a pending run, no dataset (no commit to name);
    the push after the commit settles it."""
    use_server(repo, mlflow_server.url, f"mdflow/{tmp_path.name}")
    penguins(repo / "data/t.csv", 10)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    assert mdflow(repo, "push").code == 0
    run = version_run(mlflow_server, repo, "data/t.csv")
    assert run.data.tags["mdflow.pending"] == "true" and not run.inputs.dataset_inputs
    assert "pending" in run.data.tags["mlflow.note.content"]
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    assert mdflow(repo, "push").code == 0
    run = version_run(mlflow_server, repo, "data/t.csv")
    assert "mdflow.pending" not in run.data.tags and run.data.tags["mdflow.version"] == "v1"
    assert [i.dataset.source_type for i in run.inputs.dataset_inputs] == ["mdflow"]
    assert "mlflow.parentRunId" in run.data.tags


def test_import_mdflow_still_loads_no_mlflow() -> None:
    code = "import mdflow, sys; mdflow.get; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_embedded_store_version_loads_and_gets_by_run(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No server: the machine-local store; its runs load by the folder they record."""
    import mlflow
    from mlflow import MlflowClient

    data = penguins(repo / "data/t.csv", 25)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    assert mdflow(repo, "push").code == 0
    db = f"sqlite:///{repo}/.mdflow/mlflow/mlflow.db"
    client = MlflowClient(db)
    exp = client.get_experiment_by_name("mdflow/repo")
    (run,) = client.search_runs(
        [exp.experiment_id], filter_string="tags.`mdflow.path` = 'data/t.csv'"
    )
    here = tmp_path / "outside"
    here.mkdir()
    monkeypatch.chdir(here)
    (item,) = run.inputs.dataset_inputs
    assert json.loads(item.dataset.source)["server"] == str(repo / ".mdflow/mlflow")
    assert Path(mlflow.data.get_source(item).load()).read_bytes() == data
    r = mdflow_proc(here, "get", f"runs:/{run.info.run_id}", "--remote", db, "-o", "x.csv")
    assert r.code == 0 and (here / "x.csv").read_bytes() == data, r.err


DTYPES = ["int64", "Int64", "int32", "uint8", "float64", "float32", "Float64", "bool", "boolean"]
DTYPES += ["object", "string", "str", "category", "datetime64[ns]", "datetime64[us, UTC]"]


def test_the_schema_is_the_one_mlflows_types_write() -> None:
    """The version run's schema is built without importing mlflow: it must be what
    `mlflow.types.Schema.to_dict()` writes for the same columns."""
    from mlflow.types import ColSpec, DataType, Schema

    from mdflow.remote.catalog import Column
    from mdflow.remote.mlflow.lineage import _mlflow_type, colspec

    columns = [Column(f"col {d}", d, nulls=i % 2) for i, d in enumerate(DTYPES)]
    theirs = Schema(
        [ColSpec(DataType[_mlflow_type(c.dtype)], c.name, required=c.nulls == 0) for c in columns]
    ).to_dict()
    assert colspec(columns) == theirs
    assert {s["type"] for s in theirs} == {
        "long", "integer", "double", "float", "boolean", "string", "datetime"
    }  # fmt: skip
