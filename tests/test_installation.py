"""`mdflow install` edits a team's .pre-commit-config.yaml in place: their comments, order
and other hooks survive, and a second install changes nothing."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import mdflow

from mdflow.installation import HOOK_TYPES, LOCAL_HOOKS, updated_config

TEAM = """\
# Team hooks: keep this comment
default_install_hook_types:
  - pre-commit   # ours
repos:
  # formatting first
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.0  # pinned
    hooks:
      - id: ruff
"""

OLD_MDFLOW = """\
repos:
- repo: local
  hooks:
  - id: mdflow-check
    entry: mdflow hook check   # written by an older mdflow
# a comment after it, kept
- repo: local
  hooks:
  - id: team-lint   # the team's own local hook, kept
    name: team lint
    entry: make lint
    language: system
default_install_hook_types: [pre-commit]
"""


def mdflow_ids(data: dict[str, object]) -> list[str]:
    first = data["repos"][0]  # type: ignore[index]
    assert first["repo"] == "local"
    return [h["id"] for h in first["hooks"]]


def test_comments_order_and_other_hooks_survive(tmp_path: Path) -> None:
    types, text = updated_config(TEAM)
    assert types == HOOK_TYPES
    for kept in (
        "# Team hooks: keep this comment",
        "- pre-commit   # ours",
        "# formatting first",
        "rev: v0.6.0  # pinned",
    ):
        assert kept in text
    data = yaml.safe_load(text)
    assert mdflow_ids(data) == [h["id"] for h in LOCAL_HOOKS]
    assert data["repos"][1]["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    assert data["default_install_hook_types"] == HOOK_TYPES
    assert updated_config(text) == (types, text)  # a second install changes nothing


def test_an_older_mdflow_block_is_replaced_and_the_teams_local_hooks_kept() -> None:
    _, text = updated_config(OLD_MDFLOW)
    data = yaml.safe_load(text)
    assert text.count("id: mdflow-check\n") == 1 and "written by an older mdflow" not in text
    assert "# a comment after it, kept" in text and "# the team's own local hook, kept" in text
    assert mdflow_ids(data) == [h["id"] for h in LOCAL_HOOKS]
    assert data["repos"][1]["hooks"][0]["id"] == "team-lint"
    assert data["default_install_hook_types"] == HOOK_TYPES
    assert updated_config(text)[1] == text


def test_an_unusual_shape_is_written_anew_and_still_right() -> None:
    for before in ("repos: []\n", "repos: [{repo: meta, hooks: [{id: identity}]}]\n", "", "[1]\n"):
        _, text = updated_config(before)
        data = yaml.safe_load(text)
        assert mdflow_ids(data) == [h["id"] for h in LOCAL_HOOKS], before
        assert data["default_install_hook_types"] == HOOK_TYPES


def test_install_keeps_the_teams_file(repo: Path) -> None:
    offline = OLD_MDFLOW.replace("# a comment after it", "# formatting first")  # no download
    (repo / ".pre-commit-config.yaml").write_text(offline)
    r = mdflow(repo, "install")
    assert r.code == 0, r.err
    text = (repo / ".pre-commit-config.yaml").read_text()
    assert "# formatting first" in text and "# the team's own local hook, kept" in text
    assert (repo / ".git/hooks/post-commit").exists()
    r = mdflow(repo, "install")
    assert r.code == 0 and ".pre-commit-config.yaml" not in r.err, r.err
