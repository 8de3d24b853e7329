"""Configuration: committed `mdflow.yaml` and machine-local `.mdflow/config.local.yaml`.

Local settings override committed ones key by key. Secrets belong only in the local file or
in environment variables.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mdflow.errors import FormatError, describe

FILE_NAME = "mdflow.yaml"
LOCAL_NAME = "config.local.yaml"


class LinkType(StrEnum):
    reflink = "reflink"
    copy = "copy"
    hardlink = "hardlink"
    symlink = "symlink"


class CoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lock_timeout: float = Field(30.0, ge=0, description="Seconds to wait for the repo lock.")


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    link: list[LinkType] = Field(
        default_factory=lambda: [LinkType.reflink, LinkType.copy],
        min_length=1,
        description="Workspace link types, tried in order. hardlink/symlink are opt-in.",
    )


class Config(BaseModel):
    """Unknown top-level sections are kept so newer configs still load."""

    model_config = ConfigDict(extra="allow", title="mdflow configuration")

    mdflow: Literal[1] = 1
    core: CoreConfig = Field(default_factory=CoreConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)


def load(root: Path) -> Config:
    data = _read(root / FILE_NAME)
    local = _read(root / ".mdflow" / LOCAL_NAME)
    merged = _merge(data, local)
    version = merged.get("mdflow", 1)
    if isinstance(version, int) and version > 1:
        raise FormatError(
            f"{FILE_NAME} has format {version}, newer than this mdflow reads",
            f"upgrade mdflow (pip install -U mdflow-data), or fix {FILE_NAME}",
        )
    try:
        return Config.model_validate(merged)
    except ValidationError as e:
        raise FormatError(
            f"configuration {describe(e)}",
            f"fix {FILE_NAME} or .mdflow/{LOCAL_NAME}",
        ) from None


def default_text() -> str:
    return (
        "# mdflow configuration, committed with the repository (docs: README.md).\n"
        "# Machine-local settings and secrets go to .mdflow/config.local.yaml.\n"
        "mdflow: 1\n"
        "cache:\n"
        "  link: [reflink, copy]\n"
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0]
        raise FormatError(f"{path.name}: not valid YAML ({first})", f"fix {path}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FormatError(f"{path.name}: expected a YAML mapping", f"fix {path}")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
