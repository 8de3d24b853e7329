"""Chunked objects on a real MLflow server: an edit of a large CSV travels as the chunks it
changed (push and pull between two clones, byte counts from `--json`), and two clones pushing
overlapping chunks at once leave a consistent remote."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

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

    text = mdflow(repo, "push")  # the human line names both sizes
    assert text.code == 0 and text.out.startswith("pushed 0 objects (0 B, 0 B sent)")


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
