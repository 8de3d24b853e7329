"""`mdflow add`, `remove` and `move`: start, stop and move tracking datasets."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mdflow.cli.output import human, note, plural, repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers
    from mdflow.tracking import Added


def register_add(sub: Subparsers) -> None:
    p = command(sub, "add", cmd_add, "track files or folders: cache their content, write pointers")
    p.add_argument("paths", nargs="+", metavar="PATH")


def register_remove(sub: Subparsers) -> None:
    p = command(sub, "remove", cmd_remove, "stop tracking datasets (the data stays)")
    p.add_argument("paths", nargs="+", metavar="PATH")


def register_move(sub: Subparsers) -> None:
    p = command(sub, "move", cmd_move, "move a dataset and its pointer")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")


def cmd_add(args: argparse.Namespace) -> int:
    from mdflow.commands.track import add

    results = add(repo(), args.paths)
    stage: list[str] = []
    for r in results:
        print(f"{'added' if r.changed else 'unchanged'} {r.path} ({_detail(r)})")
        if r.changed:
            folder = r.path.rpartition("/")[0]
            stage += [f"{r.path}.mdflow", f"{folder}/.gitignore" if folder else ".gitignore"]
    if stage:
        note(f"next: git add {' '.join(dict.fromkeys(stage))}")
    return 0


def _detail(added: Added) -> str:
    p = added.pointer
    detail = human(p.size)
    if p.files is not None:
        detail += f", {plural(p.files, 'file')}"
    if p.rows is not None:
        detail += f", {plural(p.rows, 'row')}, {plural(p.columns or 0, 'column')}"
    return detail


def cmd_remove(args: argparse.Namespace) -> int:
    from mdflow.commands.track import remove

    current = repo()
    for arg in args.paths:
        d = remove(current, arg)
        kept, pointer = current.rel(d.data), current.rel(d.pointer_file)
        print(f"untracked {kept} (data kept; pointer {pointer} removed)")
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    from mdflow.commands.track import move

    current = repo()
    data, pointer_file = move(current, args.src, args.dst)
    print(f"moved {args.src} to {current.rel(data)} (pointer {current.rel(pointer_file)})")
    return 0
