"""The daily loop after a change, this mdflow against another (`--baseline`): on N small
files, every 100th rewritten, the wall and CPU time of `mdflow status`, `mdflow add
data/small`, then `git checkout -q v1 && mdflow checkout` (those files differ again).

Both mdflows work in repositories of their own made the same way, and take turns at every
step of every round, so the machine's other load falls on both alike; the first round warms
the caches (and compiles each checkout's bytecode) and is left out. CPU time (user + system,
of the command and its children) is steadier than wall time on a loaded machine.

    .venv/bin/python benchmarks/loop.py --baseline /path/to/main/.venv --rounds 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from shlex import quote

from data import Scenario, remove, scenario, source
from measure import Sample, timed, untimed
from tools import BIN, HERE, environment

COMMIT = "git add -A && git commit -q --no-verify -m"
STEPS = ("status", "add", "checkout")


def make_repo(folder: Path, sc: Scenario, data: Path, exe: Path, env: dict[str, str]) -> None:
    """A repository holding the generated files as data/small, added, committed, tagged v1."""
    remove(folder)
    folder.mkdir(parents=True)
    untimed(
        [
            "git init -q . && echo notes > notes.txt",
            f"{quote(str(exe))} init >/dev/null && {COMMIT} init",
            f"mkdir data && cp -r {quote(str(data))} data/small",
            f"{quote(str(exe))} add data/small >/dev/null && {COMMIT} v1 && git tag v1",
        ],
        folder,
        env,
    )


def rewrite_one_percent(top: Path) -> None:
    """Every 100th file gets new random bytes of its size (new each round: data.py's change
    is the same every time, and a round must find something to add)."""
    files = sorted(p for p in top.rglob("*") if p.is_file())
    for path in files[::100]:
        path.write_bytes(os.urandom(path.stat().st_size))


def one_round(
    lanes: dict[str, tuple[Path, Path]], env: dict[str, str]
) -> dict[tuple[str, str], Sample]:
    """Each lane (its mdflow, its repository) in turn at every step."""
    out = {}
    for name, (exe, repo) in lanes.items():
        md = quote(str(exe))
        rewrite_one_percent(repo / "data" / "small")
        out[name, "status"] = timed(f"{md} status", repo, env)
        out[name, "add"] = timed(f"{md} add data/small", repo, env)
        untimed([f"{COMMIT} change"], repo, env)
        out[name, "checkout"] = timed(f"git checkout -q v1 && {md} checkout", repo, env)
        untimed([f"git checkout -q - && {md} checkout -f >/dev/null"], repo, env)
    return out


def table(rounds: list[dict[tuple[str, str], Sample]], names: list[str]) -> str:
    lines = ["| step | mdflow | wall s (mean, min) | CPU s (mean, min) |", "|---|---|---|---|"]
    for step in STEPS:
        for name in names:
            samples = [r[name, step] for r in rounds]
            wall, cpu = [s.seconds for s in samples], [s.cpu_seconds for s in samples]
            lines.append(
                f"| {step} | {name} | {statistics.mean(wall):.3f}, {min(wall):.3f} "
                f"| {statistics.mean(cpu):.3f}, {min(cpu):.3f} |"
            )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, required=True, help="virtualenv of the other mdflow")
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=6, help="timed rounds (one more warms up)")
    p.add_argument("--work", type=Path, default=HERE / "work" / "loop")
    args = p.parse_args()
    env = environment(args.work)
    sc = scenario(f"files:{args.files}")
    data = source(sc, args.work / "data")
    lanes = {
        "this": (BIN / "mdflow", args.work / "this"),
        "baseline": (args.baseline / "bin" / "mdflow", args.work / "baseline"),
    }
    for exe, repo in lanes.values():
        make_repo(repo, sc, data, exe, env)
    rounds = [one_round(lanes, env) for _ in range(args.rounds + 1)][1:]
    failed = [s.error for r in rounds for s in r.values() if s.error]
    print(table(rounds, list(lanes)))
    for error in failed[:3]:
        print(error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
