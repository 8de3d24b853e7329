"""`mdflow gc` and `mdflow fsck`: keep the cache small and sound."""

from __future__ import annotations

from collections.abc import Callable

from mdflow import fsck as checks
from mdflow import gc as collector
from mdflow.errors import MdflowError
from mdflow.fsck import FsckReport
from mdflow.gc import GcPlan
from mdflow.repo import Repo


def gc(
    repo: Repo,
    prune: str,
    dry_run: bool,
    show: Callable[[GcPlan], None],
    confirm: Callable[[GcPlan], bool] | None,
) -> tuple[GcPlan, bool]:
    """Plan under the lock, `show` the plan, then delete unless `dry_run` or `confirm` says
    no. `confirm` None: no one can be asked (run with --force to delete without asking).
    Returns (the plan, whether the deletion was declined)."""
    expiry = collector.parse_expiry(prune)
    with repo.lock():
        plan = collector.plan(repo, expiry)
        show(plan)
        if dry_run or not (plan.unreachable or plan.stale_tmp):
            return plan, False
        if confirm is None:
            raise MdflowError(
                f"gc would delete {len(plan.unreachable)} objects",
                "rerun with --force, or --dry-run to list them",
            )
        if not confirm(plan):
            return plan, True
        collector.execute(repo, plan)
    return plan, False


def fsck(repo: Repo) -> FsckReport:
    """Re-hash every cache object; quarantine the corrupt ones."""
    return checks.fsck(repo)
