"""The first push into the embedded store (`.mdflow/mlflow`, no server): where the time goes.

Times, in fresh subprocesses: `import mlflow`; MLflow creating a sqlite store in place (what
mdflow did before) and mdflow's creation (embedded.py: temp file, no per-step fsync); then a
whole first push and a second one in a new repository. Usage: python benchmarks/bench_embedded.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = {
    "import mlflow": "import mlflow",
    "store created in place (MLflow)": (
        "import mlflow; from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as S;"
        "import time; t = time.perf_counter(); S('sqlite:///{d}/in-place.db', '{d}/a');"
        "print(time.perf_counter() - t)"
    ),
    "store created by mdflow": (
        "import mlflow, pathlib, time; from mdflow.remote.mlflow import embedded;"
        "t = time.perf_counter(); embedded.ensure(pathlib.Path('{d}'));"
        "print(time.perf_counter() - t)"
    ),
}
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
ENV |= {"GIT_COMMITTER_EMAIL": "b@b", "MDFLOW_NO_PROGRESS": "1"}


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=ENV, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        for name, code in STEPS.items():
            d = top / name.replace(" ", "-")
            d.mkdir()
            start = time.perf_counter()
            args = [sys.executable, "-c", code.format(d=d)]
            out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
            step = f"{float(out):.2f}s" if out else f"{time.perf_counter() - start:.2f}s"
            print(f"{name}: {step}")
        repo = top / "repo"
        repo.mkdir()
        for args in (["git", "init", "-q"], [sys.executable, "-m", "mdflow", "init"]):
            subprocess.run(args, cwd=repo, env=ENV, check=True, capture_output=True)
        (repo / "t.csv").write_text("a,b\n1,2\n")
        for args in ([sys.executable, "-m", "mdflow", "add", "t.csv"], ["git", "add", "-A"]):
            subprocess.run(args, cwd=repo, env=ENV, check=True, capture_output=True)
        subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, env=ENV, check=True)
        print(f"first push: {timed([sys.executable, '-m', 'mdflow', 'push'], repo):.2f}s")
        (repo / "t.csv").write_text("a,b\n1,3\n")
        subprocess.run(
            [sys.executable, "-m", "mdflow", "add", "t.csv"],
            cwd=repo,
            env=ENV,
            check=True,
            capture_output=True,
        )
        print(f"second push: {timed([sys.executable, '-m', 'mdflow', 'push'], repo):.2f}s")


if __name__ == "__main__":
    main()
