"""`mdflow remote` (list), `remote add`, `remote list`, `remote remove`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.output import repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers


def register_remote(sub: Subparsers) -> None:
    p = command(sub, "remote", cmd_remote_list, "manage remotes (MLflow servers)")
    actions = p.add_subparsers(title="remote commands", metavar="ACTION")
    r = command(actions, "add", cmd_remote_add, "add a remote")
    r.add_argument("name", metavar="NAME")
    r.add_argument(
        "url", metavar="URL", help="http(s)://host:port of an MLflow server, or a folder"
    )
    r.add_argument("-d", "--default", action="store_true", help="make it the default remote")
    command(actions, "list", cmd_remote_list, "list remotes")
    r = command(actions, "remove", cmd_remote_remove, "remove a remote")
    r.add_argument("name", metavar="NAME")


def cmd_remote_add(args: argparse.Namespace) -> int:
    from mdflow.commands import remote
    from mdflow.urls import redact

    remote.add(repo(), args.name, args.url, args.default)
    print(f"added remote {args.name} ({redact(args.url)})")
    return 0


def cmd_remote_remove(args: argparse.Namespace) -> int:
    from mdflow.commands import remote

    remote.remove(repo(), args.name)
    print(f"removed remote {args.name}")
    return 0


def cmd_remote_list(args: argparse.Namespace) -> int:
    from mdflow.commands.remote import listed
    from mdflow.urls import redact

    section = listed(repo())
    if not section.remotes:
        print("no remotes; the embedded store .mdflow/mlflow is used (mdflow remote add NAME URL)")
    for name, cfg in section.remotes.items():
        mark = " (default)" if name == section.default else ""
        print(f"{name}\t{redact(cfg.url)}{mark}")
    return 0
