"""Local benchmark: mdflow next to DVC and git-lfs, in one run, on the same data.

Scenarios (each tool in its own fresh Git repository under the work folder):
  1. one large file of random bytes: cold add, no-op add, no-op status;
  2. a folder of many small files (1-4 KiB, in subfolders): the same operations;
  (both with a plain `cp` of the same data, timed like a cold add, as reference)
  3. startup alone: `--version`, and `status` in a repository that tracks nothing.

Prints a table of seconds and of ratios (mdflow time / other tool time). Tools that cannot
be found or installed are shown as unavailable; their numbers are never guessed.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
Cmd = list[str]
# Bytecode caches are allowed, as on a normal machine: without them every mdflow start
# would recompile its modules, while pip precompiled DVC's.
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@mdflow.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@mdflow.invalid",
}
MIB = 1 << 20
COLD, COLD_SYNC, NOOP_ADD, NOOP_STATUS = "cold add", "cold add + sync", "no-op add", "no-op status"
STARTUP, VERSION, EMPTY_STATUS = "startup", "--version", "status, nothing tracked"
TOOL_NAMES = ("mdflow", "dvc", "git-lfs")
REFERENCE = "cp"


class Failed(Exception):
    """A benchmarked command exited with an error."""


def run(cmd: Cmd, cwd: Path) -> float:
    """Run a command, return its wall-clock seconds; raise Failed when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise Failed(f"`{' '.join(cmd)}` exited {proc.returncode}: {' | '.join(tail)}")
    return elapsed


def run_all(cmds: list[Cmd], cwd: Path) -> float:
    return sum(run(cmd, cwd) for cmd in cmds)


def median_time(cmds: list[Cmd], cwd: Path, repeat: int) -> float:
    return statistics.median(run_all(cmds, cwd) for _ in range(repeat))


def timed_sync() -> float:
    """Seconds to flush dirty pages to disk (what a command left unwritten)."""
    start = time.perf_counter()
    os.sync()
    return time.perf_counter() - start


def works(cmd: Cmd) -> bool:
    try:
        return subprocess.run(cmd, env=ENV, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def first_line(cmd: Cmd) -> str:
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if proc.returncode == 0 and lines else "?"


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    title: str
    source: Path  # generated once, copied into each tool's repository (not timed)
    target: str  # its name inside the repositories
    is_dir: bool


def make_big_file(path: Path, size_mb: int) -> None:
    if path.is_file() and path.stat().st_size == size_mb * MIB:
        return
    log(f"writing {size_mb} MiB of random bytes to {path}")
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        for _ in range(size_mb):
            f.write(os.urandom(MIB))
    tmp.replace(path)


def make_small_files(top: Path, count: int) -> None:
    """`count` files of 1-4 KiB of random bytes, about 100 per subfolder."""
    done = top.with_name(top.name + ".done")
    if done.exists():
        return
    log(f"writing {count} small files under {top}")
    remove_tree(top)
    sizes = random.Random(count)
    folders = max(1, count // 100)
    for i in range(count):
        path = top / f"d{i % folders:03d}" / f"f{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(sizes.randint(1024, 4096)))
    done.touch()


def make_data(data: Path, size_mb: int, files: int) -> list[Scenario]:
    data.mkdir(parents=True, exist_ok=True)
    big = data / f"random-{size_mb}MiB.bin"
    small = data / f"small-{files}"
    make_big_file(big, size_mb)
    make_small_files(small, files)
    size = f"{size_mb // 1024} GiB" if size_mb % 1024 == 0 else f"{size_mb} MiB"
    return [
        Scenario(f"one {size} file", big, "big.bin", is_dir=False),
        Scenario(f"{files:,} files of 1-4 KiB", small, "small", is_dir=True),
    ]


def remove_tree(path: Path) -> None:
    """Remove a file or a folder, including read-only folders some caches leave behind."""
    if not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for folder, _dirs, _files in os.walk(path):
        os.chmod(folder, 0o755)
    shutil.rmtree(path)


def copy_cmd(source: Path | str, dest: Path | str) -> Cmd:
    return ["cp", "-r", "--reflink=never", str(source), str(dest)]


# --- tools --------------------------------------------------------------------------------


@dataclass
class Tool:
    """How one tool is driven; subclasses change the commands that differ."""

    name: str
    exe: Cmd

    def version(self) -> Cmd:
        return [*self.exe, "--version"]

    def init(self) -> list[Cmd]:
        return [[*self.exe, "init"]]

    def add(self, sc: Scenario) -> list[Cmd]:
        return [[*self.exe, "add", sc.target]]

    def readd(self, sc: Scenario) -> list[Cmd]:
        return self.add(sc)

    def status(self) -> list[Cmd]:
        return [[*self.exe, "status"]]


class Dvc(Tool):
    def init(self) -> list[Cmd]:
        config = [*self.exe, "config"]
        return [
            [*self.exe, "init", "-q"],
            [*config, "core.analytics", "false"],
            [*config, "core.check_update", "false"],
        ]


class GitLfs(Tool):
    """git-lfs: `git lfs track` once, then `git add`; `git status` shows what changed."""

    def version(self) -> Cmd:
        return ["git", "lfs", "version"]

    def init(self) -> list[Cmd]:
        return [["git", "lfs", "install", "--local"]]

    def add(self, sc: Scenario) -> list[Cmd]:
        pattern = f"{sc.target}/**" if sc.is_dir else sc.target
        return [["git", "lfs", "track", pattern], ["git", "add", ".gitattributes", sc.target]]

    def readd(self, sc: Scenario) -> list[Cmd]:
        return [["git", "add", sc.target]]

    def status(self) -> list[Cmd]:
        return [["git", "status"]]


class Copy(Tool):
    """The reference: `cp` of the data beside itself, in the same conditions as a cold add."""

    def init(self) -> list[Cmd]:
        return []

    def add(self, sc: Scenario) -> list[Cmd]:
        return [copy_cmd(sc.target, f"{sc.target}-copy")]


def find_mdflow() -> Tool | str:
    beside = Path(sys.executable).with_name("mdflow")
    exe = str(beside) if beside.exists() else shutil.which("mdflow")
    if exe and works([exe, "--version"]):
        return Tool("mdflow", [exe])
    return "no working `mdflow` next to this Python or on PATH (run: make bench)"


def find_dvc(venv: Path, install: bool) -> Tool | str:
    exe = venv / "bin" / "dvc"
    if not exe.exists() and install:
        log(f"installing DVC into {venv} (once)")
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "dvc"],
        ]
        for step in steps:
            if subprocess.run(step, check=False).returncode != 0:
                return f"`{' '.join(step)}` failed"
    if works([str(exe), "--version"]):
        return Dvc("dvc", [str(exe)])
    return f"{exe} missing or broken (rerun without --no-install, or remove {venv})"


def find_git_lfs(install: bool) -> Tool | str:
    if not works(["git", "lfs", "version"]) and install and can_apt():
        log("git-lfs missing: trying apt-get install -y git-lfs")
        apt = ["apt-get", "-q", "-y", "install", "git-lfs"]
        if not works(apt):
            works(["apt-get", "-q", "update"])
            works(apt)
    if works(["git", "lfs", "version"]):
        return GitLfs("git-lfs", ["git", "lfs"])
    return "`git lfs` not found: install it (Debian/Ubuntu: sudo apt-get install git-lfs), rerun"


def can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def find_tools(work: Path, install: bool) -> dict[str, Tool | str]:
    return {
        "mdflow": find_mdflow(),
        "dvc": find_dvc(work / "dvc-venv", install),
        "git-lfs": find_git_lfs(install),
    }


# --- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Repeats:
    cold: int  # cold adds, each from a fresh repository (median shown)
    noop: int  # runs of each no-op command (median shown)

    @property
    def colds(self) -> range:
        return range(self.cold)


@dataclass
class Results:
    """Seconds by (section, operation) row, then by column (a tool or the reference)."""

    rows: dict[tuple[str, str], dict[str, float | str]] = field(default_factory=dict)

    def put(self, section: str, op: str, column: str, value: float | str) -> None:
        self.rows.setdefault((section, op), {})[column] = value


def new_repo(repo: Path, tool: Tool) -> None:
    remove_tree(repo)
    repo.mkdir(parents=True)
    run(["git", "-c", "init.defaultBranch=main", "init", "-q"], repo)
    run_all(tool.init(), repo)
    commit(repo)


def commit(repo: Path) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", "x"], repo)


def check_clean(repo: Path, tool: Tool) -> None:
    proc = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, check=False
    )
    if proc.stdout.strip():
        log(f"warning: {tool.name} no-op commands changed files in {repo}: {proc.stdout[:200]!r}")


def cold_run(setup: Callable[[], None], cmds: list[Cmd], cwd: Path) -> tuple[float, float]:
    """Prepare (not timed), flush earlier writes, run: seconds without and with a final sync."""
    setup()
    os.sync()
    seconds = run_all(cmds, cwd)
    return seconds, seconds + timed_sync()


def put_cold(res: Results, section: str, column: str, runs: list[tuple[float, float]]) -> None:
    res.put(section, COLD, column, statistics.median(r[0] for r in runs))
    res.put(section, COLD_SYNC, column, statistics.median(r[1] for r in runs))


def bench_cold(tool: Tool, sc: Scenario, repo: Path, reps: Repeats, res: Results) -> None:
    """Cold adds, each in a fresh repository holding a fresh copy of the data."""
    log(f"{tool.name}: {sc.title}")

    def setup() -> None:
        new_repo(repo, tool)
        run(copy_cmd(sc.source, repo / sc.target), repo)

    put_cold(res, sc.title, tool.name, [cold_run(setup, tool.add(sc), repo) for _ in reps.colds])


def bench_scenario(tool: Tool, sc: Scenario, repo: Path, reps: Repeats, res: Results) -> None:
    """Cold adds, then no-ops in the last repository once its state is committed."""
    bench_cold(tool, sc, repo, reps, res)
    commit(repo)
    res.put(sc.title, NOOP_ADD, tool.name, median_time(tool.readd(sc), repo, reps.noop))
    res.put(sc.title, NOOP_STATUS, tool.name, median_time(tool.status(), repo, reps.noop))
    check_clean(repo, tool)


def bench_startup(tool: Tool, repo: Path, reps: Repeats, res: Results) -> None:
    log(f"{tool.name}: startup")
    new_repo(repo, tool)
    res.put(STARTUP, VERSION, tool.name, median_time([tool.version()], repo, reps.noop))
    res.put(STARTUP, EMPTY_STATUS, tool.name, median_time(tool.status(), repo, reps.noop))


def guarded(
    tool: Tool, section: str, ops: tuple[str, ...], res: Results, job: Callable[[], None]
) -> None:
    """Run one tool's part; on failure log why and mark its missing cells as failed."""
    try:
        job()
    except Failed as e:
        log(f"{tool.name} failed in {section}: {e}")
        for op in ops:
            res.rows.setdefault((section, op), {}).setdefault(tool.name, "failed")


# --- report -------------------------------------------------------------------------------


def cell(value: float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


def ratio(mine: float | str | None, other: float | str | None) -> str:
    if isinstance(mine, float) and isinstance(other, float) and other > 0:
        return f"{mine / other:.2f}x"
    return "-"


def table(res: Results, tools: dict[str, Tool | str]) -> list[str]:
    others = [n for n in TOOL_NAMES if n != "mdflow"] + [REFERENCE]
    head = ["seconds (median)", *TOOL_NAMES, REFERENCE, *(f"mdflow/{o}" for o in others)]
    widths = [32] + [max(8, len(h)) for h in head[1:]]
    lines = [fmt_row(head, widths), fmt_row(["-" * w for w in widths], widths)]
    section = None
    for (sec, op), cols in res.rows.items():
        if sec != section:
            lines.append(sec)
            section = sec
        missing = {n: "n/a" for n, t in tools.items() if isinstance(t, str)}
        values = [cols.get(n, missing.get(n)) for n in (*TOOL_NAMES, REFERENCE)]
        ratios = [ratio(cols.get("mdflow"), cols.get(o)) for o in others]
        lines.append(fmt_row([f"  {op}", *map(cell, values), *ratios], widths))
    return lines


def fmt_row(cells: list[str], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])


def versions(tools: dict[str, Tool | str], work: Path) -> list[str]:
    lines = [
        f"{n}: {first_line(t.version()) if isinstance(t, Tool) else 'unavailable: ' + t}"
        for n, t in tools.items()
    ]
    fs = first_line(["stat", "-f", "-c", "%T", str(work)])
    source = first_line(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"])
    lines += [
        f"mdflow source: {source}",
        f"git: {first_line(['git', '--version'])}",
        f"cores: {os.cpu_count()}, filesystem: {fs}, load average: {os.getloadavg()[1]:.2f}"
        " (5 min, at the end: other work on the machine makes numbers noisy)",
    ]
    return lines


# --- main ---------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size-mb", type=int, default=1024, help="size of the large file (MiB)")
    p.add_argument("--files", type=int, default=10_000, help="number of small files")
    p.add_argument("--repeat", type=int, default=5, help="runs of each no-op (median shown)")
    p.add_argument("--cold-repeat", type=int, default=3, help="cold adds per tool (median shown)")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--no-install", action="store_true", help="do not install DVC or git-lfs")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    work = args.work.resolve()
    tools = find_tools(work, not args.no_install)
    available = [t for t in tools.values() if isinstance(t, Tool)]
    scenarios = make_data(work / "data", args.size_mb, args.files)
    repos = work / "repos"
    remove_tree(repos)
    res = Results()
    reps = Repeats(args.cold_repeat, args.repeat)
    for sc in scenarios:
        bench_cold(Copy(REFERENCE, ["cp"]), sc, repos / f"cp-{sc.target}", reps, res)
        for t in available:
            job = partial(bench_scenario, t, sc, repos / f"{t.name}-{sc.target}", reps, res)
            guarded(t, sc.title, (COLD, COLD_SYNC, NOOP_ADD, NOOP_STATUS), res, job)
    for t in available:
        job = partial(bench_startup, t, repos / f"{t.name}-empty", reps, res)
        guarded(t, STARTUP, (VERSION, EMPTY_STATUS), res, job)
    about = versions(tools, work)
    legend = (
        f"cold: median of {reps.cold} fresh repositories; no-op: median of {reps.noop} runs; "
        "warm page cache; mdflow/X < 1 means mdflow is faster"
    )
    print("\n".join([*about, "", *table(res, tools), "", legend]))
    if args.json:
        rows = [{"section": s, "operation": o, **c} for (s, o), c in res.rows.items()]
        args.json.write_text(json.dumps({"about": about, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
