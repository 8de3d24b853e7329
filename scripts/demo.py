"""`make demo`: a scripted end-to-end mdflow session in a temporary Git repository.

Every command is printed with its output, as if typed in a terminal.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mdflow import config

MDFLOW = [sys.executable, "-m", "mdflow"]
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Demo",
    "GIT_AUTHOR_EMAIL": "demo@mdflow.invalid",
    "GIT_COMMITTER_NAME": "Demo",
    "GIT_COMMITTER_EMAIL": "demo@mdflow.invalid",
}


def sh(cwd: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    shown = " ".join(["mdflow", *args[3:]] if list(args[:3]) == MDFLOW else args)
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).rstrip()
    if output:
        print(output)
    if proc.returncode not in ok:
        raise SystemExit(f"demo failed: `{shown}` exited {proc.returncode}")
    return proc.stdout


def mdflow(cwd: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    return sh(cwd, *MDFLOW, *args, ok=ok)


def say(text: str) -> None:
    print(f"\n# {text}")


def write_table(path: Path, rows: int, seed: int) -> None:
    """A weather-station table: the kind of CSV a data scientist versions."""
    rng = random.Random(seed)
    stations = ["Oslo", "Lyon", "Porto", "Graz", "Turku"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["day", "station", "temp_c", "rain_mm", "note"])
        for day in range(rows):
            note = rng.choice(["", "sensor reset", 'gust, "strong"'])
            out.writerow(
                [
                    day,
                    rng.choice(stations),
                    round(rng.gauss(12, 8), 1),
                    round(rng.expovariate(0.5), 2),
                    note,
                ]
            )


def write_images(folder: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(count):
        p = folder / ("train" if i % 4 else "test") / f"img_{i:03d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randint(200, 4000)))


def share(work: Path, repo: Path) -> None:
    say("share with a teammate through an MLflow store (here a folder; a server URL works alike)")
    mdflow(repo, "remote", "add", "team", str(work / "team-store"))
    mdflow(repo, "push")
    sh(repo, "cat", "data/weather.csv.mdflow")
    sh(repo, "git", "commit", "-q", "-am", "Share data through the team store")
    teammate = work / "teammate"
    sh(work, "git", "clone", "-q", str(repo), str(teammate))
    mdflow(teammate, "pull")
    mdflow(teammate, "status", "--exit-code")
    sh(teammate, "cmp", "data/weather.csv", str(repo / "data/weather.csv"))
    mdflow(teammate, "push")

    say("describe every version: visitors write reports to its MLflow run")
    visitors = [
        {"use": "schema", "paths": ["data/*.csv"]},
        {"use": "rows"},
        {"use": "folder", "paths": ["data/images"]},
    ]
    config.write_committed(repo, {**config.read_committed(repo), "visitors": visitors})
    mdflow(repo, "visit")
    mdflow(repo, "show", "data/weather.csv")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mdflow-demo-"))
    repo = work / "project"
    repo.mkdir()
    try:
        say(f"a new project in {repo}")
        sh(repo, "git", "init", "-q", "-b", "main")
        mdflow(repo, "init")
        write_table(repo / "data/weather.csv", 20_000, seed=1)
        write_images(repo / "data/images", 60, seed=2)

        say("track a table and a folder: data goes to the cache, pointers go to Git")
        mdflow(repo, "add", "data/weather.csv", "data/images")
        sh(repo, "cat", "data/weather.csv.mdflow")
        sh(repo, "git", "add", "-A")
        sh(repo, "git", "commit", "-q", "-m", "Add weather data and images")
        mdflow(repo, "list")

        say("the data changes: more rows, a new image, a removed one")
        write_table(repo / "data/weather.csv", 25_000, seed=1)  # 5,000 more days
        write_images(repo / "data/images/extra", 5, seed=4)
        (repo / "data/images/train/img_001.bin").unlink()
        mdflow(repo, "status", "--exit-code", ok=(1,))
        mdflow(repo, "add", "data/weather.csv", "data/images")
        sh(repo, "git", "diff", "--", "data/weather.csv.mdflow")
        sh(repo, "git", "commit", "-q", "-am", "More weather data, new images")

        say("review the change: what happened inside the data")
        mdflow(repo, "diff", "--stat", "HEAD~1", "HEAD")
        mdflow(repo, "diff", "HEAD~1", "HEAD", "--key", "day", "--offline")

        say("go back to the first version: git moves the pointers, mdflow the data")
        sh(repo, "git", "checkout", "-q", "HEAD~1")
        mdflow(repo, "status", ok=(0, 1))
        mdflow(repo, "checkout")
        mdflow(repo, "status", "--exit-code")
        sh(repo, "wc", "-l", "data/weather.csv")

        say("and forward again")
        sh(repo, "git", "checkout", "-q", "main")
        mdflow(repo, "checkout")
        sh(repo, "wc", "-l", "data/weather.csv")

        say("the cache is verified and nothing any commit needs is collected")
        mdflow(repo, "fsck")
        mdflow(repo, "gc", "--dry-run", "--prune=now")
        share(work, repo)
        print(f"\ndemo finished: every step above ran for real in {work}")
    finally:
        if not os.environ.get("MDFLOW_DEMO_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
