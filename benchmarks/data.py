"""The benchmark's data: generated once into the work folder, reused by later runs.

Every generator is deterministic (seeded), so the same scale gives the same bytes on every
machine, and writes a `.done` marker last: an interrupted generation starts over.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True)
class Scenario:
    name: str  # short id, used in file names and the CSV: small-10000, large-1024, csv-200
    title: str  # what the table shows
    kind: str  # "files" (a folder of small files), "large" (random bytes), "csv"
    amount: int  # files for "files", MiB for "large" and "csv"

    @property
    def target(self) -> str:
        """The path inside each tool's repository."""
        return {"files": "data/small", "large": "data/large.bin", "csv": "data/table.csv"}[
            self.kind
        ]

    @property
    def is_dir(self) -> bool:
        return self.kind == "files"


def scenario(spec: str) -> Scenario:
    """`files:10000`, `large:1024` (MiB) or `csv:200` (MiB)."""
    kind, _, amount = spec.partition(":")
    n = int(amount)
    if kind == "files":
        return Scenario(f"files-{n}", f"{n:,} files of 1-4 KiB in nested folders", kind, n)
    if kind == "large":
        size = f"{n // 1024} GiB" if n % 1024 == 0 else f"{n} MiB"
        return Scenario(f"large-{n}", f"one {size} file of random bytes", kind, n)
    if kind == "csv":
        return Scenario(f"csv-{n}", f"one {n} MiB CSV table", kind, n)
    raise ValueError(f"unknown scenario {spec!r}: use files:N, large:MIB or csv:MIB")


def source(sc: Scenario, data: Path) -> Path:
    """The generated data of a scenario (created on first use)."""
    path = data / sc.name
    done = data / f"{sc.name}.done"
    if done.exists():
        return path
    remove(path)
    data.mkdir(parents=True, exist_ok=True)
    {"files": small_files, "large": large_file, "csv": csv_file}[sc.kind](path, sc.amount)
    done.touch()
    return path


def remove(path: Path) -> None:
    """Delete a file or a tree, read-only cache folders included (`rm -rf`: at 100,000 files
    per repository, Python's rmtree takes minutes)."""
    if path.is_dir() and not path.is_symlink():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)
        subprocess.run(["rm", "-rf", str(path)], check=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def small_files(top: Path, count: int) -> None:
    """`count` files of 1-4 KiB of random bytes, 100 per folder, 2 levels of folders."""
    rng = random.Random(count)
    for i in range(count):
        folder = top / f"a{i // 10000:02d}" / f"b{(i // 100) % 100:02d}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:06d}.bin").write_bytes(rng.randbytes(rng.randint(1024, 4096)))


def large_file(path: Path, mib: int) -> None:
    rng = random.Random(mib)
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(rng.randbytes(MIB))


def csv_file(path: Path, mib: int) -> None:
    """A table of ~`mib` MiB: an id, two floats, an int, a category and a short text."""
    rng = random.Random(mib)
    cats = ["red", "green", "blue", "amber", "violet"]
    with path.open("w", encoding="ascii") as f:
        f.write("id,x,y,count,category,label\n")
        i, written = 0, 0
        while written < mib * MIB:
            rows = [
                f"{i + k},{rng.random():.6f},{rng.gauss(0, 1):.6f},{rng.randint(0, 9999)},"
                f"{rng.choice(cats)},item{rng.randint(0, 99999):05d}\n"
                for k in range(10000)
            ]
            block = "".join(rows)
            f.write(block)
            written += len(block)
            i += 10000


def change_one_percent(sc: Scenario, target: Path) -> int:
    """Change 1% of the data in place, the same way in every tool's copy; return the files
    changed. Folders: every 100th file gets new random bytes of the same size. Files: 1% of
    the bytes, in the middle, with every digit of a CSV shifted (the table keeps its shape)."""
    if sc.is_dir:
        files = sorted(str(p) for p in target.rglob("*") if p.is_file())
        for i, name in enumerate(files[::100]):
            size = os.path.getsize(name)
            Path(name).write_bytes(random.Random(i).randbytes(size))
        return len(files[::100])
    size = target.stat().st_size
    span = max(1, size // 100)
    with target.open("r+b") as f:
        f.seek(size // 2)
        block = f.read(span)
        f.seek(size // 2)
        f.write(_shifted(block) if sc.kind == "csv" else block.translate(_INVERT))
    return 1


_INVERT = bytes(range(255, -1, -1))  # b -> 255 - b, a change of every byte


def _shifted(block: bytes) -> bytes:
    digits = b"0123456789"
    return block.translate(bytes.maketrans(digits, digits[1:] + digits[:1]))
