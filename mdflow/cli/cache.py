"""`mdflow gc` and `fsck`: keep the cache small and sound."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mdflow.cli.output import human, note, plural, print_json, repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers
    from mdflow.gc import GcPlan


def register_gc(sub: Subparsers) -> None:
    p = command(sub, "gc", cmd_gc, "delete cache objects that no pointer in any ref needs")
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would go")
    p.add_argument(
        "--prune",
        default="14d",
        metavar="AGE",
        help="delete unreferenced objects older than AGE (now, 14d, 12h; default 14d)",
    )
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print JSON")


def register_fsck(sub: Subparsers) -> None:
    p = command(sub, "fsck", cmd_fsck, "re-hash every cache object; quarantine corrupt ones")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_gc(args: argparse.Namespace) -> int:
    from mdflow.commands.cache import gc

    def show(plan: GcPlan) -> None:
        _show_plan(plan, args)

    _, declined = gc(repo(), args.prune, args.dry_run, show, _confirmation(args.force))
    if declined:
        print("nothing deleted")
        return 1
    return 0


def _show_plan(plan: GcPlan, args: argparse.Namespace) -> None:
    if args.json:
        print_json(
            {
                "referenced": plan.referenced,
                "delete": plan.unreachable,
                "kept_young": plan.young,
                "missing_manifests": plan.missing_manifests,
                "bytes": plan.freed_bytes,
                "dry_run": args.dry_run,
            }
        )
    for oid in plan.missing_manifests:
        note(f"warning: manifest {oid} is referenced but not in the cache")
    if not args.json:
        verb = "would delete" if args.dry_run else "deleting"
        print(
            f"{plural(plan.referenced, 'object')} referenced; {verb} {len(plan.unreachable)} "
            f"unreferenced ({human(plan.freed_bytes)}); keeping {plan.young} "
            f"younger than --prune={args.prune}"
        )


def _confirmation(force: bool) -> Callable[[GcPlan], bool] | None:
    """How gc confirms the deletion: --force, yes; on a terminal, ask; else no one can be asked
    (None: gc refuses and says to rerun with --force)."""
    if force:
        return lambda _plan: True
    return _ask if sys.stdin.isatty() else None


def _ask(plan: GcPlan) -> bool:
    answer = input(f"delete {plural(len(plan.unreachable), 'object')}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _refetch(paths: list[str] | None) -> str:
    """How to get a quarantined object back: pull the datasets needing it (re-adding would
    record what the workspace holds, which may be the corrupt bytes checked out earlier)."""
    if not paths:
        return " — no dataset of the working tree needs it"
    return f" — fetch it again: mdflow pull {' '.join(shlex.quote(p) for p in paths)}"


def cmd_fsck(args: argparse.Namespace) -> int:
    from mdflow.commands.cache import fsck

    r = fsck(repo())
    if args.json:
        print_json({"checked": r.checked, "corrupt": r.corrupt})
    else:
        print(f"checked {plural(r.checked, 'object')}, {len(r.corrupt)} corrupt")
        for oid in r.corrupt:
            print(f"corrupt: {oid} moved to .mdflow/quarantine/{_refetch(r.used_by.get(oid))}")
    return 1 if r.corrupt else 0
