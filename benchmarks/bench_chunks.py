"""Chunked transfers: bytes sent and received when a large CSV is edited, in one run.

Starts a real `mlflow server` (sqlite, local artifacts) on 127.0.0.1. Repository A adds a CSV
of --size-mb and pushes it; a clone B pulls it. Then A edits the file four ways, one after the
other (1% of rows appended, 10 rows inserted in the middle, one cell changed, one column
dropped), adds, commits and pushes each version, and B pulls it holding the previous one.
Each step prints the file's size, the bytes sent or received (from `--json`), seconds and
the command's peak resident memory.

The first push and pull are also run with chunking off (as a clone without pyfastcdc does:
the object travels whole), in a second experiment of the same server, to compare times.
With --dvc, DVC (pinned, in the harness's own virtualenv: tools.find_dvc) pushes and pulls
the same versions to a folder remote, side by side. With --parquet ROWS, a table of ROWS rows
is written as Parquet by pyarrow, plainly and with content-defined chunking, 10 rows are
inserted in the middle and it is written again: the share of each file's bytes in chunks the
first version lacks is what a push of the second version sends (no server needed).

Other programs share this machine's CPU: timings are indicative, byte counts are exact.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from servers import Server  # noqa: E402

sys.path.insert(0, str(HERE))
import tools  # noqa: E402

# the CLI in a child process that reports its peak RSS (a forked child starts with its
# parent's resident pages counted: this script keeps itself small); MDFLOW_BENCH_WHOLE turns
# chunking off
RUNNER = """
import os, resource, sys
if os.environ.get("MDFLOW_BENCH_WHOLE"):
    import mdflow.chunking
    mdflow.chunking.available = lambda: False
from mdflow.cli import main
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"peak-rss-kib {peak}", file=sys.stderr)
sys.exit(code)
"""
EDITS = ("append 1%", "insert 10 rows", "one cell", "drop a column")


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[dict[str, object], float, int]:
    """Run `mdflow ARGS --json` in `cwd`: (its report, seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *args, "--json"],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mdflow {' '.join(args)} failed in {cwd}:\n{proc.stderr}")
    peak = int(proc.stderr.rsplit("peak-rss-kib ", 1)[1].split()[0]) // 1024
    return json.loads(proc.stdout), seconds, peak


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_csv(path: Path, size: int) -> None:
    """Rows of an id, a float, an integer and a name, up to `size` bytes."""
    rng = random.Random(7)
    written, i = 0, 0
    with path.open("w") as f:
        while written < size:
            block = "".join(
                f"{i + k},{rng.random():.6f},{rng.randint(0, 10**9)},name{rng.randint(0, 99999)}\n"
                for k in range(10_000)
            )
            f.write(block)
            written += len(block)
            i += 10_000


def edit(path: Path, how: str) -> None:
    """Apply one edit to the CSV at `path`, streaming (the file may not fit in memory)."""
    tmp = path.with_suffix(".tmp")
    size = path.stat().st_size
    with path.open("rb") as src, tmp.open("wb") as out:
        if how == "append 1%":
            shutil.copyfileobj(src, out, 1 << 20)
            rng, written, i = random.Random(8), 0, 10**9
            while written < size // 100:
                row = f"{i},{rng.random():.6f},{rng.randint(0, 10**9)},appended\n".encode()
                out.write(row)
                written, i = written + len(row), i + 1
        elif how in ("insert 10 rows", "one cell"):
            copy(src, out, size // 2)  # the parent stays small: children inherit its RSS
            out.write(src.readline())  # to the end of a row
            if how == "insert 10 rows":
                out.write(b"".join(f"new{k},0.5,7,inserted\n".encode() for k in range(10)))
            else:
                row = src.readline().split(b",")
                row[3] = b"changed\n"
                out.write(b",".join(row))
            shutil.copyfileobj(src, out, 1 << 20)
        else:  # drop the second column
            for line in src:
                first, _, rest = line.split(b",", 2)
                out.write(first + b"," + rest)
    os.replace(tmp, path)


def copy(src: BinaryIO, out: BinaryIO, n: int) -> None:
    """Copy `n` bytes, 1 MiB at a time."""
    while n > 0:
        block = src.read(min(n, 1 << 20))
        if not block:
            return
        out.write(block)
        n -= len(block)


def mib(n: object) -> str:
    return f"{int(str(n)) / (1 << 20):9.2f} MiB"


def pct(part: object, whole: object) -> str:
    return f"{100 * int(str(part)) / max(1, int(str(whole))):6.2f}%"


def setup(work: Path, server: Server, name: str) -> tuple[Path, Path]:
    """Repository A with the server as default remote (experiment `name`), and clone B."""
    a = work / f"{name}-a"
    a.mkdir()
    git(a, "init", "-q", "-b", "main")
    subprocess.run(
        [sys.executable, "-m", "mdflow", "init", "--no-visitors"],
        cwd=a,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "mdflow", "remote", "add", "origin", server.url, "--default"],
        cwd=a,
        check=True,
        capture_output=True,
    )
    cfg = a / "mdflow.yaml"
    cfg.write_text(
        cfg.read_text().replace(f"experiment: mdflow/{a.name}", f"experiment: mdflow/{name}")
    )
    git(a, "add", "-A")
    git(a, "commit", "-qm", "init")
    b = work / f"{name}-b"
    git(work, "clone", "-q", str(a), str(b))
    return a, b


def version(a: Path, b: Path, message: str, env: dict[str, str] | None = None) -> list[str]:
    """Add, commit and push in A, then pull in B: the two table rows."""
    subprocess.run(
        [sys.executable, "-m", "mdflow", "add", "data/big.csv"],
        cwd=a,
        check=True,
        capture_output=True,
    )
    git(a, "add", "-A")
    git(a, "commit", "-qm", message)
    pushed, ps, pm = run(a, "push", env=env)
    git(a, "commit", "-qam", "link runs", "--allow-empty")
    git(b, "pull", "-q")
    pulled, ls, lm = run(b, "pull", env=env)
    size = pushed["bytes"]
    sent, received = pushed["sent"], pulled["received"]
    return [
        f"{message:<16} push {mib(size)} {mib(sent)} sent     {pct(sent, size)} "
        f"{ps:7.2f} s {pm:5d} MiB",
        f"{'':<16} pull {mib(pulled['bytes'])} {mib(received)} received {pct(received, size)} "
        f"{ls:7.2f} s {lm:5d} MiB",
    ]


class Dvc:
    """DVC in its own virtualenv, with a folder remote: what it sends and receives is what
    its remote and the clone's cache grow by (DVC moves whole files)."""

    def __init__(self, work: Path, data: Path) -> None:
        self.exe = str(find_dvc())
        self.remote, self.a, self.b = work / "dvc-remote", work / "dvc-a", work / "dvc-b"
        self.a.mkdir()
        git(self.a, "init", "-q", "-b", "main")
        self.dvc(self.a, "init", "-q")
        self.dvc(self.a, "remote", "add", "-d", "store", str(self.remote))
        git(self.a, "add", "-A")
        git(self.a, "commit", "-qm", "init")
        git(work, "clone", "-q", str(self.a), str(self.b))
        self.data = data

    def dvc(self, cwd: Path, *args: str) -> float:
        start = time.perf_counter()
        subprocess.run([self.exe, *args], cwd=cwd, check=True, capture_output=True)
        return time.perf_counter() - start

    def version(self, message: str) -> list[str]:
        (self.a / "data").mkdir(exist_ok=True)
        shutil.copy(self.data, self.a / "data" / "big.csv")
        self.dvc(self.a, "add", "data/big.csv")
        git(self.a, "add", "-A")
        git(self.a, "commit", "-qm", message)
        before = tree_bytes(self.remote)
        ps = self.dvc(self.a, "push")
        sent = tree_bytes(self.remote) - before
        git(self.b, "pull", "-q")
        before = tree_bytes(self.b / ".dvc" / "cache")
        ls = self.dvc(self.b, "pull")
        received = tree_bytes(self.b / ".dvc" / "cache") - before
        size = self.data.stat().st_size
        return [
            f"{message:<16} push {mib(size)} {mib(sent)} sent     {pct(sent, size)} {ps:7.2f} s",
            f"{'':<16} pull {mib(size)} {mib(received)} received {pct(received, size)} {ls:7.2f} s",
        ]


def tree_bytes(top: Path) -> int:
    return sum(p.stat().st_size for p in top.rglob("*") if p.is_file()) if top.exists() else 0


def find_dvc() -> Path:
    """The harness's pinned DVC (tools.find_dvc: benchmarks/work/dvc-<version>-venv)."""
    found = tools.find_dvc(HERE / "work", install=True)
    if isinstance(found, str):
        sys.exit(found)
    return HERE / "work" / f"dvc-{tools.DVC_VERSION}-venv" / "bin" / "dvc"


def parquet(rows: int, work: Path) -> list[str]:
    """Bytes new to the second version of a Parquet file, written plainly or with pyarrow's
    content-defined chunking (one row group, as a dataset file usually is)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mdflow.chunking import cut

    rng = random.Random(5)
    cols = {
        "id": list(range(rows)),
        "x": [rng.random() for _ in range(rows)],
        "n": [rng.randint(0, 10**9) for _ in range(rows)],
        "name": [f"name{rng.randint(0, 999)}" for _ in range(rows)],
    }
    first = pa.table(cols)
    middle = rows // 2
    extra = pa.table({"id": range(-10, 0), "x": [0.5] * 10, "n": [7] * 10, "name": ["new"] * 10})
    second = pa.concat_tables([first.slice(0, middle), extra, first.slice(middle)])
    lines = []
    for label, options in (("plain", {}), ("cdc", {"use_content_defined_chunking": True})):
        paths = [work / f"{label}-{i}.parquet" for i in (1, 2)]
        for table, path in zip((first, second), paths, strict=True):
            pq.write_table(table, path, row_group_size=rows + 10, **options)  # type: ignore[arg-type]
        anyname = "xxh3-128:" + "0" * 32  # the recipes are not kept: any name does
        old = {c.hash for c in cut(paths[0], anyname).chunks}
        new = cut(paths[1], anyname).chunks
        fresh = sum(c.size for c in new if c.hash not in old)
        size = paths[1].stat().st_size
        lines.append(
            f"Parquet {rows:,} rows, {label:<5} {mib(size)}: 10 rows inserted leave "
            f"{mib(fresh)} new ({pct(fresh, size)})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="size of the CSV (default 256)")
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default: a temp one)"
    )
    parser.add_argument("--dvc", action="store_true", help="also DVC, with a folder remote")
    parser.add_argument("--parquet", type=int, default=0, metavar="ROWS", help="Parquet only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-chunks-", dir=args.work))
    if args.parquet:
        try:
            print("\n".join(parquet(args.parquet, work)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    (work / "server").mkdir()
    server = Server(work / "server", str(work / "server" / "artifacts"), {}).start()
    try:
        whole_a, whole_b = setup(work, server, "whole")
        chunked_a, chunked_b = setup(work, server, "chunked")
        data = chunked_a / "data" / "big.csv"
        data.parent.mkdir()
        make_csv(data, args.size_mb << 20)
        (whole_a / "data").mkdir()
        shutil.copy(data, whole_a / "data" / "big.csv")
        mb = data.stat().st_size / (1 << 20)
        print(f"CSV of {mb:.0f} MiB; server {server.url}; {os.cpu_count()} cores, shared")
        print("\nfirst push and pull, chunking off (the object whole):")
        for line in version(whole_a, whole_b, "first version", {"MDFLOW_BENCH_WHOLE": "1"}):
            print(line)
        dvc = Dvc(work, data) if args.dvc else None
        mine, theirs = "mdflow, chunked (MLflow server)", "DVC (folder remote)"
        rows: dict[str, list[str]] = {mine: [], theirs: []}
        for how in ("first version", *EDITS):
            if how != "first version":
                edit(data, how)
            rows[mine] += version(chunked_a, chunked_b, how)
            if dvc is not None:
                rows[theirs] += dvc.version(how)
        for title, lines in rows.items():
            if lines:
                print(f"\n{title}:")
                print("\n".join(lines), flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
