"""Git hooks: the checks pre-commit runs (`mdflow hook check|visit|commit|push|checkout`);
installation.py sets them up.

Each is quick when nothing relevant changed: `check` reads only the staged file list, `push`
only the pointers of the commits being pushed, `checkout` only what status reads.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from mdflow import datasets, gitrepo
from mdflow import pointer as ptr
from mdflow.errors import MdflowError
from mdflow.render import plural
from mdflow.repo import Repo
from mdflow.status import CLEAN, MISSING_CACHE, MODIFIED, Status, status

LARGE = 1 << 20  # staged files from this size up must go through mdflow add
ZERO = "0" * 40


@dataclass
class HookReport:
    problems: list[str] = field(default_factory=list)  # one line each: what and what to do
    notes: list[str] = field(default_factory=list)


def check(repo: Repo, max_size: int = LARGE, modified_data: str = "warn") -> HookReport:
    """pre-commit: staged pointers match their data; no data goes into Git itself; data
    changed in the workspace but not added is named (`modified_data`: warn, fail, ignore)."""
    report = HookReport()
    staged = _staged(repo)
    if not staged:
        return report
    pointers = {p for p in staged if p.endswith(ptr.SUFFIX)}
    if pointers:
        for s in status(repo, [str(repo.root / p) for p in sorted(pointers)]):
            if s.state == MISSING_CACHE:
                report.problems.append(f"{s.path}: not in the cache — run mdflow add {s.path}")
            elif s.state != CLEAN:
                report.problems.append(
                    f"{s.path}: the data differs from its staged pointer ({s.state}) — run "
                    f"mdflow add {s.path} && git add {s.pointer}"
                )
    if modified_data != "ignore":
        lines = _unrecorded(repo, pointers)
        if modified_data == "fail":
            report.problems += lines
        else:
            report.notes += [f"mdflow: warning: {line}" for line in lines]
    tracked = {repo.rel(d.data): d for d in datasets.all_datasets(repo)}
    data_files = [p for p in staged if not p.endswith(ptr.SUFFIX)]
    for path in data_files:
        owner = next((t for t in tracked if path == t or path.startswith(t + "/")), None)
        if owner:
            report.problems.append(
                f"{path} is data tracked by {owner}.mdflow but staged into Git — run "
                f"git rm -r --cached {owner}"
            )
    for path, size in gitrepo.staged_sizes(repo.root, data_files).items():
        if size >= max_size and not any(path == t or path.startswith(t + "/") for t in tracked):
            report.problems.append(
                f"{path} ({size / 1e6:.1f} MB) is staged into Git — track it instead: "
                f"git rm --cached {path} && mdflow add {path}"
            )
    return report


def _unrecorded(repo: Repo, staged_pointers: set[str]) -> list[str]:
    """A line for each dataset whose workspace data changed but whose pointer is not staged:
    the commit keeps its previous version (hooks.modified_data says warn or fail)."""
    others = [str(repo.root / p) for p in gitrepo.pointer_files(repo.root)]
    others = [p for p in others if repo.rel(Path(p)) not in staged_pointers]
    if not others:
        return []
    return [
        f"{s.path} changed in the workspace but this commit keeps its previous "
        f"version — run mdflow add {shlex.quote(s.path)} && git add {shlex.quote(s.pointer)} "
        "to commit the new one"
        for s in status(repo, others)
        if s.state == MODIFIED
    ]


def _staged(repo: Repo) -> list[str]:
    """Files added or modified in the index."""
    out = gitrepo.run(repo.root, "diff", "--cached", "--name-only", "-z", "--diff-filter=AM")
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def pushed_objects(
    repo: Repo, from_ref: str | None, to_ref: str, remote_name: str | None
) -> set[str]:
    """Objects every pointer in the commits being pushed needs."""
    if from_ref and from_ref != ZERO:
        spec = [to_ref, f"^{from_ref}"]
    elif remote_name:
        spec = [to_ref, "--not", f"--remotes={remote_name}"]
    else:
        spec = [to_ref]
    blobs = gitrepo.pointer_blobs_in(repo.root, *spec)
    oids: set[str] = set()
    if not blobs:
        return oids
    reader = gitrepo.BlobReader(repo.root)
    try:
        for sha, text in reader.read_many(blobs):
            p = ptr.Pointer.from_yaml(text, f"{blobs[sha]} ({sha[:10]})")
            oids |= p.tops()
            if p.kind == "dir":
                oids |= _manifest_files(repo, p.hash, blobs[sha])
    finally:
        reader.close()
    return oids


def _manifest_files(repo: Repo, oid: str, where: str) -> set[str]:
    manifest = datasets.cached_manifest(repo, oid, where)
    if manifest is None:
        raise MdflowError(
            f"the manifest of {where} ({oid}) is not in the local cache",
            "mdflow pull it first, or push from a clone that has it",
        )
    return {f.hash for f in manifest.files}


def push(repo: Repo, check_only: bool) -> HookReport:
    """pre-push: the data of the commits being pushed is on the MLflow remote."""
    from mdflow.remote.inventory import RemoteIndex
    from mdflow.transfer import push as push_objects

    report = HookReport()
    to_ref = os.environ.get("PRE_COMMIT_TO_REF") or "HEAD"
    oids = pushed_objects(
        repo,
        os.environ.get("PRE_COMMIT_FROM_REF"),
        to_ref,
        os.environ.get("PRE_COMMIT_REMOTE_NAME"),
    )
    if not oids:
        return report
    with repo.remote(hint="check the remote (mdflow remote list), then git push again") as remote:
        index = RemoteIndex(remote.store, remote.state)
        if check_only:
            index.load()
            if not all(index.has(o) for o in oids):
                index.sync()
            missing = sorted(o for o in oids if not index.has(o))
            if missing:
                report.problems.append(
                    f"{plural(len(missing), 'object')} of the commits being pushed "
                    f"{'is' if len(missing) == 1 else 'are'} not on remote {remote.name} — "
                    "run mdflow push"
                )
            return report
        result = push_objects(repo.cache, index, oids)
    for oid, why in sorted(result.failed.items()):
        report.problems.append(f"{oid}: {why} — run mdflow push, then git push again")
    if result.transferred:
        report.notes.append(
            f"mdflow: pushed {plural(len(result.transferred), 'object')} to {remote.name}"
        )
    return report


def visit_staged(repo: Repo) -> HookReport:
    """pre-commit: upload each staged dataset version (unless hooks.push is `check`) and
    record it as a run (so that the run's dataset loads from the server alone), run its
    visitors, and stage the pointers that now link to their runs, so one `git commit`
    carries the links.
    """
    report = HookReport()
    pointers = [p for p in _staged(repo) if p.endswith(ptr.SUFFIX)]
    if not pointers:
        return report
    from mdflow.reports import visit
    from mdflow.sync import SyncReport, problems, push_datasets, record_versions

    chosen = datasets.select(repo, [str(repo.root / p) for p in pointers])
    before = {d.pointer_file: d.pointer_file.read_bytes() for d in chosen}
    with repo.remote(hint="check the remote (mdflow remote list), then commit again") as remote:
        if repo.config.hooks.push == "upload":
            failed = problems(push_datasets(repo, remote, chosen))
            report.notes += [f"mdflow: warning: not uploaded: {x} — mdflow push" for x in failed]
        else:  # hooks.push: check, nothing is uploaded by a hook
            record_versions(repo, remote, chosen, SyncReport(remote.name))
    for r in visit(repo, [str(d.data) for d in chosen]):
        if r.status == "failed":
            line = f"visitor {r.visitor} failed on {r.path}:\n{r.error.rstrip()}"
            (report.notes if r.optional else report.problems).append(line)
        elif r.status == "ran":
            report.notes.append(f"mdflow: {r.visitor} reported on {r.path}")
    changed = [str(f) for f, data in before.items() if f.read_bytes() != data]
    if changed:
        gitrepo.run(repo.root, "add", "--", *changed)
    return report


def after_commit(repo: Repo) -> HookReport:
    """post-commit: the versions this commit holds are committed now; confirm the runs the
    pre-commit hook recorded for them as pending. Never fails: a remote out of reach leaves
    them pending, and the next push confirms them."""
    from mdflow.sync import confirm_versions

    report = HookReport()
    out = gitrepo.run(
        repo.root, "diff-tree", "--no-commit-id", "--root", "-r", "-z", "--name-only", "HEAD"
    )
    names = [
        p for p in out.decode("utf-8", "surrogateescape").split("\0") if p.endswith(ptr.SUFFIX)
    ]
    present = [str(repo.root / p) for p in names if (repo.root / p).is_file()]
    if not present:
        return report
    hint = "mdflow push confirms them later"
    try:
        with repo.remote(hint=hint) as remote:
            done = confirm_versions(repo, remote, datasets.select(repo, present))
    except MdflowError as e:
        report.notes.append(f"mdflow: versions of this commit left pending: {e}")
        return report
    if done:
        report.notes.append(f"mdflow: {len(done)} version runs now name commit {_head(repo)[:10]}")
    return report


def _head(repo: Repo) -> str:
    return gitrepo.resolve(repo.root, "HEAD")


def after_checkout(repo: Repo, restore: bool) -> HookReport:
    """post-checkout / post-merge: say (or fix) what no longer matches the pointers."""
    report = HookReport()
    stale = [s for s in status(repo, []) if s.state != CLEAN]
    if not stale:
        return report
    if restore:
        from mdflow.checkout import checkout

        result = checkout(repo, [s.path for s in stale])
        report.notes.append(f"mdflow: {plural(len(result.restored), 'file')} restored")
        report.notes += [f"mdflow: kept {k} (not in the cache)" for k in result.kept_modified]
        report.notes += [
            f"mdflow: missing from cache: {k} — mdflow pull" for k in result.missing_cache
        ]
    else:
        names = " ".join(s.path for s in stale[:5]) + (" …" if len(stale) > 5 else "")
        report.notes.append(
            f"mdflow: {plural(len(stale), 'dataset')} {'does' if len(stale) == 1 else 'do'} "
            f"not match {'its pointer' if len(stale) == 1 else 'their pointers'} ({names}) — "
            f"{_next_step(stale)}"
        )
    return report


def _next_step(stale: list[Status]) -> str:
    """A command that works for every stale dataset, else where to look."""
    if all(s.cached for s in stale):
        return "run mdflow checkout"
    if all(s.cached or s.pullable for s in stale):
        return "run mdflow pull"
    return "see mdflow status"
