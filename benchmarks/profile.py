"""Where a command's time goes: a py-spy profile, summed up as a table.

    pip install py-spy                       # once (any environment on PATH)
    python benchmarks/profile.py -- mdflow status
    python benchmarks/profile.py --top 30 --threads -- mdflow add data/small

Runs the command under `py-spy record` (sampling, so the machine's other load shifts the
absolute times but not much the shares), then prints the functions holding the largest
share of samples (inclusive), the functions on top of the stack (self), and the modules
whose import was running. Idle samples (threads waiting on a lock or the GIL) are included
with --idle: a large share there is a convoy.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--top", type=int, default=20, help="lines per table")
    p.add_argument("--rate", type=int, default=1000, help="samples per second")
    p.add_argument("--idle", action="store_true", help="count idle threads' samples too")
    p.add_argument("--threads", action="store_true", help="one stack per thread")
    p.add_argument("command", nargs="+", help="the command, after --")
    args = p.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        cmd = [spy, "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw)]
        cmd += ["--idle"] * args.idle + ["--threads"] * args.threads
        exe = shutil.which(args.command[0]) or args.command[0]
        subprocess.run([*cmd, "--", exe, *args.command[1:]], check=True)
        stacks = [line.rstrip().rpartition(" ") for line in raw.read_text().splitlines()]
    total = sum(int(n) for _, _, n in stacks) or 1
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    imports: collections.Counter[str] = collections.Counter()
    for stack, _, n in stacks:
        frames = stack.split(";")
        for f in set(frames):
            inclusive[f] += int(n)
        own[frames[-1]] += int(n)
        modules = [f for f in frames if f.startswith("<module>")]
        imports[modules[-1] if len(modules) > 1 else "(not importing)"] += int(n)
    for title, counts in (("inclusive", inclusive), ("self", own), ("importing", imports)):
        print(f"\n{title} ({total} samples)")
        for frame, n in counts.most_common(args.top):
            print(f"  {n / total:6.1%}  {frame[:120]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
