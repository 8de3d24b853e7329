"""The `mdflow` command line. Commands parse arguments, call mdflow.commands, print results.

Imports of the command modules happen inside the handlers, so `mdflow --help` and
`mdflow --version` stay fast and never import mlflow, pandas or pyarrow.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from mdflow import __version__
from mdflow.errors import MdflowError
from mdflow.render import human

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.directory:
            _chdir(args.directory)
        handler: Handler = args.handler
        return handler(args)
    except MdflowError as e:
        if args.verbose:
            traceback.print_exc()
        print(f"mdflow: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mdflow: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, or an OS error we did not foresee: one line unless -v
        if args.verbose:
            traceback.print_exc()
        print(
            f"mdflow: error: {type(e).__name__}: {e} — rerun with -v for details",
            file=sys.stderr,
        )
        return 2


def _chdir(directory: str) -> None:
    import os

    try:
        os.chdir(directory)
    except OSError as e:
        raise MdflowError(
            f"cannot change to -C {directory}: {e.strerror}", "check the path"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mdflow",
        description="Version datasets next to your code: pointers in Git, data in a cache.",
    )
    parser.add_argument("--version", action="version", version=f"mdflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show error details")
    parser.add_argument("-C", dest="directory", metavar="DIR", help="run as if started in DIR")
    parser.set_defaults(handler=lambda _a: _usage(parser))
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    command("init", cmd_init, "set up mdflow in the current Git repository")

    p = command("add", cmd_add, "track files or folders: cache their content, write pointers")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = command("status", cmd_status, "compare the workspace with the pointers")
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

    p = command("checkout", cmd_checkout, "make the workspace match the pointers")
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

    p = command("gc", cmd_gc, "delete cache objects that no pointer in any ref needs")
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would go")
    p.add_argument(
        "--prune",
        default="14d",
        metavar="AGE",
        help="delete unreferenced objects older than AGE (now, 14d, 12h; default 14d)",
    )
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("fsck", cmd_fsck, "re-hash every cache object; quarantine corrupt ones")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("list", cmd_list, "list tracked datasets")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("remove", cmd_remove, "stop tracking datasets (the data stays)")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = command("remote", lambda a: cmd_remote_list(a), "manage remotes (MLflow servers)")
    rsub = p.add_subparsers(title="remote commands", metavar="ACTION")
    r = rsub.add_parser("add", help="add a remote", description="add a remote")
    r.add_argument("name", metavar="NAME")
    r.add_argument(
        "url", metavar="URL", help="http(s)://host:port of an MLflow server, or a folder"
    )
    r.add_argument("-d", "--default", action="store_true", help="make it the default remote")
    r.set_defaults(handler=cmd_remote_add)
    r = rsub.add_parser("list", help="list remotes", description="list remotes")
    r.set_defaults(handler=cmd_remote_list)
    r = rsub.add_parser("remove", help="remove a remote", description="remove a remote")
    r.add_argument("name", metavar="NAME")
    r.set_defaults(handler=cmd_remote_remove)

    for name, handler, text in (
        ("push", cmd_push, "upload the objects of datasets that the remote lacks"),
        ("pull", cmd_pull, "download what datasets need from the remote, then check out"),
    ):
        p = command(name, handler, text)
        p.add_argument("paths", nargs="*", metavar="PATH")
        p.add_argument("-r", "--remote", metavar="NAME", help="remote name (default: the default)")
        p.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel transfers")
    p.add_argument(
        "--rev", metavar="REV", help="fetch the datasets of commit REV into the cache (no checkout)"
    )
    p.add_argument(
        "--version",
        metavar="HASH|latest",
        help="write this version of one dataset into its path, without git checkout",
    )

    p = command("log", cmd_log, "list the versions of a dataset, from Git history and the remote")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote to ask (default: the default)")
    p.add_argument("--no-remote", action="store_true", help="Git history only (no MLflow)")
    p.add_argument("--stat", action="store_true", help="what each version changed")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("diff", cmd_diff, "show what changed in the data between two versions")
    p.add_argument(
        "args",
        nargs="*",
        metavar="REV|PATH",
        help="REV_A [REV_B] (A...B: from the merge base) then paths; default HEAD → workspace",
    )
    p.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="output format"
    )
    p.add_argument("--stat", action="store_true", help="one line per changed dataset")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed")
    p.add_argument(
        "--key",
        action="append",
        metavar="COL",
        help="compare table rows by this key column (repeatable; default: mdflow.yaml's key)",
    )
    p.add_argument("--no-rows", action="store_true", help="skip the row-by-row comparison")
    p.add_argument(
        "--offline", action="store_true", help="never download missing data from the remote"
    )

    p = command("visit", cmd_visit, "run the declared visitors and log their reports to MLflow")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("-f", "--force", action="store_true", help="run even where already done")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote (default: the default)")

    p = command("show", cmd_show, "print the reports of a dataset's current version")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-r", "--remote", metavar="NAME", help="remote (default: the default)")

    command("install", cmd_install, "set up the mdflow Git hooks through pre-commit")
    p = command("hook", lambda a: _usage(parser), "run one Git hook check (used by pre-commit)")
    hsub = p.add_subparsers(title="hooks", metavar="HOOK")
    for name, help_text in (
        ("check", "pre-commit: staged pointers match their data; no large data staged into Git"),
        ("visit", "pre-commit: record staged versions as runs, run visitors, stage the links"),
        ("push", "pre-push: the data of the commits being pushed is on the remote"),
        ("checkout", "post-checkout/post-merge: warn about (or restore) stale data"),
        ("textconv", "git diff driver: a pointer followed by its columns or files"),
        ("merge", "git merge driver for pointers: folders merge file by file"),
    ):
        h = hsub.add_parser(name, help=help_text, description=help_text)
        h.add_argument("args", nargs="*", help=argparse.SUPPRESS)  # what git passes: unused
        h.set_defaults(handler=cmd_hook, hook=name)

    p = command("move", cmd_move, "move a dataset and its pointer")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")

    for name, handler, text in (
        ("get", cmd_get, "download a dataset version from another repository (no working tree)"),
        ("import", cmd_import, "bring a dataset from another repository; its pointer remembers"),
    ):
        p = command(name, handler, text)
        p.add_argument("source", metavar="REPO", help="Git URL or path of the repository")
        p.add_argument("path", metavar="PATH", help="dataset path in REPO, from its root")
        p.add_argument("--rev", metavar="REV", help="branch, tag or commit (default: HEAD)")
        p.add_argument("-o", "--out", metavar="OUT", help="where to write it (default: its name)")
    p = command("update", cmd_update, "move imported datasets to their source's newest version")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--rev", metavar="REV", help="follow this revision of the source from now on")
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _repo() -> Any:
    from mdflow.repo import Repo

    return Repo.find()


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def note(text: str) -> None:
    print(text, file=sys.stderr)


def cmd_init(args: argparse.Namespace) -> int:
    from mdflow.commands.init import init

    repo, created = init()
    print(f"{'initialized' if created else 'already initialized'} mdflow in {repo.root}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from mdflow.commands.add import add

    results = add(_repo(), args.paths)
    stage = []
    for r in results:
        p = r.pointer
        detail = human(p.size)
        if p.files is not None:
            detail += f", {p.files} files"
        if p.rows is not None:
            detail += f", {p.rows} rows, {p.columns} columns"
        print(f"{'added' if r.changed else 'unchanged'} {r.path} ({detail})")
        if r.changed:
            folder = r.path.rpartition("/")[0]
            stage += [f"{r.path}.mdflow", f"{folder}/.gitignore" if folder else ".gitignore"]
    if stage:
        note(f"next: git add {' '.join(dict.fromkeys(stage))}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from mdflow.commands.status import CLEAN, status

    results = status(_repo(), args.paths, args.remote)
    if args.json:
        _json([s.to_json() for s in results])
    else:
        for s in results:
            if s.pushed is False:
                print(f"{'not pushed:':20}{s.path}  — mdflow push")
        for s in results:
            if s.state == CLEAN:
                continue
            extra = ", ".join(f"{v} {k}" for k, v in s.changes.items() if v)
            where = f"{s.path}{'/' if s.kind == 'dir' else ''}"
            cache_note = "" if s.cached else " (not in cache)"
            hint = _status_hint(s.state, s.workspace_cached, s.cached)
            print(
                f"{s.state + ':':20}{where}{' (' + extra + ')' if extra else ''}{cache_note}"
                f"  — {hint}"
            )
        dirty = sum(1 for s in results if s.state != CLEAN or s.pushed is False)
        if not dirty:
            pushed = ", all pushed" if args.remote is not None else ""
            print(f"{len(results)} dataset{'s' if len(results) != 1 else ''}, all clean{pushed}")
    not_clean = any(s.state != CLEAN or s.pushed is False for s in results)
    return 1 if args.exit_code and not_clean else 0


def _status_hint(state: str, workspace_cached: bool, cached: bool) -> str:
    from mdflow.commands.status import MISSING_CACHE, MODIFIED

    if state == MODIFIED and workspace_cached:
        return "another cached version: mdflow checkout to switch to the pointer's"
    if state == MODIFIED:
        return "new content: mdflow add to record it, mdflow checkout -f to discard it"
    if state == MISSING_CACHE:
        return "re-add it (mdflow add) to store it in the cache"
    if not cached:
        return "not in the cache either: restore it from where it was added"
    return "mdflow checkout to restore it"


def cmd_checkout(args: argparse.Namespace) -> int:
    from mdflow.commands.checkout import checkout, take_side

    if args.side:
        if len(args.paths) != 1:
            raise MdflowError(
                f"--{args.side} takes one PATH", f"mdflow checkout --{args.side} PATH"
            )
        r = take_side(_repo(), args.paths[0], args.side)
        note(f"next: git add {args.paths[0].removesuffix('.mdflow')}.mdflow")
    else:
        r = checkout(_repo(), args.paths, force=args.force)
    print(f"{len(r.restored)} restored, {len(r.removed)} removed, {r.unchanged} unchanged")
    for key in r.kept_modified:
        note(
            f"kept {key}: it differs and its content is not in the cache "
            "(mdflow add it, or checkout --force to discard it)"
        )
    for key in r.missing_cache:
        note(f"missing from cache: {key} (re-add it where it exists, or fetch it from a remote)")
    return 0 if r.ok else 1


def cmd_gc(args: argparse.Namespace) -> int:
    from mdflow.commands import gc

    repo = _repo()
    expiry = gc.parse_expiry(args.prune)
    with repo.lock():
        plan = gc.plan(repo, expiry)
        if args.json:
            _json(
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
        verb = "would delete" if args.dry_run else "deleting"
        if not args.json:
            print(
                f"{plan.referenced} objects referenced; {verb} {len(plan.unreachable)} "
                f"unreferenced ({human(plan.freed_bytes)}); keeping {plan.young} "
                f"younger than --prune={args.prune}"
            )
        if args.dry_run or not (plan.unreachable or plan.stale_tmp):
            return 0
        if not args.force:
            if not sys.stdin.isatty():
                raise MdflowError(
                    f"gc would delete {len(plan.unreachable)} objects",
                    "rerun with --force, or --dry-run to list them",
                )
            answer = input(f"delete {len(plan.unreachable)} objects? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 1
        gc.execute(repo, plan)
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    from mdflow.commands.fsck import fsck

    r = fsck(_repo())
    if args.json:
        _json({"checked": r.checked, "corrupt": r.corrupt})
    else:
        print(f"checked {r.checked} objects, {len(r.corrupt)} corrupt")
        for oid in r.corrupt:
            print(f"corrupt: {oid} moved to .mdflow/quarantine/")
    return 1 if r.corrupt else 0


def cmd_list(args: argparse.Namespace) -> int:
    from mdflow.commands.manage import list_datasets

    items = list_datasets(_repo())
    if args.json:
        _json(
            [
                {
                    **i.status.to_json(),
                    "size": i.size,
                    "files": i.files,
                    "rows": i.rows,
                    "columns": i.columns,
                }
                for i in items
            ]
        )
        return 0
    if not items:
        print("no datasets tracked yet — add one with mdflow add PATH")
        return 0
    print(f"{'PATH':40} {'KIND':4} {'SIZE':>9} {'FILES':>7} {'ROWS':>9} {'COLS':>5}  STATUS")
    for i in items:
        print(
            f"{i.status.path:40} {i.status.kind:4} {human(i.size):>9} "
            f"{_dash(i.files):>7} {_dash(i.rows):>9} {_dash(i.columns):>5}  {i.status.state}"
        )
    return 0


def _dash(n: int | None) -> str:
    return "-" if n is None else str(n)


def cmd_remove(args: argparse.Namespace) -> int:
    from mdflow.commands.manage import remove

    repo = _repo()
    for arg in args.paths:
        d = remove(repo, arg)
        print(
            f"untracked {repo.rel(d.data)} (data kept; pointer {repo.rel(d.pointer_file)} removed)"
        )
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    from mdflow.commands.manage import move

    repo = _repo()
    data, pointer_file = move(repo, args.src, args.dst)
    print(f"moved {args.src} to {repo.rel(data)} (pointer {repo.rel(pointer_file)})")
    return 0


def cmd_remote_add(args: argparse.Namespace) -> int:
    from mdflow.commands import remote

    remote.add(_repo(), args.name, args.url, args.default)
    print(f"added remote {args.name} ({args.url})")
    return 0


def cmd_remote_remove(args: argparse.Namespace) -> int:
    from mdflow.commands import remote

    remote.remove(_repo(), args.name)
    print(f"removed remote {args.name}")
    return 0


def cmd_remote_list(args: argparse.Namespace) -> int:
    section = _repo().config.remote
    if not section.remotes:
        print("no remotes; the embedded store .mdflow/mlflow is used (mdflow remote add NAME URL)")
    for name, cfg in section.remotes.items():
        mark = " (default)" if name == section.default else ""
        print(f"{name}\t{cfg.url}{mark}")
    return 0


def _report_sync(report: Any, verb: str) -> int:
    t = report.transfer
    print(
        f"{verb} {len(t.transferred)} objects ({human(t.bytes)}); "
        f"{report.wanted - len(t.transferred) - len(t.failed)} already there"
    )
    for oid, why in sorted(t.failed.items()):
        note(f"failed: {oid}: {why}")
    for path, why in sorted(report.missing.items()):
        note(f"skipped {path}: {why}")
    if report.runs:
        print(f"{len(report.runs)} dataset versions have MLflow runs on {report.remote}")
    if report.linked:
        note(f"pointers now link to their runs: git commit {' '.join(report.linked)}")
    if report.checkout is not None:
        c = report.checkout
        print(f"{len(c.restored)} restored, {len(c.removed)} removed, {c.unchanged} unchanged")
    return 0 if report.ok else 1


def cmd_push(args: argparse.Namespace) -> int:
    from mdflow.commands.sync import push

    return _report_sync(push(_repo(), args.paths, args.remote, args.jobs), "pushed")


def cmd_pull(args: argparse.Namespace) -> int:
    from mdflow.commands.sync import pull

    if args.version:
        from mdflow.commands.sync import pull_version

        if len(args.paths) != 1 or args.rev:
            raise MdflowError("--version takes exactly one PATH and no --rev", "name one dataset")
        report = pull_version(_repo(), args.paths[0], args.version, args.remote, args.jobs)
        note(
            "the pointer still names its own version: mdflow checkout returns to it, "
            "mdflow add records this one"
        )
        return _report_sync(report, "pulled")
    report = pull(_repo(), args.paths, args.remote, args.jobs, args.rev)
    if args.rev:
        note(f"fetched into the cache; use it with git checkout {args.rev} && mdflow checkout")
    return _report_sync(report, "pulled")


def cmd_log(args: argparse.Namespace) -> int:
    import time

    from mdflow.commands.log import log

    rows = log(_repo(), args.path, None if args.no_remote else (args.remote or ""), args.stat)
    if args.json:
        _json([r.to_json() for r in rows])
        return 0
    print(f"{'HASH':12} {'SIZE':>9} {'ROWS':>9} {'DATE':16} {'COMMIT':8} RUN")
    for r in rows:
        date = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.time)) if r.time else "-"
        commit = r.commit[:8] if r.commit else "-"
        print(
            f"{r.hash.split(':')[1][:12]:12} {human(r.size):>9} {_dash(r.rows):>9} {date:16} "
            f"{commit:8} {r.url or r.run or '-'}"
        )
        if r.stat:
            print(f"{'':12} {r.stat}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from mdflow.commands.hooks import install

    types = install(_repo())
    print(f"installed mdflow hooks for {', '.join(types)} (.pre-commit-config.yaml)")
    print("installed the git diff and merge drivers for *.mdflow (.gitattributes, .git/config)")
    note("next: git add .pre-commit-config.yaml .gitattributes")
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    from mdflow.commands import hooks

    repo = _repo()
    cfg = repo.config.hooks
    if args.hook in ("textconv", "merge"):
        return _git_driver(repo, args.hook, args.args)
    if args.hook == "check":
        report = hooks.check(repo, cfg.max_file_size)
    elif args.hook == "visit":
        report = hooks.visit_staged(repo)
    elif args.hook == "push":
        report = hooks.push(repo, check_only=cfg.push == "check")
    else:
        report = hooks.after_checkout(repo, restore=cfg.checkout == "restore")
    for line in report.notes:
        note(line)
    for line in report.problems:
        note(f"mdflow: {line}")
    return 1 if report.problems else 0


def _git_driver(repo: Any, name: str, paths: list[str]) -> int:
    from pathlib import Path

    from mdflow import drivers

    if name == "textconv" and len(paths) == 1:
        sys.stdout.write(drivers.textconv(repo, Path(paths[0])))
        return 0
    if name == "merge" and len(paths) == 4:
        base, ours, theirs, shown = paths
        code, line = drivers.merge_driver(repo, Path(base), Path(ours), Path(theirs), shown)
        note(line)
        return code
    raise MdflowError(f"mdflow hook {name}: unexpected arguments", "run mdflow install again")


def cmd_diff(args: argparse.Namespace) -> int:
    from mdflow import render
    from mdflow.commands.diff import DiffRequest, diff, split_args

    repo = _repo()
    revs, paths = split_args(repo, args.args)
    request = DiffRequest(revs, paths, args.key, rows=not args.no_rows, fetch=not args.offline)
    report = diff(repo, request)
    if args.format == "json":
        print(report.model_dump_json(indent=2))
    elif args.stat:
        print(render.stat(report), end="")
    elif args.format == "markdown":
        print(render.markdown(report), end="")
    else:
        print(render.text(report), end="")
    return 1 if args.exit_code and report.datasets else 0


def cmd_visit(args: argparse.Namespace) -> int:
    from mdflow.commands.visit import visit

    results = visit(_repo(), args.paths, args.force, args.remote)
    if not results:
        print("no visitor applies (declare visitors in mdflow.yaml)")
    failed = False
    for r in results:
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(r.metrics.items()))
        print(f"{r.status:8} {r.visitor:12} {r.path}" + (f"  ({shown})" if shown else ""))
        if r.status == "failed":
            failed |= not r.optional
            note(
                f"visitor {r.visitor} failed on {r.path}"
                f"{' (optional)' if r.optional else ''}:\n{r.error.rstrip()}"
            )
    return 1 if failed else 0


def cmd_show(args: argparse.Namespace) -> int:
    from mdflow.commands.visit import show

    run, texts = show(_repo(), args.path, args.remote)
    print(f"# {args.path} — {run}")
    if not texts:
        print("no reports yet: run mdflow visit")
    for path, text in sorted(texts.items()):
        print(f"\n## {path}\n\n{text.rstrip()}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from mdflow.commands.get import get

    target, ref = get(args.source, args.path, args.rev, args.out)
    print(f"got {ref.path} at {ref.commit[:10]} ({ref.hash}) into {target}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from mdflow.commands.imports import import_dataset

    repo = _repo()
    d = import_dataset(repo, args.source, args.path, args.rev, args.out)
    rel, source = repo.rel(d.data), d.pointer.source
    assert source is not None
    print(f"imported {source.path} from {source.repo} at {source.commit[:10]} as {rel}")
    folder = rel.rpartition("/")[0]
    note(f"next: git add {rel}.mdflow {folder + '/' if folder else ''}.gitignore")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from mdflow.commands.imports import update

    repo = _repo()
    for arg in args.paths:
        before, after = update(repo, arg, args.rev)
        source = after.pointer.source
        assert source is not None
        if after is before:
            print(f"{repo.rel(after.data)} is up to date ({source.commit[:10]})")
        else:
            print(f"updated {repo.rel(after.data)} to {source.commit[:10]} ({after.pointer.hash})")
    return 0
