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
    path = repo.root / PRE_COMMIT_CONFIG
    before = path.read_text() if path.exists() else None
    types, text = updated_config(before)
    if text == before:
        return types, []
    path.write_text(text)
    return types, [PRE_COMMIT_CONFIG]


def updated_config(before: str | None) -> tuple[list[str], str]:
    """The hook types and the text of .pre-commit-config.yaml with mdflow's hooks in it.

    The user's text is edited in place (their comments, order and style kept): mdflow's block
    replaces the one an earlier install wrote, and the hook types are completed. When the file
    is shaped so that an edit cannot be proven right, it is written anew."""
    import yaml

    data = yaml.safe_load(before) if before is not None else None
    data = data if isinstance(data, dict) else {}
    types = list(data.get("default_install_hook_types") or [])
    data["default_install_hook_types"] = types + [t for t in HOOK_TYPES if t not in types]
    repos = [r for r in data.get("repos") or [] if not _is_mdflow_local(r)]
    data["repos"] = [{"repo": "local", "hooks": _hooks()}, *repos]
    if before is not None and _loads(before) == data:
        return data["default_install_hook_types"], before  # up to date: not even re-spaced
    if before is not None:
        edited = _edited(before, data["default_install_hook_types"])
        if edited is not None and _loads(edited) == data:
            return data["default_install_hook_types"], edited
    return data["default_install_hook_types"], yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False
    )


def _loads(text: str) -> object:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _hooks() -> list[dict[str, Any]]:
    extra = {"language": "system", "pass_filenames": False, "always_run": True}
    return [{**h, **extra, "require_serial": True} for h in LOCAL_HOOKS]


def _edited(text: str, types: list[str]) -> str | None:
    """`text` with mdflow's block first in `repos:` and the hook types set, or None when its
    shape is not the usual one (block style `repos:` with at least one entry)."""
    import yaml

    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return None
    values = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    repos = values.get("repos")
    if not isinstance(repos, yaml.SequenceNode) or repos.flow_style or not repos.value:
        return None
    edits: list[tuple[int, int, str]] = []  # (start, end, new text), applied from the end
    loaded = yaml.safe_load(text)["repos"]
    for item, entry in zip(repos.value, loaded, strict=True):
        if _is_mdflow_local(entry):
            start = text.rfind("\n", 0, item.start_mark.index) + 1
            edits.append((start, _line_end(text, _last_scalar(item).end_mark.index), ""))
    first = repos.value[0].start_mark
    dash = text.rfind("\n", 0, first.index) + 1
    block = yaml.safe_dump([{"repo": "local", "hooks": _hooks()}], sort_keys=False)
    indent = text[dash : first.index - 2]  # what precedes "- " on the first entry's line
    edits.append((dash, dash, "".join(indent + line + "\n" for line in block.splitlines())))
    types_edit = _types_edit(text, values.get("default_install_hook_types"), types)
    if types_edit is None:
        return None
    edits += [types_edit]
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text if text.endswith("\n") else text + "\n"


def _types_edit(text: str, node: object, types: list[str]) -> tuple[int, int, str] | None:
    """The edit completing `default_install_hook_types` (`types` starts with the ones there)."""
    import yaml

    if node is None:
        return len(text), len(text), f"default_install_hook_types: [{', '.join(types)}]\n"
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        return None
    missing = types[len(node.value) :]
    if node.flow_style:
        return node.start_mark.index, node.end_mark.index, f"[{', '.join(types)}]"
    last = node.value[-1].start_mark
    at = text.find("\n", node.value[-1].end_mark.index)
    at = len(text) if at < 0 else at + 1
    indent = text[text.rfind("\n", 0, last.index) + 1 : last.index - 2]
    return at, at, "".join(f"{indent}- {t}\n" for t in missing)


def _last_scalar(node: Any) -> Any:
    """The last scalar inside a node: where its text ends (comments after it excluded)."""
    while node.value and not isinstance(node.value, str):
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def _line_end(text: str, index: int) -> int:
    """The start of the line after the one holding `index`."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _is_mdflow_local(entry: object) -> bool:
    if not isinstance(entry, dict) or entry.get("repo") != "local":
        return False
    ids = {h.get("id") for h in entry.get("hooks") or [] if isinstance(h, dict)}
    return bool(ids) and ids <= {h["id"] for h in LOCAL_HOOKS}
