"""Installation of the Git hooks (`mdflow install`): the `repo: local` hooks in
.pre-commit-config.yaml, pre-commit's hook scripts, and the Git diff and merge drivers."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from mdflow.errors import MdflowError
from mdflow.repo import Repo

PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
HOOK_TYPES = ["pre-commit", "post-commit", "pre-push", "post-checkout", "post-merge"]
LOCAL_HOOKS: list[dict[str, Any]] = [
    {
        "id": "mdflow-check",
        "name": "mdflow check",
        "entry": "mdflow hook check",
        "stages": ["pre-commit"],
        "verbose": True,  # its warnings (data changed but not added) must show
    },
    {
        "id": "mdflow-visit",
        "name": "mdflow visit",
        "entry": "mdflow hook visit",
        "stages": ["pre-commit"],
        "verbose": True,
    },
    {
        "id": "mdflow-commit",
        "name": "mdflow commit",
        "entry": "mdflow hook commit",
        "stages": ["post-commit"],
        "verbose": True,
    },
    {
        "id": "mdflow-push",
        "name": "mdflow push",
        "entry": "mdflow hook push",
        "stages": ["pre-push"],
        "verbose": True,
    },
    {
        "id": "mdflow-checkout",
        "name": "mdflow checkout",
        "entry": "mdflow hook checkout",
        "stages": ["post-checkout", "post-merge"],
        "verbose": True,
    },
]


@dataclass
class Installed:
    types: list[str]  # the hook types installed
    changed: list[str]  # the committed files this install wrote (to git add), else none


def install(repo: Repo) -> Installed:
    """Write the mdflow hooks into .pre-commit-config.yaml and install every hook type.

    The hooks are `repo: local` with `language: system`, so they run the mdflow on PATH and
    pre-commit never builds an environment holding MLflow. Other repos and hooks in the file
    are kept.
    """
    from mdflow import drivers

    done = Installed(*_write_pre_commit_config(repo))
    if drivers.install(repo):
        done.changed.append(".gitattributes")
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", "--install-hooks"],
        cwd=repo.root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise MdflowError(
            f"pre-commit install failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}",
            "check that pre-commit is installed (pip install pre-commit)",
        )
    return done


def _write_pre_commit_config(repo: Repo) -> tuple[list[str], list[str]]:
    """(the hook types, [the file] when its text changed)."""
    import yaml

    path = repo.root / PRE_COMMIT_CONFIG
    before = path.read_text() if path.exists() else None
    data = yaml.safe_load(before) if before is not None else None
    data = data if isinstance(data, dict) else {}
    types = list(data.get("default_install_hook_types") or [])
    data["default_install_hook_types"] = types + [t for t in HOOK_TYPES if t not in types]
    repos = [r for r in data.get("repos") or [] if not _is_mdflow_local(r)]
    hooks = [
        {
            **h,
            "language": "system",
            "pass_filenames": False,
            "always_run": True,
            "require_serial": True,
        }
        for h in LOCAL_HOOKS
    ]
    data["repos"] = [{"repo": "local", "hooks": hooks}, *repos]
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if text == before:
        return data["default_install_hook_types"], []
    path.write_text(text)
    return data["default_install_hook_types"], [PRE_COMMIT_CONFIG]


def _is_mdflow_local(entry: object) -> bool:
    if not isinstance(entry, dict) or entry.get("repo") != "local":
        return False
    ids = {h.get("id") for h in entry.get("hooks") or [] if isinstance(h, dict)}
    return bool(ids) and ids <= {h["id"] for h in LOCAL_HOOKS}
