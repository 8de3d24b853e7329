"""`mdflow init`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers


def register_init(sub: Subparsers) -> None:
    p = command(sub, "init", cmd_init, "set up mdflow in the current Git repository")
    p.add_argument(
        "--no-visitors",
        dest="visitors",
        action="store_false",
        help="declare no visitors in mdflow.yaml (default: schema, summary, rows, preview, "
        "drift, plots, folder, report)",
    )


def cmd_init(args: argparse.Namespace) -> int:
    from mdflow.commands.init import init

    repo, created = init(visitors=args.visitors)
    print(f"{'initialized' if created else 'already initialized'} mdflow in {repo.root}")
    return 0
