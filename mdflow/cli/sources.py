"""`mdflow get`, `import` and `update`: datasets from other repositories."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.output import note, repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers


def register_get(sub: Subparsers) -> None:
    text = "download a version from a repository, or by its MLflow run"
    p = command(sub, "get", cmd_get, text)
    p.add_argument("source", metavar="REPO", help="Git URL or path of the repository, or runs:/ID")
    p.add_argument("path", metavar="PATH", nargs="?", help="dataset path in REPO, from its root")
    p.add_argument("--rev", metavar="REV", help="branch, tag or commit (default: HEAD)")
    p.add_argument("-o", "--out", metavar="OUT", help="where to write it (default: its name)")
    p.add_argument(
        "--remote",
        metavar="URL",
        help="with runs:/ID: the MLflow server (default: MLFLOW_TRACKING_URI)",
    )


def register_import(sub: Subparsers) -> None:
    text = "copy a dataset from another repository, remember its source"
    _source_arguments(command(sub, "import", cmd_import, text))


def register_update(sub: Subparsers) -> None:
    text = "move imported datasets to their source's newest version"
    p = command(sub, "update", cmd_update, text)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--rev", metavar="REV", help="follow this revision of the source from now on")


def _source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="REPO", help="Git URL or path of the repository")
    p.add_argument("path", metavar="PATH", help="dataset path in REPO, from its root")
    p.add_argument("--rev", metavar="REV", help="branch, tag or commit (default: HEAD)")
    p.add_argument("-o", "--out", metavar="OUT", help="where to write it (default: its name)")


def cmd_get(args: argparse.Namespace) -> int:
    from mdflow.commands.sources import get, get_run
    from mdflow.errors import MdflowError

    if args.source.startswith("runs:/"):
        if args.path or args.rev:
            raise MdflowError("runs:/ID names one version: no PATH or --rev", "drop them")
        got = get_run(args.source, args.out, args.remote)
        print(f"got {got.path} ({got.hash}) from run {got.run_id} into {got.target}")
        return 0
    if args.path is None or args.remote:
        raise MdflowError(
            "mdflow get REPO needs a PATH (--remote goes with runs:/ID)",
            "mdflow get REPO PATH, or mdflow get runs:/ID",
        )
    target, ref = get(args.source, args.path, args.rev, args.out)
    print(f"got {ref.path} at {ref.commit[:10]} ({ref.hash}) into {target}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from mdflow.commands.sources import import_dataset

    current = repo()
    d = import_dataset(current, args.source, args.path, args.rev, args.out)
    rel, source = current.rel(d.data), d.pointer.source
    assert source is not None
    print(f"imported {source.path} from {source.repo} at {source.commit[:10]} as {rel}")
    folder = rel.rpartition("/")[0]
    note(f"next: git add {rel}.mdflow {folder + '/' if folder else ''}.gitignore")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from mdflow.commands.sources import update

    current = repo()
    for arg in args.paths:
        before, after = update(current, arg, args.rev)
        source = after.pointer.source
        assert source is not None
        data = current.rel(after.data)
        if after is before:
            print(f"{data} is up to date ({source.commit[:10]})")
        else:
            print(f"updated {data} to {source.commit[:10]} ({after.pointer.hash})")
    return 0
