"""`mdflow visit` and `show`: the visitors' reports on dataset versions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.output import note, repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers


def register_visit(sub: Subparsers) -> None:
    p = command(
        sub, "visit", cmd_visit, "run the declared visitors and log their reports to MLflow"
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("-f", "--force", action="store_true", help="run even where already done")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote (default: the default)")


def register_show(sub: Subparsers) -> None:
    p = command(sub, "show", cmd_show, "print the reports of a dataset's current version")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote (default: the default)")


def cmd_visit(args: argparse.Namespace) -> int:
    from mdflow.commands.reports import visit

    results = visit(repo(), args.paths, args.force, args.remote)
    if not results:
        print("no visitor applies (declare visitors in mdflow.yaml)")
    failed = False
    for r in results:
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(r.metrics.items()))
        print(f"{r.status:8} {r.visitor:12} {r.path}" + (f"  ({shown})" if shown else ""))
        if r.status == "failed":
            failed |= not r.optional
            note(
                f"visitor {r.visitor} failed on {r.path}"
                f"{' (optional)' if r.optional else ''}:\n{r.error.rstrip()}"
            )
    return 1 if failed else 0


def cmd_show(args: argparse.Namespace) -> int:
    from mdflow.commands.reports import show

    run, files = show(repo(), args.path, args.remote)
    print(f"# {args.path} — {run}")
    if not files:
        print("no reports yet: run mdflow visit")
    for path, text in sorted(files.items()):
        if text is not None:
            print(f"\n## {path}\n\n{text.rstrip()}")
    others = sorted(path for path, text in files.items() if text is None)
    if others:
        print(f"\n## Other report files (artifacts of {run})\n")
        print("\n".join(f"- {path}" for path in others))
    return 0
