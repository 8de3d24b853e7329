"""Memory and time of reading and writing a folder's manifest, this mdflow against another.

    python benchmarks/bench_manifest.py                        # 100,000 entries
    python benchmarks/bench_manifest.py --baseline /path/to/main --files 10000

Writes the manifest of `--files` files named as bench.py's small files (`a00/b01/f000123.bin`,
random hashes and sizes), then, in a fresh process per tree and taking turns: the peak and
held memory of `Manifest.from_bytes` (tracemalloc: Python objects only), the growth of the
process's resident high-water mark, and the median time of `from_bytes` and `to_bytes`.
`--baseline` names another mdflow source tree (a checkout of main, say): its `mdflow`
package is imported instead of this one's.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# Run in a fresh process: import mdflow from argv[1], measure on the manifest in argv[2].
PROBE = r"""
import gc, sys, time, tracemalloc
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, sys.argv[1])
from mdflow.manifest import Manifest

def high_water():
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    return int(status.split()[0]) / 1024

data = open(sys.argv[2], "rb").read()
Manifest.from_bytes(data[:300].rpartition(b"},")[0] + b"}]}", "warm")  # builds validators
gc.collect()
before = high_water()
tracemalloc.start()
m = Manifest.from_bytes(data, "m")
held, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
grown = high_water() - before
del m
read, write = [], []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    m = Manifest.from_bytes(data, "m")
    t2 = time.perf_counter()
    out = m.to_bytes()
    read.append(t2 - t)
    write.append(time.perf_counter() - t2)
    assert out == data
    del m
ms = lambda v: sorted(v)[len(v) // 2] * 1000
print(f"{peak / 2**20:.1f} | {held / 2**20:.1f} | {grown:.0f} | {ms(read):.0f} | {ms(write):.0f}")
"""


def manifest(count: int) -> bytes:
    sys.path.insert(0, str(HERE))
    from mdflow.manifest import join_lines, line

    rng = random.Random(count)
    return join_lines(
        line(
            f"a{i // 10000:02d}/b{(i // 100) % 100:02d}/f{i:06d}.bin",
            f"xxh3-128:{rng.getrandbits(128):032x}",
            rng.randint(1024, 4096),
            False,
        )
        for i in range(count)
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--files", type=int, default=100_000, help="entries of the manifest")
    p.add_argument("--baseline", type=Path, help="another mdflow source tree to compare")
    p.add_argument("--rounds", type=int, default=3, help="processes per tree, taking turns")
    p.add_argument("--repeat", type=int, default=7, help="timed reads and writes per process")
    args = p.parse_args()
    trees = [HERE] + ([args.baseline.resolve()] if args.baseline else [])
    print("| mdflow | traced peak MiB | held MiB | RSS high-water +MiB | read ms | write ms |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.json"
        path.write_bytes(manifest(args.files))
        for _ in range(args.rounds):
            for tree in trees:
                probe = [sys.executable, "-c", PROBE, str(tree), str(path), str(args.repeat)]
                out = subprocess.run(probe, check=True, capture_output=True, text=True).stdout
                print(f"| {tree} | {out.strip()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
