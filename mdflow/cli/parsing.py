"""How a command module adds its subcommand: the handler travels in the parsed arguments."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    # not subscriptable at run time: only for annotations
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Handler = Callable[[argparse.Namespace], int]


def command(sub: Subparsers, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    """Add the subcommand `name`, whose one-line `help` is also its description."""
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(handler=handler)
    return p


def split_paths(argv: list[str], commands: tuple[str, ...]) -> tuple[list[str], list[str] | None]:
    """For `commands`, what follows `--` are paths, as in Git (`mdflow diff A B -- PATH`):
    (the arguments before it, the paths after it, or None without `--`). argparse would drop
    the `--` and, with it, where the revisions end."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        i += 2 if argv[i] == "-C" else 1  # mdflow's own options come before the command
    if i < len(argv) and argv[i] in commands and "--" in argv[i + 1 :]:
        cut = argv.index("--", i + 1)
        return argv[:cut], argv[cut + 1 :]
    return argv, None
