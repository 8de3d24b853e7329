"""`mdflow install` and `hook`: the Git hooks and the diff and merge drivers."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mdflow.cli.output import note, repo
from mdflow.cli.parsing import command

if TYPE_CHECKING:
    from mdflow.cli.parsing import Subparsers

HOOKS = (
    ("check", "pre-commit: pointers match their data, no large data in Git"),
    ("visit", "pre-commit: record staged versions as runs, run the visitors"),
    ("commit", "post-commit: confirm the version runs of the new commit"),
    ("push", "pre-push: the data of the commits being pushed is on the remote"),
    ("checkout", "post-checkout/post-merge: warn about (or restore) stale data"),
    ("textconv", "git diff driver: a pointer followed by its columns or files"),
    ("merge", "git merge driver for pointers: folders merge file by file"),
)


def register_install(sub: Subparsers) -> None:
    command(sub, "install", cmd_install, "set up the mdflow Git hooks through pre-commit")


def register_hook(sub: Subparsers) -> None:
    text = "run one Git hook check (used by pre-commit)"
    # no handler of its own: without a HOOK, main's default prints the usage
    p = sub.add_parser("hook", help=text, description=text)
    hooks = p.add_subparsers(title="hooks", metavar="HOOK")
    for name, help_text in HOOKS:
        h = command(hooks, name, cmd_hook, help_text)
        h.add_argument("args", nargs="*", help=argparse.SUPPRESS)  # what git passes: unused
        h.set_defaults(hook=name)


def cmd_install(args: argparse.Namespace) -> int:
    from mdflow.commands.hooks import install

    done = install(repo())
    print(f"installed mdflow hooks for {', '.join(done.types)} (.pre-commit-config.yaml)")
    print("installed the git diff and merge drivers for *.mdflow (.gitattributes, .git/config)")
    if done.changed:
        note(f"next: git add {' '.join(done.changed)}")
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    from mdflow.commands import hooks

    current = repo()
    if args.hook == "textconv":
        sys.stdout.write(hooks.textconv(current, args.args))
        return 0
    if args.hook == "merge":
        code, line = hooks.merge(current, args.args)
        note(line)
        return code
    report = hooks.hook(current, args.hook)
    for line in report.notes:
        note(line)
    for line in report.problems:
        note(f"mdflow: {line}")
    return 1 if report.problems else 0
