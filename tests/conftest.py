"""Fixtures: real Git repositories in tmp_path, the CLI in-process and as a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from clones import Clone, new_clone
from servers import Server, create_bucket, start_moto

from mdflow.cli import main
from mdflow.remote.folder import FolderStore


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@mdflow.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@mdflow.invalid")
    # the `mdflow` command that git drivers and hooks run is this environment's
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout


def mdflow(repo: Path, *args: str) -> Result:
    """Run the CLI in-process with `repo` as the working directory."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    os.chdir(repo)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(old)
    return Result(code, out.getvalue(), err.getvalue())


HINTED = re.compile(r"mdflow ([a-z]+)((?: -f)?) ([^\s),]+)")


def status_hint(repo: Path, path: str) -> str:
    """The hint `mdflow status` prints for the dataset at `path` (after the dash)."""
    r = mdflow(repo, "status")
    assert r.code == 0, r.err
    for line in r.out.splitlines():
        fields = line.split()
        if len(fields) > 1 and fields[1].rstrip("/") == path:
            return line.partition(" — ")[2]
    raise AssertionError(f"{path} is not in the status:\n{r.out}")


def hinted(hint: str) -> list[list[str]]:
    """The commands a hint names, as argument lists (`mdflow add x` -> ["add", "x"])."""
    return [[verb, *flag.split(), path] for verb, flag, path in HINTED.findall(hint)]


def mdflow_proc(
    repo: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    umask: int | None = None,
) -> Result:
    """Run the CLI as a real subprocess (`python -m mdflow`), in `env` and with `umask` when
    given."""
    proc = subprocess.run(
        [sys.executable, "-m", "mdflow", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        umask=-1 if umask is None else umask,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def tree_entries(
    top: Path, skip: str | None = None, volatile: Collection[str] = ()
) -> dict[str, object]:
    """Every link, folder and file (with content and mode) below `top`, but the top-level
    folder `skip` and the relative paths in `volatile`."""
    entries: dict[str, object] = {}
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not (folder == str(top) and d == skip))
        for name in [*dirs, *files]:
            p = Path(folder, name)
            rel = p.relative_to(top).as_posix()
            if rel in volatile:
                continue
            if p.is_symlink():
                entries[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                entries[rel] = ("dir", p.stat().st_mode)
            else:
                entries[rel] = ("file", p.read_bytes(), p.stat().st_mode)
    return entries


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A fresh Git repository with mdflow initialized and one commit."""
    yield new_repo(tmp_path / "repo")


@pytest.fixture
def remote(tmp_path: Path) -> FolderStore:
    """A plain-folder remote (tests of transfer logic; the MLflow paths use real servers)."""
    return FolderStore(tmp_path / "remote", "origin")


@pytest.fixture
def a(tmp_path: Path) -> Clone:
    return new_clone(tmp_path, "a")


@pytest.fixture
def b(tmp_path: Path) -> Clone:
    return new_clone(tmp_path, "b")


def pointer_hash(repo: Path, rel: str) -> str:
    """The `hash:` of the pointer of the data path `rel`."""
    for line in (repo / f"{rel}.mdflow").read_text().splitlines():
        if line.startswith("hash: "):
            return line.removeprefix("hash: ")
    raise AssertionError(f"no hash in {rel}.mdflow")


def obj(repo: Path, oid: str) -> Path:
    """The cache file of object `oid`."""
    h = oid.removeprefix("xxh3-128:")
    return repo / ".mdflow/cache" / h[:2] / h[2:]


def write_csv(path: Path, rows: int, extra_column: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "id,name,score" + (",note" if extra_column else "")
    lines = [header]
    for i in range(rows):
        line = f'{i},"name {i}, with comma",{i * 0.5}'
        lines.append(line + (f",n{i}" if extra_column else ""))
    path.write_text("\n".join(lines) + "\n")


def make_tree(top: Path) -> dict[str, bytes]:
    """A folder with nested, empty, binary, unicode, space-containing and executable files."""
    files = {
        "a.txt": b"hello\n",
        "nested/deeper/b.bin": bytes(range(256)) * 40,
        "nested/empty.dat": b"",
        "unicod\u00e9 \u6570\u636e/file with spaces.txt": "d\u00e9j\u00e0 vu\n".encode(),
        "tools/run.sh": b"#!/bin/sh\necho hi\n",
        "dup1.txt": b"same content\n",
        "dup2.txt": b"same content\n",
    }
    for rel, data in files.items():
        p = top / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (top / "tools/run.sh").chmod(0o755)
    return files


def read_tree(top: Path) -> dict[str, bytes]:
    return {
        p.relative_to(top).as_posix(): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real `mlflow server` (sqlite backend, local artifacts) for the test session."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    server = Server(folder, str(folder / "artifacts"), {}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `mlflow server` whose artifacts live in S3 served by moto_server."""
    folder = tmp_path_factory.mktemp("mlflow-s3")
    moto, endpoint = start_moto(folder)
    create_bucket(endpoint, "mdflow-test")
    env = {
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server = Server(folder, "s3://mdflow-test/artifacts", env).start()
    yield server
    server.stop()
    moto.terminate()
    moto.wait(10)


def clone(origin: Path, dest: Path) -> Path:
    """A second working copy, as a teammate gets it: git clone, same committed config."""
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True)
    return dest


def new_repo(root: Path) -> Path:
    """A Git repository with mdflow initialized and one commit (like the `repo` fixture)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    assert mdflow(root, "init").code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def two_versions(repo: Path) -> tuple[bytes, bytes]:
    """data/t.csv with 3 rows (tag v1) then 5 rows (HEAD), and a folder data/images."""
    write_csv(repo / "data/t.csv", 3)
    make_tree(repo / "data/images")
    assert mdflow(repo, "add", "data/t.csv", "data/images").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    v1 = (repo / "data/t.csv").read_bytes()
    write_csv(repo / "data/t.csv", 5)
    assert mdflow(repo, "add", "data/t.csv").code == 0
    git(repo, "commit", "-qam", "v2")
    return v1, (repo / "data/t.csv").read_bytes()


def use_server(repo: Path, url: str, experiment: str) -> None:
    """Commit `url` as the default remote, with an experiment of this test's own (tests share
    one server per session)."""
    assert mdflow(repo, "remote", "add", "origin", url, "--default").code == 0
    cfg = repo / "mdflow.yaml"
    cfg.write_text(cfg.read_text().replace("experiment: mdflow/repo", f"experiment: {experiment}"))
    git(repo, "commit", "-qm", "remote", "--", "mdflow.yaml")


def shared_project(repo: Path, url: str) -> tuple[bytes, bytes]:
    """A repository whose default remote is `url` (its own experiment), both versions pushed."""
    use_server(repo, url, f"mdflow/api-{repo.parent.name}")
    versions = two_versions(repo)
    git(repo, "checkout", "-q", "v1")
    assert mdflow(repo, "push").code == 0
    git(repo, "checkout", "-qf", "main")  # drops v1's run links: they stay on the server
    assert mdflow(repo, "push").code == 0
    git(repo, "commit", "-qam", "link the versions to their runs")
    git(repo, "config", "uploadpack.allowFilter", "true")  # serve partial clones
    return versions


def configure(repo: Path, sections: str) -> None:
    """Set top-level sections of mdflow.yaml from YAML text, replacing those of the same name
    (a key given twice is an error) and keeping the rest of the file as it is."""
    from mdflow import config

    config.write_committed(repo, {**config.read_committed(repo), **yaml.safe_load(sections)})
