from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import mdflow, mdflow_proc

import mdflow as package
from mdflow import cli

HEAVY = ("mlflow", "pandas", "pyarrow")
PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['mdflow'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('mdflow', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["status"], ["list"], ["add", "-h"]])
def test_light_commands_do_not_import_heavy_packages(repo: Path, args: list[str]) -> None:
    (repo / "f.txt").write_text("x\n")
    mdflow(repo, "add", "f.txt")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr


ORDINARY = (
    "import sys\n"
    "from pydantic import BaseModel\n"
    "from mdflow.cli import main\n"
    "main(sys.argv[1:])\n"
    "def models(cls):\n"
    "    for sub in cls.__subclasses__():\n"
    "        yield sub\n"
    "        yield from models(sub)\n"
    "built = {m.__name__ for m in models(BaseModel) if m.__module__.startswith('mdflow.')"
    " and m.__pydantic_complete__}\n"
    "skipped = ('mdflow.checkout', 'mdflow.remote', 'mdflow.chunking')\n"
    "print(' '.join(sorted(built)), file=sys.stderr)\n"
    "print(' '.join(sorted(m for m in skipped if m in sys.modules)), file=sys.stderr)\n"
)
READ = {"Config", "CoreConfig", "CacheConfig", "RemoteSection", "HooksConfig", "Pointer"}


@pytest.mark.parametrize(("args", "says"), [(["status"], "modified:"), (["add", "data"], "added")])
def test_a_changed_folder_loads_only_what_the_command_uses(
    repo: Path, args: list[str], says: str
) -> None:
    """The ordinary path of status and add (the no-op proof failed) imports neither checkout,
    nor the remote, nor chunking (no object is that large), and builds the validators of the
    formats it reads only."""
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text("a\n")
    assert mdflow(repo, "add", "data").code == 0
    (repo / "data" / "a.txt").write_text("b\n")
    proc = subprocess.run(
        [sys.executable, "-c", ORDINARY, *args], cwd=repo, capture_output=True, text=True
    )
    assert says in proc.stdout, proc.stderr
    built, imported = proc.stderr.splitlines()[-2:]
    assert "Pointer" in built.split()
    assert set(built.split()) <= READ | {"Manifest"}  # mdflow.yaml, the pointer, the manifest
    assert imported == ""


def test_version_matches_package(tmp_path: Path) -> None:
    r = mdflow_proc(tmp_path, "--version")
    assert r.code == 0 and r.out.strip() == f"mdflow {package.__version__}"


def test_console_script_is_installed(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "mdflow"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "checkout" in proc.stdout


def test_every_command_has_help(tmp_path: Path) -> None:
    for cmd in ("init", "add", "status", "checkout", "gc", "fsck", "list", "remove", "move", "get"):
        r = mdflow_proc(tmp_path, cmd, "--help")
        assert r.code == 0 and f"usage: mdflow {cmd}" in r.out


@pytest.mark.parametrize("args", [["--help"], ["hook", "--help"], ["remote", "--help"]])
def test_command_lists_fit_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    r = mdflow_proc(tmp_path, *args)
    assert r.code == 0, r.err
    wrapped = [line for line in r.out.splitlines() if line.startswith(" " * 8)]
    assert wrapped == [], f"help cut across lines:\n{r.out}"


def test_init_outside_git_is_one_line_error(tmp_path: Path) -> None:
    r = mdflow_proc(tmp_path, "init")
    assert r.code == 1
    assert r.err.count("\n") == 1 and r.err.startswith("mdflow: error: ")
    assert "git init" in r.err


def test_init_is_idempotent(repo: Path) -> None:
    before = {p: p.read_bytes() for p in (repo / "mdflow.yaml", repo / ".gitignore")}
    r = mdflow(repo, "init")
    assert r.code == 0 and "already initialized" in r.out
    assert {p: p.read_bytes() for p in before} == before
    assert (repo / ".gitignore").read_text().splitlines().count("/.mdflow") == 1


def test_no_command_prints_usage(tmp_path: Path) -> None:
    r = mdflow_proc(tmp_path)
    assert r.code == 2 and "usage: mdflow" in r.err


def test_verbose_shows_traceback(tmp_path: Path) -> None:
    r = mdflow_proc(tmp_path, "-v", "status")
    assert r.code == 1 and "Traceback" in r.err and "mdflow: error:" in r.err


@pytest.mark.parametrize(
    "given, expected",
    [({}, "true"), ({"MLFLOW_DISABLE_TELEMETRY": "false"}, "false"), ({"DO_NOT_TRACK": "0"}, None)],
)
def test_commands_turn_mlflow_telemetry_off_unless_the_user_chose(
    tmp_path: Path, given: dict[str, str], expected: str | None
) -> None:
    """MLflow's client sends usage events to a third party from a thread it starts at import;
    mdflow's commands talk to the team's server only, so they turn that off before MLflow is
    imported, unless MLFLOW_DISABLE_TELEMETRY or DO_NOT_TRACK says otherwise."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")
    }
    code = (
        "import os; from mdflow.cli import main; main(['status']);"
        "print(os.environ.get('MLFLOW_DISABLE_TELEMETRY'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env | given, capture_output=True, text=True
    ).stdout.split()
    assert out == [str(expected)]


def _help(parser: argparse.ArgumentParser, args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parser.parse_args(args)
    return out.getvalue()


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_a_command_parsed_alone_reads_as_among_all() -> None:
    """`mdflow NAME ...` builds NAME's parser alone: the same arguments, the same help; and
    every command a module of mdflow.cli registers is among all."""
    every = cli.commands()
    registered = {
        f
        for module in {f.__module__ for f in every}
        for name, f in vars(importlib.import_module(module)).items()
        if name.startswith("register_")
    }
    assert registered == set(every)
    full = cli.build_parser()
    names = _commands(full)
    assert len(names) == len(every)
    for name in names:
        alone = cli.build_parser(name)
        assert _commands(alone) == [name]
        assert _help(alone, [name, "-h"]) == _help(full, [name, "-h"])
    args = ["status", "--json", "a", "b"]
    assert vars(cli.build_parser("status").parse_args(args)) == vars(full.parse_args(args))
