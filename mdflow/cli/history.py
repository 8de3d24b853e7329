"""`mdflow log` and `diff`: the versions of datasets and what changed between them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.output import dash, human, print_json, repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers
    from mdflow.history import Version

SUBJECT = 24  # characters of a commit's subject in `mdflow log`


def register_log(sub: Subparsers) -> None:
    p = command(sub, "log", cmd_log, "list a dataset's versions, from Git history and the remote")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote to ask (default: the default)")
    p.add_argument("--no-remote", action="store_true", help="Git history only (no MLflow)")
    p.add_argument("--stat", action="store_true", help="what each version changed")
    p.add_argument("--json", action="store_true", help="print JSON")


def register_diff(sub: Subparsers) -> None:
    p = command(sub, "diff", cmd_diff, "show what changed in the data between two versions")
    p.add_argument(
        "args",
        nargs="*",
        metavar="REV|PATH",
        help="REV_A [REV_B] (A...B: from the merge base) then paths, or after --; "
        "default HEAD → workspace",
    )
    p.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="output format"
    )
    p.add_argument("--stat", action="store_true", help="one line per changed dataset")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed")
    p.add_argument(
        "--key",
        action="append",
        metavar="COL",
        help="compare table rows by this key column (repeatable; default: mdflow.yaml's key)",
    )
    p.add_argument("--no-rows", action="store_true", help="skip the row-by-row comparison")
    p.add_argument(
        "--offline", action="store_true", help="never download missing data from the remote"
    )


def cmd_log(args: argparse.Namespace) -> int:
    from mdflow.commands.history import log

    rows = log(repo(), args.path, args.remote, args.no_remote, args.stat)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    print(f"{'HASH':12} {'SIZE':>9} {'ROWS':>9} {'DATE':16} {'COMMIT':8} {'SUBJECT':{SUBJECT}} RUN")
    for r in rows:
        print(_log_line(r))
        if r.stat:
            print(f"{'':12} {r.stat}")
    return 0


def _log_line(r: Version) -> str:
    import time

    date = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.time)) if r.time else "-"
    commit = r.commit[:8] if r.commit else "-"
    return (
        f"{r.hash.split(':')[1][:12]:12} {human(r.size):>9} {dash(r.rows):>9} {date:16} "
        f"{commit:8} {_cut(r.subject or '-', SUBJECT):{SUBJECT}} {r.url or r.run or '-'}"
    )


def _cut(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters (an ellipsis marks a cut)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def cmd_diff(args: argparse.Namespace) -> int:
    from mdflow import render
    from mdflow.commands.history import diff

    report = diff(repo(), args.args, args.key, not args.no_rows, not args.offline, args.separated)
    if args.format == "json":
        print(report.model_dump_json(indent=2))
    elif args.stat:
        print(render.stat(report), end="")
    elif args.format == "markdown":
        print(render.markdown(report), end="")
    else:
        print(render.text(report), end="")
    return 1 if args.exit_code and report.datasets else 0
