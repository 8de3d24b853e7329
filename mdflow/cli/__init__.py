"""The `mdflow` command line: parse arguments, call mdflow.commands, print what they return.

One module per family of commands (mirroring mdflow/commands/) holds each command's arguments,
its handler and its printing. Handlers import the commands and anything heavy inside their
bodies, so `mdflow --help` and `mdflow --version` stay fast and never import mlflow, pandas or
pyarrow.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mdflow import __version__
from mdflow.errors import MdflowError

if TYPE_CHECKING:
    import argparse

    from mdflow.cli.parsing import Handler, Subparsers
    from mdflow.state import Scan

__all__ = ["build_parser", "main"]


def commands(only: str | None = None) -> list[Callable[[Subparsers], None]]:
    """The functions registering the subcommands, in the order `mdflow --help` lists them;
    with `only`, a command's name, that command's alone (all when no command has that name).
    Imported on first use: the no-op path of status and add needs none of them."""
    from mdflow.cli import (
        cache,
        history,
        hooks,
        init,
        remote,
        reports,
        sources,
        sync,
        track,
        workspace,
    )

    every = (
        ("init", init.register_init),
        ("add", track.register_add),
        ("status", workspace.register_status),
        ("checkout", workspace.register_checkout),
        ("gc", cache.register_gc),
        ("fsck", cache.register_fsck),
        ("list", workspace.register_list),
        ("remove", track.register_remove),
        ("remote", remote.register_remote),
        ("push", sync.register_push),
        ("pull", sync.register_pull),
        ("log", history.register_log),
        ("diff", history.register_diff),
        ("visit", reports.register_visit),
        ("show", reports.register_show),
        ("install", hooks.register_install),
        ("hook", hooks.register_hook),
        ("move", track.register_move),
        ("get", sources.register_get),
        ("import", sources.register_import),
        ("update", sources.register_update),
    )
    return [r for name, r in every if name == only] or [r for _, r in every]


def _reap_children() -> None:
    """An ignored SIGCHLD is inherited through exec (from a daemon, a CI runner): the system
    then reaps every child itself, and the exit codes of git and of forked workers are lost
    (subprocess reads them as 0: `git check-ignore` would say every path is ignored)."""
    if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    _reap_children()
    scans: dict[str, Scan] = {}
    quick = _no_op(given, scans)
    if quick is not None:
        return quick
    _no_telemetry()
    import traceback

    from mdflow.cli.parsing import split_paths
    from mdflow.urls import redact_text

    words, separated = split_paths(given, ("diff",))
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    args.separated = separated
    args.scans = scans  # the folders a failed no-op proof scanned: status takes them over
    try:
        if args.directory:
            _chdir(args.directory)
        handler: Handler = args.handler
        return handler(args)
    except MdflowError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"mdflow: error: {redact_text(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mdflow: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, or an OS error we did not foresee: one line unless -v
        if args.verbose:
            traceback.print_exc()
        crash = _crash_error(e)
        if crash is not None:
            print(f"mdflow: error: {redact_text(str(crash))}", file=sys.stderr)
            return crash.exit_code
        print(
            f"mdflow: error: {type(e).__name__}: {redact_text(str(e))} — rerun with -v for details",
            file=sys.stderr,
        )
        return 2


def _crash_error(e: Exception) -> MdflowError | None:
    """A fault of the machine rather than a bug (full disk, failing disk, absurd input), as
    the one-line error that names its cause; None for anything else."""
    import errno
    import sqlite3

    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left" if e.errno == errno.ENOSPC else "disk quota exceeded"
        return MdflowError(f"{what} on {_device_of(e.filename)}", _FREE_SPACE)
    if isinstance(e, OSError) and e.errno in (errno.EMFILE, errno.ENFILE):
        import resource

        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return MdflowError(
            f"too many open files (this process may open {limit})",
            "raise the limit (ulimit -n 4096) and run the command again",
        )
    if isinstance(e, sqlite3.Error) and ("disk" in str(e) or "I/O" in str(e)):
        return MdflowError(
            f"the stat cache .mdflow/state.db cannot be written ({e}; is the disk full?)",
            f"{_FREE_SPACE}; deleting .mdflow/state.db loses nothing",
        )
    if isinstance(e, RecursionError):
        return MdflowError(
            "a file the command read is nested too deeply (maximum recursion depth)", _CHECK
        )
    if isinstance(e, OverflowError):
        return MdflowError(f"a number is out of range ({e})", _CHECK)
    return None


_FREE_SPACE = "free some space (mdflow gc deletes unreferenced objects) and run it again"
_CHECK = "check the pointers, manifests and mdflow.yaml it read (mdflow -v for where)"


def _device_of(filename: object) -> str:
    """`the device mounted at /x (writing /x/y/z)`, or `the device` when no file is known."""
    import os

    if not isinstance(filename, str):
        return "the device"
    mount = os.path.abspath(filename)
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    return f"the device mounted at {mount} (writing {filename})"


def _chdir(directory: str) -> None:
    import os

    try:
        os.chdir(directory)
    except OSError as e:
        raise MdflowError(
            f"cannot change to -C {directory}: {e.strerror}", "check the path"
        ) from None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of mdflow's arguments; with `only`, of that command's alone (what parsing
    `mdflow ONLY ...` needs: the full list only serves help and errors naming a command)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="mdflow",
        description="Version datasets next to your code: pointers in Git, data in a cache.",
    )
    parser.add_argument("--version", action="version", version=f"mdflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show error details")
    parser.add_argument("-C", dest="directory", metavar="DIR", help="run as if started in DIR")
    # without a COMMAND (or with `hook` and no HOOK, which sets no handler of its own): the usage
    parser.set_defaults(handler=lambda _a: _usage(parser))
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in commands(only):
        register(sub)
    return parser


def _no_telemetry() -> None:
    """mdflow's commands talk to the team's own server and nothing else: MLflow's client
    telemetry (usage events sent to a third party, from a thread started at `import mlflow`)
    is off unless the user chose (MLFLOW_DISABLE_TELEMETRY or DO_NOT_TRACK set). Set before
    any thread runs: it writes the C environment."""
    if "mlflow" not in sys.modules and not {"MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"} & set(
        os.environ
    ):
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def _no_op(words: list[str], scans: dict[str, Scan]) -> int | None:
    """`mdflow status [--exit-code]`, `mdflow add PATH...` and the pre-commit hooks
    (`mdflow hook check`, `visit`) when the stat cache proves that nothing changed and no
    pointer is staged (mdflow/clean.py): answered without building the parser or importing
    the library. None: take the ordinary path (also when the proof itself fails: it reports
    nothing; `scans` then holds the folders it scanned)."""
    try:
        lines = _proven(words, scans)
    except Exception:
        return None
    if lines is None:
        return None
    for line in lines:
        print(line)
    return 0


def _proven(words: list[str], scans: dict[str, Scan]) -> list[str] | None:
    verb, rest = (words[0], words[1:]) if words else ("", [])
    if verb == "hook" and rest in (["check"], ["visit"]):
        from mdflow import staging

        top = staging.find_root()
        return [] if top is not None and staging.commit_hook_passes(top, rest[0]) else None
    if verb not in ("status", "add") or any(w.startswith("-") and w != "--exit-code" for w in rest):
        return None
    from pathlib import Path

    from mdflow import clean, staging

    found = staging.find_root()
    if found is None:
        return None
    root = Path(found)
    if verb == "status":
        if any(w != "--exit-code" for w in rest):  # paths: the ordinary path selects
            return None
        line = clean.status_line(root, scans)
        return None if line is None else [line]
    if not rest or "--exit-code" in rest:
        return None
    unchanged = clean.unchanged_adds(root, rest)
    if unchanged is None:
        return None
    from mdflow.render import human, plural

    lines = []
    for r in unchanged:
        detail = human(r.size)
        if r.files is not None:
            detail += f", {plural(r.files, 'file')}"
        if r.rows is not None:
            detail += f", {plural(r.rows, 'row')}, {plural(r.columns or 0, 'column')}"
        lines.append(f"unchanged {r.data} ({detail})")
    return lines


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2
