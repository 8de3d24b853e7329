"""`mdflow status`, `list` and `checkout`: the workspace against the pointers."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from mdflow.cli.output import checkout_summary, dash, human, note, plural, print_json, repo
from mdflow.cli.parsing import command
from mdflow.errors import MdflowError

if TYPE_CHECKING:
    from pathlib import Path

    from mdflow.cli.parsing import Subparsers
    from mdflow.repo import Repo
    from mdflow.status import Listed, Status


def register_status(sub: Subparsers) -> None:
    p = command(sub, "status", cmd_status, "compare the workspace with the pointers")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when anything is not clean")
    p.add_argument(
        "--remote",
        nargs="?",
        const="",
        metavar="NAME",
        help="also tell which versions are not pushed (to NAME, default: the default)",
    )


def register_list(sub: Subparsers) -> None:
    p = command(sub, "list", cmd_list, "list tracked datasets, here or in another repository")
    p.add_argument(
        "source", nargs="?", metavar="REPO", help="Git URL or path of another repository"
    )
    p.add_argument("path", nargs="?", metavar="PATH", help="in REPO: only the datasets under it")
    p.add_argument(
        "--rev",
        metavar="REV",
        help="branch, tag or commit (default: HEAD) of REPO, else of this repository",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def register_checkout(sub: Subparsers) -> None:
    p = command(sub, "checkout", cmd_checkout, "make the workspace match the pointers")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="overwrite or remove files even when their content is not cached",
    )
    side = p.add_mutually_exclusive_group()
    side.add_argument(
        "--ours",
        dest="side",
        action="store_const",
        const="ours",
        help="in a merge conflict: keep our version of the pointer and its data",
    )
    side.add_argument(
        "--theirs",
        dest="side",
        action="store_const",
        const="theirs",
        help="in a merge conflict: keep their version of the pointer and its data",
    )


def cmd_status(args: argparse.Namespace) -> int:
    from mdflow.commands.workspace import leftovers, status
    from mdflow.status import CLEAN

    here = repo()
    results = status(here, args.paths, args.remote, args.scans)
    debris = leftovers(here)
    if args.json:
        print_json([s.to_json() for s in results])
    else:
        _print_debris(here, debris)
        _print_status(results, args.remote is not None, bool(debris))
    not_clean = any(s.state != CLEAN or s.pushed is False for s in results) or debris
    return 1 if args.exit_code and not_clean else 0


def _print_debris(here: Repo, debris: list[Path]) -> None:
    """Partial files of killed commands, one line per folder holding them."""
    folders: dict[Path, list[Path]] = {}
    for p in debris:
        folders.setdefault(p.parent, []).append(p)
    for folder, files in folders.items():
        size = sum(p.stat().st_size for p in files if p.exists())
        shown = here.rel(folder) or "."
        print(
            f"{'debris:':20}{shown}/ ({plural(len(files), 'partial file')}, {human(size)}) "
            "left by a killed command  — the next mdflow checkout removes it"
        )


def _print_status(results: list[Status], asked_remote: bool, debris: bool) -> None:
    from mdflow.status import CLEAN

    for s in results:
        if s.pushed is False:
            print(f"{'not pushed:':20}{s.path}  — mdflow push")
    for s in results:
        if s.state == CLEAN:
            continue
        extra = ", ".join(f"{v} {k}" for k, v in s.changes.items() if v)
        where = f"{s.path}{'/' if s.kind == 'dir' else ''}"
        cache_note = "" if s.cached else " (not in cache)"
        hint = _status_hint(s)
        print(
            f"{s.state + ':':20}{where}{' (' + extra + ')' if extra else ''}{cache_note}  — {hint}"
        )
    dirty = sum(1 for s in results if s.state != CLEAN or s.pushed is False)
    if not dirty and not debris:
        pushed = ", all pushed" if asked_remote else ""
        print(f"{len(results)} dataset{'s' if len(results) != 1 else ''}, all clean{pushed}")


def _status_hint(s: Status) -> str:
    """The next step for a dataset that is not clean: a command that works in its state."""
    from mdflow.status import MISSING_CACHE, MODIFIED

    path = shlex.quote(s.path)
    if s.state == MISSING_CACHE and s.pullable:
        return f"fetch it again: mdflow pull {path}"
    if s.state == MISSING_CACHE:
        return f"re-add it (mdflow add {path}) to store it in the cache"
    if s.state == MODIFIED:
        return _modified_hint(s, path)
    if s.cached:
        return f"mdflow checkout {path} to restore it"
    if s.pullable:
        return f"mdflow pull {path} to restore it"
    return "not in the cache either: restore it from where it was added"


def _modified_hint(s: Status, path: str) -> str:
    if s.cached and s.workspace_cached:
        return f"another cached version: mdflow checkout {path} to switch to the pointer's"
    if s.cached:
        return (
            f"new content: mdflow add {path} to record it, mdflow checkout -f {path} to discard it"
        )
    if s.pullable and s.workspace_cached:
        return f"the pointer's version is not in the cache: mdflow pull {path}"
    if s.pullable:
        return f"new content: mdflow add {path} to record it, mdflow pull -f {path} to discard it"
    what = "another version" if s.workspace_cached else "new content"
    return f"{what}: mdflow add {path} to record it (no cache or remote has the pointer's)"


def cmd_list(args: argparse.Namespace) -> int:
    from mdflow.commands.workspace import list_datasets

    if args.source is None and args.rev is not None:  # this repository, at a revision
        args.source = str(repo().root)
    if args.source is not None:
        return _list_source(args)
    items = list_datasets(repo())
    if args.json:
        print_json([_listed_json(i) for i in items])
        return 0
    if not items:
        print("no datasets tracked yet — add one with mdflow add PATH")
        return 0
    print(f"{'PATH':40} {'KIND':4} {'SIZE':>9} {'FILES':>7} {'ROWS':>9} {'COLS':>5}  STATUS")
    for i in items:
        print(
            f"{i.status.path:40} {i.status.kind:4} {human(i.size):>9} "
            f"{dash(i.files):>7} {dash(i.rows):>9} {dash(i.columns):>5}  {i.status.state}"
        )
    return 0


def _list_source(args: argparse.Namespace) -> int:
    from mdflow.commands.sources import list_source

    items = list_source(args.source, args.path, args.rev)
    if args.json:
        print_json([i.to_json() for i in items])
        return 0
    if not items:
        print(f"no datasets in {args.source} at {args.rev or 'HEAD'}")
        return 0
    note(f"{items[0].repo} at {items[0].commit[:10]}")
    print(f"{'PATH':40} {'KIND':4} {'SIZE':>9} {'FILES':>7} {'ROWS':>9} {'COLS':>5}")
    for i in items:
        p = i.pointer
        print(
            f"{i.path:40} {p.kind:4} {human(p.size):>9} "
            f"{dash(p.files):>7} {dash(p.rows):>9} {dash(p.columns):>5}"
        )
    return 0


def _listed_json(i: Listed) -> dict[str, object]:
    extra = {"size": i.size, "files": i.files, "rows": i.rows, "columns": i.columns}
    return {**i.status.to_json(), **extra}


def cmd_checkout(args: argparse.Namespace) -> int:
    from mdflow.commands.workspace import checkout, take_side

    if args.side and len(args.paths) != 1:
        raise MdflowError(f"--{args.side} takes one PATH", f"mdflow checkout --{args.side} PATH")
    if args.side:
        r = take_side(repo(), args.paths[0], args.side)
        note(f"next: git add {args.paths[0].removesuffix('.mdflow')}.mdflow")
    else:
        r = checkout(repo(), args.paths, force=args.force)
    checkout_summary(r, "checkout --force")
    for key in r.missing_cache:
        if key in r.pullable:
            note(f"missing from cache: {key} — mdflow pull {shlex.quote(key)}")
        else:
            note(
                f"missing from cache: {key} (re-add it where it exists, or fetch it from a remote)"
            )
    return 0 if r.ok else 1
