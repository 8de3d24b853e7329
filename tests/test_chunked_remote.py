"""Chunked objects on a real MLflow server: each small edit of a large CSV travels as the
chunks it changed (push and pull between two clones, byte counts from `--json`); two clones
pushing overlapping chunks at once leave a consistent remote; a corrupt chunk is refused and
named; a push killed between its chunk packs and its recipe resumes; a remote written before
chunks (large objects loose) still pulls."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Result, clone, git, mdflow, use_server
from servers import Server
from test_remote import store_folder

from mdflow.chunking import CHUNKED_MIN, CHUNKER

ROWS = 160_000  # about 4.8 MB of CSV: above CHUNKED_MIN


def lines(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{i},{rng.random():.6f},{rng.randint(0, 10**6)},n{rng.randint(0, 999)}\n" for i in range(n)
    ]


def inserted(base: list[str]) -> list[str]:
    middle = len(base) // 2
    return base[:middle] + [f"new{i},0.5,7,inserted\n" for i in range(10)] + base[middle:]


def write(path: Path, rows: list[str]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(rows).encode()
    path.write_bytes(data)
    return data


def report(r: Result) -> dict[str, object]:
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert isinstance(data, dict)
    return data


BOUND = 4 * CHUNKER.max + 64 * 1024  # chunks around a small edit, its recipe, pack indexes


def test_an_edit_travels_as_its_chunks_between_two_clones(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(repo, mlflow_server.url, f"mdflow/{repo.parent.name}")
    base = lines(ROWS)
    first = write(repo / "data/big.csv", base)
    assert len(first) >= CHUNKED_MIN
    assert mdflow(repo, "add", "data/big.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    pushed = report(mdflow(repo, "push", "--json"))
    assert pushed["objects"] == 1 and pushed["bytes"] == len(first)
    assert len(first) <= int(str(pushed["sent"])) <= len(first) + 64 * 1024
    store = store_folder(mlflow_server, repo)
    assert list(store.rglob("inventory/*.v2")) and not list(store.rglob("objects/*/*"))
    git(repo, "commit", "-qam", "link the version to its run")

    mate = clone(repo, tmp_path / "mate")
    pulled = report(mdflow(mate, "pull", "--json"))
    assert pulled["objects"] == 1 and pulled["bytes"] == len(first)
    assert (mate / "data/big.csv").read_bytes() == first

    second = write(repo / "data/big.csv", inserted(base))
    assert mdflow(repo, "add", "data/big.csv").code == 0
    git(repo, "commit", "-qam", "v2: ten rows inserted")
    pushed = report(mdflow(repo, "push", "--json"))
    assert pushed["objects"] == 1 and pushed["bytes"] == len(second)
    assert int(str(pushed["sent"])) <= BOUND
    git(repo, "commit", "-qam", "link v2")

    git(mate, "pull", "-q")
    pulled = report(mdflow(mate, "pull", "--json"))
    assert pulled["objects"] == 1 and pulled["bytes"] == len(second)
    assert int(str(pulled["received"])) <= BOUND
    assert (mate / "data/big.csv").read_bytes() == second
    assert mdflow(mate, "fsck").code == 0

    # 1% of rows appended, then one cell changed: each sends what it adds, and little more
    appended = inserted(base) + lines(ROWS // 100, seed=2)
    cell = list(appended)
    cell[ROWS // 3] = cell[ROWS // 3].replace(",n", ",changed", 1)
    for rows, new_bytes in ((appended, len(second) // 100), (cell, 0)):
        data = write(repo / "data/big.csv", rows)
        assert mdflow(repo, "add", "data/big.csv").code == 0
        git(repo, "commit", "-qam", "another version")
        pushed = report(mdflow(repo, "push", "--json"))
        assert new_bytes <= int(str(pushed["sent"])) <= new_bytes + BOUND
        git(repo, "commit", "-qam", "link it")
        git(mate, "pull", "-q")
        pulled = report(mdflow(mate, "pull", "--json"))
        assert pulled["objects"] == 1 and int(str(pulled["received"])) <= new_bytes + BOUND
        assert (mate / "data/big.csv").read_bytes() == data

    text = mdflow(repo, "push")  # the human line names both sizes
    assert text.code == 0 and text.out.startswith("pushed 0 objects (0 B, 0 B sent)")


# `mdflow` in a child process, its store's uploads watched: a real SIGKILL when the first
# pack of recipes leaves (chunk packs start with the CSV, recipe packs with `{"mdflow"`), once
# the inventory listing the chunk packs is on the server (the push publishes one after every
# upload: CHECKPOINT 0; its one upload thread may start the next upload before that, -j 1)
DYING = """
import os, signal, sys, time
from pathlib import Path
from mdflow import transfer
from mdflow.remote.mlflow.store import MlflowStore
put = MlflowStore.put
def dying(self, local, dest):
    if dest.endswith(".pack") and Path(local).read_bytes()[:9] == b'{"mdflow"':
        for _ in range(600):
            if any(n.endswith(".json") for n in self.list("inventory")):
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
    put(self, local, dest)
MlflowStore.put = dying
transfer.CHECKPOINT = 0.0
from mdflow.cli import main
sys.exit(main(sys.argv[1:]))
"""

# `mdflow` in a child process that cannot cut chunks: it pushes large objects loose, as every
# mdflow before chunked objects did
LOOSE = """
import sys
import mdflow.chunking
mdflow.chunking.available = lambda: False
from mdflow.cli import main
sys.exit(main(sys.argv[1:]))
"""


def child(repo: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=repo, capture_output=True, text=True
    )


def one_version(repo: Path, server: Server) -> bytes:
    use_server(repo, server.url, f"mdflow/{repo.parent.name}")
    data = write(repo / "data/big.csv", lines(ROWS))
    assert mdflow(repo, "add", "data/big.csv").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    return data


def test_a_push_killed_between_chunk_packs_and_recipe_resumes(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    data = one_version(repo, mlflow_server)
    killed = child(repo, DYING, "push", "-j", "1")
    assert killed.returncode == -signal.SIGKILL
    store = store_folder(mlflow_server, repo)
    assert list(store.rglob("packs/*.pack"))  # the chunk packs reached the server...
    assert not list(store.rglob("inventory/*.v2"))  # ...but no recipe is named yet
    resumed = report(mdflow(repo, "push", "--json"))
    assert resumed["objects"] == 1 and resumed["failed"] == {}
    assert int(str(resumed["sent"])) <= 64 * 1024  # recipe, pages, indexes: no chunk again
    git(repo, "commit", "-qam", "link v1")
    mate = clone(repo, tmp_path / "mate")
    assert report(mdflow(mate, "pull", "--json"))["objects"] == 1
    assert (mate / "data/big.csv").read_bytes() == data


def test_a_corrupt_chunk_on_the_server_is_refused_and_named(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    one_version(repo, mlflow_server)
    assert report(mdflow(repo, "push", "--json"))["objects"] == 1
    git(repo, "commit", "-qam", "link v1")
    pack = max(
        store_folder(mlflow_server, repo).rglob("packs/*.pack"), key=lambda p: p.stat().st_size
    )
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    mate = clone(repo, tmp_path / "mate")
    pulled = mdflow(mate, "pull", "--json")
    assert pulled.code == 1
    (why,) = json.loads(pulled.out)["failed"].values()
    assert "corrupt on remote origin (chunk xxh3-128:" in why and f"packs/{pack.stem})" in why
    assert not (mate / "data/big.csv").exists()


@pytest.mark.parametrize("pull_cut", [True, False], ids=["chunker", "no chunker"])
def test_a_remote_written_before_chunks_still_pulls(
    repo: Path, tmp_path: Path, mlflow_server: Server, pull_cut: bool
) -> None:
    data = one_version(repo, mlflow_server)
    pushed = child(repo, LOOSE, "push", "--json")
    assert pushed.returncode == 0, pushed.stderr
    store = store_folder(mlflow_server, repo)
    assert list(store.rglob("objects/*/*")) and not list(store.rglob("inventory/*.v2"))
    git(repo, "commit", "-qam", "link v1")
    mate = clone(repo, tmp_path / "mate")
    pulled = report(mdflow(mate, "pull", "--json")) if pull_cut else None
    if pulled is None:
        done = child(mate, LOOSE, "pull", "--json")
        assert done.returncode == 0, done.stderr
        pulled = json.loads(done.stdout)
    assert pulled["objects"] == 1 and pulled["failed"] == {}
    assert (mate / "data/big.csv").read_bytes() == data
    again = report(mdflow(mate, "push", "--json"))  # on the remote already: not sent as chunks
    assert again["objects"] == 0 and again["sent"] == 0


def test_two_clones_pushing_overlapping_chunks_at_once_end_consistent(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    use_server(repo, mlflow_server.url, f"mdflow/{repo.parent.name}")
    one, two = clone(repo, tmp_path / "one"), clone(repo, tmp_path / "two")
    base = lines(ROWS)
    data = {
        one: write(one / "data/a.csv", base),
        two: write(two / "data/b.csv", inserted(base)),  # shares most chunks with a.csv
    }
    for r, name in ((one, "a"), (two, "b")):
        assert mdflow(r, "add", f"data/{name}.csv").code == 0
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mdflow", "push", "--json"],
            cwd=r,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (one, two)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert json.loads(out)["objects"] == 1

    # each clone pulls the other's file by its pointer, verified against its hash
    for src, dest, name in ((one, two, "a"), (two, one, "b")):
        pointer = f"data/{name}.csv.mdflow"
        (dest / pointer).write_text((src / pointer).read_text())
        pulled = report(mdflow(dest, "pull", "--json", f"data/{name}.csv"))
        assert pulled["failed"] == {} and pulled["objects"] == 1
        assert (dest / f"data/{name}.csv").read_bytes() == data[src]
    for r in (one, two):
        again = report(mdflow(r, "push", "--json"))
        assert again["objects"] == 0 and again["sent"] == 0 and again["failed"] == {}
        assert mdflow(r, "fsck").code == 0


def test_the_server_reads_a_range_of_a_pack(repo: Path, mlflow_server: Server) -> None:
    """Pulls read only the chunks they need out of a pack: MLflow's artifact proxy answers
    HTTP range requests (206), which `read_range` relies on."""
    from mdflow.remote import open_remote
    from mdflow.repo import Repo

    use_server(repo, mlflow_server.url, f"mdflow/{repo.parent.name}")
    write(repo / "data/big.csv", lines(ROWS))
    assert mdflow(repo, "add", "data/big.csv").code == 0
    assert mdflow(repo, "push").code == 0
    (pack,) = [
        p
        for p in store_folder(mlflow_server, repo).rglob("packs/*.pack")
        if p.stat().st_size > 1 << 20
    ]
    r = Repo(repo)
    remote = open_remote(r.config.remote, r.root, r.dot)
    try:
        got = remote.store.read_range(f"packs/{pack.name}", 123_456, 70_000)
    finally:
        remote.close()
    assert got == pack.read_bytes()[123_456 : 123_456 + 70_000]


def test_a_pointer_and_a_recipe_giving_two_sizes_fail_the_pull_before_the_chunks(
    repo: Path, tmp_path: Path, mlflow_server: Server
) -> None:
    data = one_version(repo, mlflow_server)
    assert mdflow(repo, "push").code == 0
    mate = clone(repo, tmp_path / "mate")
    pointer = mate / "data/big.csv.mdflow"
    text = pointer.read_text()
    assert f"size: {len(data)}\n" in text
    pointer.write_text(text.replace(f"size: {len(data)}\n", f"size: {len(data) * 1000}\n"))
    r = mdflow(mate, "pull", "--json")
    assert r.code != 0
    assert f"gives {len(data)} bytes where the pointer or manifest gives {len(data) * 1000}" in (
        r.out + r.err
    )
    assert json.loads(r.out)["received"] < 64 * 1024  # inventories and the recipe: no chunk
    assert not (mate / "data/big.csv").exists()
    assert not list((mate / ".mdflow/cache/tmp").glob("*"))
