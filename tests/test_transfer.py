"""Streaming reads of remote objects (mdflow.open on data that is not local), on the real
server: bytes arrive as they download, are verified at the end, and only then cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import clone, mdflow, obj, pointer_hash
from servers import Server
from test_remote import make_project, store_folder

import mdflow as package


@pytest.fixture
def teammate(repo: Path, tmp_path: Path, mlflow_server: Server) -> Path:
    """A clone with pointers and no data; the data is on the server."""
    make_project(repo, mlflow_server.url)
    assert mdflow(repo, "push").code == 0
    return clone(repo, tmp_path / "teammate")


def test_open_streams_then_caches_the_verified_object(
    repo: Path, teammate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(teammate)
    oid = pointer_hash(teammate, "data/big.bin")
    with package.open("data/big.bin") as f:
        head = f.read(1000)
        assert not obj(teammate, oid).exists()  # reading while downloading, nothing cached yet
        rest = f.read()
    assert head + rest == (repo / "data/big.bin").read_bytes()
    assert obj(teammate, oid).exists()  # verified at the end, then kept
    assert mdflow(teammate, "fsck").code == 0
    with package.open("data/images/a.txt") as f:  # a small file inside a folder: from a pack
        assert f.read() == (repo / "data/images/a.txt").read_bytes()


def test_a_corrupt_stream_raises_at_the_end_and_caches_nothing(
    repo: Path, teammate: Path, mlflow_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = next(p for p in store_folder(mlflow_server, repo).rglob("objects/*/*"))
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))
    monkeypatch.chdir(teammate)
    with package.open("data/big.bin") as f, pytest.raises(OSError, match="corrupt on remote"):
        f.read()
    assert not obj(teammate, pointer_hash(teammate, "data/big.bin")).exists()
    assert not list((teammate / ".mdflow/cache/tmp").iterdir())


def test_a_pull_reads_an_endless_object_no_further_than_its_pointer_says(
    repo: Path, teammate: Path, mlflow_server: Server
) -> None:
    stored = next(p for p in store_folder(mlflow_server, repo).rglob("objects/*/*"))
    size = stored.stat().st_size
    with stored.open("ab") as f:
        f.write(bytes(16 << 20))  # the server now serves 16 MiB more than the pointer's size
    r = mdflow(teammate, "pull", "--json", "data/big.bin")
    assert r.code != 0 and "corrupt on remote" in r.out + r.err
    assert json.loads(r.out)["received"] < size + 64 * 1024
    assert not obj(teammate, pointer_hash(teammate, "data/big.bin")).exists()
    assert not list((teammate / ".mdflow/cache/tmp").iterdir())


def test_a_reader_that_stops_early_leaves_nothing(
    teammate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(teammate)
    with package.open("data/big.bin") as f:
        f.read(10)
    assert not obj(teammate, pointer_hash(teammate, "data/big.bin")).exists()
    assert not list((teammate / ".mdflow/cache/tmp").iterdir())


def test_opening_a_packed_object_closes_the_remote(
    teammate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small object is pulled, not streamed: the remote must be closed at once (it leaked
    its HTTP session and its staging folder before)."""
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(teammate)
    with package.open("data/images/a.txt") as f:
        assert f.read() == b"hello\n"
    assert not list(scratch.glob("mdflow-upload-*"))
