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
