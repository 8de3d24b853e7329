"""`mdflow push` and `pull`: move the objects of datasets to and from a remote."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.output import checkout_summary, human, note, plural, print_json, repo
from mdflow.cli.parsing import command
from mdflow.errors import MdflowError

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers
    from mdflow.sync import SyncReport
    from mdflow.transfer import TransferResult


def register_push(sub: Subparsers) -> None:
    p = command(sub, "push", cmd_push, "upload the objects of datasets that the remote lacks")
    _transfer_arguments(p)


def register_pull(sub: Subparsers) -> None:
    p = command(
        sub, "pull", cmd_pull, "download what datasets need from the remote, then check out"
    )
    _transfer_arguments(p)
    p.add_argument(
        "--rev", metavar="REV", help="fetch the datasets of commit REV into the cache (no checkout)"
    )
    p.add_argument(
        "--version",
        metavar="HASH|latest",
        help="write this version of one dataset into its path, without git checkout",
    )
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="overwrite or remove files even when their content is not cached (as checkout -f)",
    )


def _transfer_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote name (default: the default)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel transfers")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_push(args: argparse.Namespace) -> int:
    from mdflow.commands.sync import push

    return _report(push(repo(), args.paths, args.remote, args.jobs), "pushed", args.json)


def cmd_pull(args: argparse.Namespace) -> int:
    from mdflow.commands.sync import pull, pull_version

    if args.version:  # `--version ""` is a plain pull
        if len(args.paths) != 1 or args.rev:
            raise MdflowError("--version takes exactly one PATH and no --rev", "name one dataset")
        report = pull_version(repo(), args.paths[0], args.version, args.remote, args.jobs)
        note(
            "the pointer still names its own version: mdflow checkout returns to it, "
            "mdflow add records this one"
        )
        return _report(report, "pulled", args.json)
    report = pull(repo(), args.paths, args.remote, args.jobs, args.rev, args.force)
    if args.rev:
        note(f"fetched into the cache; use it with git checkout {args.rev} && mdflow checkout")
    return _report(report, "pulled", args.json)


def _print_failures(t: TransferResult) -> None:
    """One line per failed object, but one per pack for the objects of a pack."""
    in_packs: set[str] = set()
    for oids, why in t.failed_packs:
        note(f"failed: a pack of {plural(len(oids), 'object')} ({oids[0]}, …): {why}")
        in_packs.update(oids)
    for oid, why in sorted(t.failed.items()):
        if oid not in in_packs:
            note(f"failed: {oid}: {why}")


def _json(report: SyncReport, verb: str) -> dict[str, object]:
    t = report.transfer
    c = report.checkout
    return {
        "remote": report.remote,
        "objects": len(t.transferred),
        "bytes": t.bytes,  # logical: the sizes of the objects
        ("sent" if verb == "pushed" else "received"): t.wire,  # over the network
        "already_there": report.wanted - len(t.transferred) - len(t.failed),
        "failed": dict(sorted(t.failed.items())),
        "skipped": dict(sorted(report.missing.items())),
        "runs": report.runs,
        "linked": report.linked,
        "checkout": None
        if c is None
        else {"restored": len(c.restored), "removed": len(c.removed), "unchanged": c.unchanged},
        "ok": report.ok,
    }


def _report(report: SyncReport, verb: str, as_json: bool = False) -> int:
    """Print what a push or pull did; exit 1 when anything was left undone."""
    t = report.transfer
    if as_json:
        print_json(_json(report, verb))
        return 0 if report.ok else 1
    wire = f"{human(t.wire)} {'sent' if verb == 'pushed' else 'received'}"
    print(
        f"{verb} {plural(len(t.transferred), 'object')} ({human(t.bytes)}, {wire}); "
        f"{report.wanted - len(t.transferred) - len(t.failed)} already there"
    )
    _print_failures(t)
    for path, why in sorted(report.missing.items()):
        note(f"skipped {path}: {why}")
    if report.runs:
        n = len(report.runs)
        runs = "has an MLflow run" if n == 1 else "have MLflow runs"
        print(f"{plural(n, 'dataset version')} {runs} on {report.remote}")
    if report.linked:
        note(f"pointers now link to their runs: git commit {' '.join(report.linked)}")
    if report.checkout is not None:
        c = report.checkout
        checkout_summary(c, "pull --force")
        for key in c.missing_cache:
            note(f"missing from cache: {key}")
    return 0 if report.ok else 1
