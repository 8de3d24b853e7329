"""mdflow next to DVC, git-lfs and the copy floors: one run, same data, tools interleaved.

    python benchmarks/bench.py                  # quick scale (`make bench`), a few minutes
    python benchmarks/bench.py --scale full     # 10k and 100k files, 1 GiB, 200 MiB CSV
    python benchmarks/bench.py --scale full --resume   # go on after an interruption

Each scenario is measured `--repeat` times. In a repeat every tool gets a fresh repository
with its own copy of the data and the same sequence of steps; each step runs for all tools
before the next step starts, in an order rotated every repeat. Rows are appended to the CSV
as they are measured; the markdown table is rewritten after every repeat. See README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

import report
import s3 as s3_remote
from data import Scenario, change_one_percent, remove, scenario, source
from measure import Sample, in_process, mlflow_server, timed, untimed
from report import BASE, DONE, FLOORS, Row
from tools import Remote, Tool, environment, find_dvc, find_git_lfs, find_mdflow, version_of

HERE = Path(__file__).resolve().parent
SCALES = {
    "quick": ["files:1000", "large:64", "csv:16"],
    "full": ["files:10000", "files:100000", "large:1024", "csv:200"],
}
SKIPPED = "skipped: an earlier step of this repeat failed"
COMMIT = "git add -A && git commit -q --no-verify -m"


@dataclass
class Lane:
    """One tool's repository in one repeat."""

    tool: Tool
    repo: Path
    remote: Remote
    error: str = ""  # set when a command failed: the tool's later steps in this repeat skip


@dataclass
class Run:
    sc: Scenario
    repeat: int
    src: Path
    folder: Path
    env: dict[str, str]
    csv: Path
    rows: list[Row]


Step = tuple[str, str, Callable[[Run, Lane], str | None], Callable[[Run, Lane], None] | None]


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- the steps: (operation, state, the timed command, untimed work after it) ----------------


def _commit(tag: str) -> Callable[[Run, Lane], None]:
    def after(run: Run, lane: Lane) -> None:
        untimed([f"{COMMIT} {tag} && git tag -f {tag}"], lane.repo, run.env)

    return after


def _change(run: Run, lane: Lane) -> None:
    change_one_percent(run.sc, lane.repo / run.sc.target)


def _stage_other(run: Run, lane: Lane) -> str | None:
    untimed(["echo change >> notes.txt && git add notes.txt"], lane.repo, run.env)
    return lane.tool.hooks()


def _switch(run: Run, lane: Lane) -> str:
    return lane.tool.switch(run.sc, "v1")


def _back(run: Run, lane: Lane) -> None:
    untimed([lane.tool.switch(run.sc, "main")], lane.repo, run.env)


def _empty(run: Run, lane: Lane) -> str:
    remove(lane.repo / run.sc.target)
    return lane.tool.checkout(run.sc)


def _push_first(s3: bool) -> Callable[[Run, Lane], str]:
    """Add the remote (the S3 one with `s3`), commit it, push."""

    def command(run: Run, lane: Lane) -> str:
        setup = [*lane.tool.set_remote(lane.remote, s3), f"{COMMIT} remote || true"]
        untimed(setup, lane.repo, run.env)
        return lane.tool.push(run.sc, s3)

    return command


def _clone(s3: bool) -> Callable[[Run, Lane], str]:
    def command(run: Run, lane: Lane) -> str:
        dest = clone_of(lane, s3)
        untimed([lane.tool.clone(lane.remote, lane.repo, dest)], run.folder, run.env)
        return f"cd {quote(str(dest))} && {lane.tool.pull(run.sc, s3)}"

    return command


def _verify(s3: bool) -> Callable[[Run, Lane], None]:
    def after(run: Run, lane: Lane) -> None:
        mine, theirs = lane.repo / run.sc.target, clone_of(lane, s3) / run.sc.target
        done = subprocess.run(["diff", "-rq", str(mine), str(theirs)], capture_output=True)
        if done.returncode != 0:
            lane.error = f"pulled data differs: {done.stdout.decode()[:200]}"

    return after


def clone_of(lane: Lane, s3: bool = False) -> Path:
    return lane.repo.with_name(lane.repo.name + ("-s3clone" if s3 else "-clone"))


STEPS: list[Step] = [
    ("add", "first run", lambda r, ln: ln.tool.add(r.sc), _commit("v1")),
    ("status", "no-op", lambda r, ln: ln.tool.status(r.sc), None),
    ("add", "no-op", lambda r, ln: ln.tool.add(r.sc), None),
    ("commit hooks", "no pointer touched", _stage_other, _commit("notes")),
    ("status", "1% changed", lambda r, ln: (_change(r, ln), ln.tool.status(r.sc))[1], None),
    ("add", "1% changed", lambda r, ln: ln.tool.add(r.sc), _commit("v2")),
    ("status", "no-op after change", lambda r, ln: ln.tool.status(r.sc), None),
    ("add", "no-op after change", lambda r, ln: ln.tool.add(r.sc), None),
    ("checkout", "git checkout of the commit before", _switch, _back),
    ("checkout", "empty workspace, warm cache", _empty, None),
    ("push", "first run", _push_first(False), None),
    ("push", "no-op", lambda r, ln: ln.tool.push(r.sc), None),
    ("pull", "fresh clone, empty cache", _clone(False), _verify(False)),
    ("pull", "no-op", lambda r, ln: f"cd {quote(str(clone_of(ln)))} && {ln.tool.pull(r.sc)}", None),
]
S3_STEPS: list[Step] = [  # --s3: after the others; git-lfs has no S3 remote (no row)
    ("push (S3)", "first run", _push_first(True), None),
    ("pull (S3)", "fresh clone, empty cache", _clone(True), _verify(True)),
]


# --- one repeat of one scenario ----------------------------------------------------------


def new_lane(run: Run, tool: Tool) -> Lane:
    slug = f"{tool.name.replace(' ', '-')}-r{run.repeat}"
    repo, folder = run.folder / slug, run.folder / f"{slug}-remote"
    s3 = s3_remote.lane_remote(run.env, f"{run.sc.name}-{slug}")
    lane = Lane(tool, repo, Remote(run.env["BENCH_MLFLOW_URL"], folder, *s3))
    try:
        repo.mkdir(parents=True)
        untimed(["git init -q -b main", *tool.init(run.sc)], repo, run.env)
        (repo / run.sc.target).parent.mkdir(parents=True, exist_ok=True)
        untimed([f"cp -r {quote(str(run.src))} {run.sc.target}", "sync"], repo, run.env)
    except (RuntimeError, OSError) as e:
        lane.error = f"set-up failed: {e}"
    return lane


def floors(run: Run) -> list[Row]:
    """cp -r and cp -al of the data (fresh destination each), stat walk, read+xxh3."""
    rows = []
    for name in FLOORS:
        dest = run.folder / "floor-copy"
        remove(dest)
        untimed(["sync"], run.folder, run.env)
        if name.startswith("cp"):
            sample = timed(f"{name} {quote(str(run.src))} {quote(str(dest))}", run.folder, run.env)
        else:
            sample = in_process(name, run.src)
        remove(dest)
        rows.append(_row(run, 0, name, "-", "floor", sample))
    return rows


def one_repeat(run: Run, tools: list[Tool], steps: list[Step]) -> None:
    shift = run.repeat % (len(tools) + 1)
    log(f"{run.sc.name} repeat {run.repeat + 1}: setting up")
    lanes = [new_lane(run, t) for t in tools]
    order: list[Lane | None] = [*lanes, None]  # None: the floors
    order = order[shift:] + order[:shift]
    for i, (op, state, command, after) in enumerate(steps, start=1):
        rows: list[Row] = []
        for lane in order:
            if lane is None:
                rows += floors(run) if i == 1 else []
                continue
            rows += _step(run, lane, i, op, state, command, after)
        report.append(run.csv, rows)
        run.rows += rows
        log(f"{run.sc.name} r{run.repeat + 1} {op} ({state}): " + _summary(rows))
    for lane in lanes:
        remove(lane.repo)
        remove(clone_of(lane))
        remove(clone_of(lane, s3=True))
        remove(lane.remote.folder)
        if lane.remote.s3_url:
            s3_remote.forget(run.env, lane.remote.s3_url)


def _step(
    run: Run,
    lane: Lane,
    i: int,
    op: str,
    state: str,
    command: Callable[[Run, Lane], str | None],
    after: Callable[[Run, Lane], None] | None,
) -> list[Row]:
    if op.endswith("(S3)") and not lane.tool.s3:
        return []  # git-lfs has no S3 remote: no row, the table shows n/a
    if lane.error:
        return [_row(run, i, op, state, lane.tool.name, Sample(0, 0, SKIPPED))]
    try:
        line = command(run, lane)
        if line is None:
            return []
        if op.split()[0] in ("add", "checkout", "pull"):
            untimed(["sync"], lane.repo, run.env)  # earlier writes are not flushed in the timing
        sample = timed(line, lane.repo, run.env)
        if sample.error:
            lane.error = sample.error
        elif after is not None:
            after(run, lane)
    except (RuntimeError, OSError) as e:
        lane.error = str(e)
        sample = Sample(0, 0, lane.error)
    return [_row(run, i, op, state, lane.tool.name, sample)]


def _row(run: Run, step: int, op: str, state: str, tool: str, s: Sample) -> Row:
    return Row(
        run.sc.name, run.sc.title, run.repeat, step, op, state, tool, round(s.seconds, 4),
        round(s.max_rss_kib / 1024, 1), s.error, round(s.cpu_seconds, 4), s.requests,
        round(s.user_seconds, 4), round(s.system_seconds, 4),
    )  # fmt: skip


def _summary(rows: list[Row]) -> str:
    return ", ".join(f"{r.tool} {'failed' if r.error else f'{r.seconds:.3f}'}" for r in rows)


# --- the whole run ---------------------------------------------------------------------


def about(tools: dict[str, Tool | str], env: dict[str, str], work: Path) -> list[str]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")), platform.machine(),
    )  # fmt: skip
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    fstype = _filesystem(work)
    lines = [
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores"
        f" ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}, {fstype};"
        f" load average {os.getloadavg()[0]:.2f} at the end.",
        "",
    ]
    for name, tool in tools.items():
        why = f" — {tool}" if isinstance(tool, str) else ""
        lines.append(f"- {name}: {version_of(tool, env)}{why}")
    lines.append(
        "- Seconds, median of the runs; whole command wall time including start-up; ratios "
        "below 1 mean mdflow is faster."
    )
    return lines + s3_remote.about(env)


def _filesystem(work: Path) -> str:
    """`ext4 with a journal, on /dev/loop0` and the like. ext4 without a journal makes
    creating a file slow for minutes after many were deleted (its inode allocator skips
    recently deleted inodes one by one): benchmarks/README.md, "The file system"."""
    fs = subprocess.run(["df", "-T", str(work)], capture_output=True, text=True).stdout
    if not fs.strip():
        return "?"
    device, fstype = fs.splitlines()[-1].split()[:2]
    if fstype == "ext4":
        name = os.path.basename(device)
        journal = any(j.startswith(f"{name}-") for j in _listdir("/proc/fs/jbd2"))
        fstype += " with a journal" if journal else " without a journal"
    return f"{fstype}, on {device}"


def _listdir(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="quick")
    p.add_argument("--scenarios", nargs="+", metavar="KIND:N", help="files:N, large:MIB, csv:MIB")
    p.add_argument("--repeat", type=int, default=3, help="runs of every scenario (default 3)")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--out", type=Path, help="results folder (default: WORK/results-SCALE)")
    p.add_argument("--resume", action="store_true", help="keep finished repeats of the CSV")
    p.add_argument("--no-install", action="store_true", help="do not install DVC or git-lfs")
    p.add_argument("--s3", action="store_true", help="also push and pull through S3 (moto)")
    p.add_argument(
        "--tools",
        nargs="+",
        choices=report.TOOLS,
        default=list(report.TOOLS),
        help="the tools to time (default: all three); the floors are always timed",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="VENV",
        help="also time the mdflow of this virtualenv (say, one of main), as `mdflow base`",
    )
    return p.parse_args()


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # the servers' contexts then stop them


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)  # `kill` must not leave the MLflow server running
    args = parse_args()
    work: Path = args.work.resolve()
    out = (args.out or work / f"results-{args.scale}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    rows = report.load(csv_path) if args.resume else []
    done = report.finished(rows)
    rows = [r for r in rows if (r.scenario, r.repeat) in done]
    report.save(csv_path, rows)
    (work / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    env = environment(work)
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, capture_output=True)
    finders = {
        "mdflow": find_mdflow,
        "DVC": lambda: find_dvc(work, not args.no_install, args.s3),
        "git-lfs": lambda: find_git_lfs(not args.no_install),
    }
    found = {name: finders[name]() for name in args.tools}
    if args.baseline:
        found[BASE] = find_mdflow(args.baseline.resolve() / "bin", BASE)
    for name, why in found.items():
        if isinstance(why, str):
            log(f"{name} is not measured: {why}")
    tools = [t for t in found.values() if not isinstance(t, str)]
    scenarios = [scenario(s) for s in (args.scenarios or SCALES[args.scale])]
    runs = work / "runs"
    if not args.resume:  # a server kept from an earlier run holds its objects: no first push
        remove(work / "mlflow-server")
    remove(work / "s3")  # moto holds its objects in memory: a new one knows none of them
    with ExitStack() as servers:
        env["BENCH_MLFLOW_URL"] = servers.enter_context(mlflow_server(work / "mlflow-server", env))
        if args.s3:
            env |= servers.enter_context(s3_remote.s3_servers(work / "s3", env))
        for sc in scenarios:
            log(f"data: {sc.title}")
            src = source(sc, work / "data")
            for r in range(args.repeat):
                if (sc.name, r) in done:
                    continue
                folder = runs / sc.name
                remove(folder)
                run = Run(sc, r, src, folder, env, csv_path, rows)
                one_repeat(run, tools, STEPS + (S3_STEPS if args.s3 else []))
                report.append(csv_path, [Row(sc.name, sc.title, r, 0, DONE, "", "", 0, 0, "")])
                md_path.write_text(report.table(rows, about(found, env, work)))
            remove(runs / sc.name)
    md_path.write_text(report.table(rows, about(found, env, work)))
    print(md_path.read_text())
    log(f"wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
