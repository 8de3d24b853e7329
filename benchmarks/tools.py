"""The tools compared: mdflow, DVC and git-lfs, as the shell commands a user would type.

Each command is a whole `bash -c` line, timed from process start to exit (start-up included).
A tool that cannot be found or installed is a string saying why; the table shows it as n/a.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from data import Scenario

DVC_VERSION = "3.67.1"  # pinned: numbers from different DVC releases are not comparable
DVC_S3_VERSION = "3.3.0"  # DVC's S3 plugin (`--s3`), released for DVC 3 (needs dvc, s3fs)
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the project's .venv: mdflow and mlflow


@dataclass(frozen=True)
class Remote:
    """Where a tool's repository pushes: an MLflow server for mdflow, a folder for the others;
    with `--s3`, also a second remote in S3 (moto) for mdflow and DVC."""

    url: str  # mdflow: http://127.0.0.1:PORT of the harness's `mlflow server`
    folder: Path  # DVC: a local folder remote; git-lfs: a bare repository
    s3_server: str = ""  # mdflow: the `mlflow server` whose artifacts live in S3
    s3_url: str = ""  # DVC: s3://BUCKET/PREFIX, this lane's own prefix
    s3_endpoint: str = ""  # DVC: moto_server's URL


class Tool:
    name = ""
    s3 = True  # has an S3 remote (`--s3`); the methods' `s3` argument picks it

    def version(self) -> str:
        raise NotImplementedError

    def init(self, sc: Scenario) -> list[str]:
        """Untimed set-up in a fresh Git repository, before the data is copied in."""
        raise NotImplementedError

    def add(self, sc: Scenario) -> str:
        raise NotImplementedError

    def status(self, sc: Scenario) -> str:
        raise NotImplementedError

    def checkout(self, sc: Scenario) -> str:
        """Restore the data into a workspace where it was deleted (the cache is warm)."""
        raise NotImplementedError

    def switch(self, sc: Scenario, rev: str) -> str:
        """`git checkout REV` and whatever makes the data follow."""
        return f"git checkout -q {rev} && {self.checkout(sc)}"

    def set_remote(self, remote: Remote, s3: bool = False) -> list[str]:
        raise NotImplementedError

    def push(self, sc: Scenario, s3: bool = False) -> str:
        raise NotImplementedError

    def clone(self, remote: Remote, repo: Path, dest: Path) -> str:
        return f"git clone -q {quote(str(repo))} {quote(str(dest))}"

    def pull(self, sc: Scenario, s3: bool = False) -> str:
        raise NotImplementedError

    def hooks(self) -> str | None:
        """The commit hooks on a commit that touches no tracked data; None: the tool has none."""
        return None


class Mdflow(Tool):
    name = "mdflow"

    def __init__(self, exe: Path, name: str = "mdflow") -> None:
        self.exe = quote(str(exe))
        self.name = name

    def version(self) -> str:
        return f"{self.exe} --version"

    def init(self, sc: Scenario) -> list[str]:
        return [f"{self.exe} init"]

    def add(self, sc: Scenario) -> str:
        return f"{self.exe} add {sc.target}"

    def status(self, sc: Scenario) -> str:
        return f"{self.exe} status"

    def checkout(self, sc: Scenario) -> str:
        return f"{self.exe} checkout"

    def set_remote(self, remote: Remote, s3: bool = False) -> list[str]:
        if s3:  # a second remote, not the default: named on push and pull
            return [f"{self.exe} remote add s3 {remote.s3_server}"]
        return [f"{self.exe} remote add -d origin {remote.url}"]

    def push(self, sc: Scenario, s3: bool = False) -> str:
        return f"{self.exe} push" + (" -r s3" if s3 else "")

    def pull(self, sc: Scenario, s3: bool = False) -> str:
        return f"{self.exe} pull" + (" -r s3" if s3 else "")

    def hooks(self) -> str:
        return f"{self.exe} hook check && {self.exe} hook visit"


class Dvc(Tool):
    name = "DVC"

    def __init__(self, exe: Path) -> None:
        self.exe = quote(str(exe))

    def version(self) -> str:
        return f"{self.exe} --version"

    def init(self, sc: Scenario) -> list[str]:
        return [f"{self.exe} init -q", f"{self.exe} config core.analytics false"]

    def add(self, sc: Scenario) -> str:
        return f"{self.exe} add -q {sc.target}"

    def status(self, sc: Scenario) -> str:
        return f"{self.exe} status"  # -q exits 1 when something changed

    def checkout(self, sc: Scenario) -> str:
        return f"{self.exe} checkout -q"

    def set_remote(self, remote: Remote, s3: bool = False) -> list[str]:
        if s3:  # credentials come from the environment (AWS_*), never the config
            return [
                f"{self.exe} remote add s3 {remote.s3_url}",
                f"{self.exe} remote modify s3 endpointurl {remote.s3_endpoint}",
            ]
        return [f"{self.exe} remote add -d local {quote(str(remote.folder))}"]

    def push(self, sc: Scenario, s3: bool = False) -> str:
        return f"{self.exe} push -q" + (" -r s3" if s3 else "")

    def pull(self, sc: Scenario, s3: bool = False) -> str:
        return f"{self.exe} pull -q" + (" -r s3" if s3 else "")


class GitLfs(Tool):
    """`git lfs track` once at set-up; then plain Git commands run the LFS filters."""

    name = "git-lfs"
    s3 = False  # a Git LFS server speaks the batch API; none stores in S3 here

    def version(self) -> str:
        return "git lfs version"

    def init(self, sc: Scenario) -> list[str]:
        pattern = f"{sc.target}/**" if sc.is_dir else sc.target
        return [
            "git lfs install --local",
            f"git lfs track {quote(pattern)}",
            "git add .gitattributes",
            "git commit -q --no-verify -m lfs",
        ]

    def add(self, sc: Scenario) -> str:
        return f"git add {sc.target}"

    def status(self, sc: Scenario) -> str:
        return "git status --porcelain"

    def checkout(self, sc: Scenario) -> str:
        return f"git checkout -q -- {sc.target}"

    def switch(self, sc: Scenario, rev: str) -> str:
        return f"git checkout -q {rev}"

    def set_remote(self, remote: Remote, s3: bool = False) -> list[str]:
        bare = quote(str(remote.folder))
        return [f"git init -q --bare {bare}", f"git remote add origin file://{bare}"]

    def push(self, sc: Scenario, s3: bool = False) -> str:
        return "git lfs push origin HEAD"  # the objects only, as the other tools push

    def clone(self, remote: Remote, repo: Path, dest: Path) -> str:
        bare = quote(str(remote.folder))
        return (
            f"git -C {quote(str(repo))} push -q origin HEAD:refs/heads/main && "
            f"GIT_LFS_SKIP_SMUDGE=1 git clone -q -b main file://{bare} {quote(str(dest))}"
        )

    def pull(self, sc: Scenario, s3: bool = False) -> str:
        return "git lfs pull"


def environment(work: Path) -> dict[str, str]:
    """What every timed command gets: bytecode caches allowed (pip precompiled DVC's), no
    analytics, a Git identity, the project's .venv first on PATH (hooks run `mdflow`), and
    Python's faulthandler: a command that dies of a signal prints every thread's stack, which
    `measure.timed` keeps in WORK/failures/."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONFAULTHANDLER": "1",
        "BENCH_FAILURES": str(work / "failures"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(work / "dvc-site-cache"),
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@mdflow.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@mdflow.invalid",
        "GIT_CONFIG_GLOBAL": str(work / "gitconfig"),
    }


def find_mdflow(venv_bin: Path = BIN, name: str = "mdflow") -> Tool | str:
    exe = venv_bin / "mdflow"
    return Mdflow(exe, name) if exe.exists() else f"no {exe}: create that virtualenv first"


_VERSION_IS = "import importlib.metadata as m, sys; sys.exit(m.version({!r}) != {!r})"


def find_dvc(work: Path, install: bool, s3: bool = False) -> Tool | str:
    """DVC in its own virtualenv under the work folder, installed from PyPI on first use;
    with `s3`, its S3 plugin too (added to a virtualenv that lacks it)."""
    venv = work / f"dvc-{DVC_VERSION}-venv"
    exe, python = venv / "bin" / "dvc", venv / "bin" / "python"
    wanted = [f"dvc=={DVC_VERSION}"] + ([f"dvc-s3=={DVC_S3_VERSION}"] if s3 else [])
    plugin = f"{quote(str(python))} -c {quote(_VERSION_IS.format('dvc-s3', DVC_S3_VERSION))}"
    if (not exe.exists() or (s3 and not _works(plugin))) and install:
        print(f"[bench] installing {' '.join(wanted)} into {venv}", file=sys.stderr)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=False)
    if exe.exists() and (not s3 or _works(plugin)):
        return Dvc(exe)
    return f"{' and '.join(wanted)} not installed in {venv} (rerun without --no-install)"


def find_git_lfs(install: bool) -> Tool | str:
    """git-lfs from the OS packages; as root with apt-get, installed when missing."""
    if not _works("git lfs version") and install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("[bench] git-lfs missing: apt-get install -y git-lfs", file=sys.stderr)
        if not _works("apt-get -q -y install git-lfs"):
            _works("apt-get -q update && apt-get -q -y install git-lfs")
    if _works("git lfs version"):
        return GitLfs()
    return "git-lfs is not installed and could not be (Debian/Ubuntu: apt-get install git-lfs)"


def version_of(tool: Tool | str, env: dict[str, str]) -> str:
    if isinstance(tool, str):
        return "n/a"
    out = subprocess.run(["bash", "-c", tool.version()], capture_output=True, text=True, env=env)
    line = (out.stdout.strip().splitlines() or ["?"])[0]
    if isinstance(tool, Mdflow):  # which source: the commit of the package it imports
        where = subprocess.run(
            [str(Path(tool.exe.strip("'")).parent / "python"), "-c",
             "import mdflow, os; print(os.path.dirname(mdflow.__file__))"],
            capture_output=True, text=True, cwd="/",  # not this folder's mdflow
        ).stdout.strip()  # fmt: skip
        rev = subprocess.run(
            ["git", "-C", where or ".", "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        line += f" at {rev} ({where})"
    return line


def _works(line: str) -> bool:
    done = subprocess.run(["bash", "-c", line], capture_output=True, check=False)
    return done.returncode == 0
