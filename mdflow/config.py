"""Configuration: committed `mdflow.yaml` and machine-local `.mdflow/config.local.yaml`.

Local settings override committed ones key by key. Secrets belong only in the local file or
in environment variables.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mdflow import urls, yamlfile
from mdflow.errors import FormatError, describe
from mdflow.format_version import Version1

FILE_NAME = "mdflow.yaml"
LOCAL_NAME = "config.local.yaml"
REMOTE_NAME = re.compile(r"[A-Za-z0-9._-]+")
NAME_RULE = "letters, digits, '.', '_' and '-' only, and not '.' or '..'"
CREDENTIALS_HINT = (
    f"give the URL without them; credentials go in .mdflow/{LOCAL_NAME} (auth: under the "
    "remote) or in MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN"
)


class LinkType(StrEnum):
    reflink = "reflink"
    copy = "copy"
    hardlink = "hardlink"
    symlink = "symlink"


class CoreConfig(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")
    lock_timeout: float = Field(30.0, ge=0, description="Seconds to wait for the repo lock.")


class CacheConfig(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")
    link: list[LinkType] = Field(
        default_factory=lambda: [LinkType.reflink, LinkType.copy],
        min_length=1,
        description="Workspace link types, tried in order. hardlink/symlink are opt-in.",
    )


class AuthConfig(BaseModel):
    """Credentials: only in .mdflow/config.local.yaml or the environment, never committed."""

    model_config = ConfigDict(defer_build=True, extra="forbid")
    token: str | None = None
    username: str | None = None
    password: str | None = None


class RemoteConfig(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")
    url: str = Field(description="http(s)://host:port of an MLflow server, or a folder.")
    experiment: str | None = Field(None, description="Default: mdflow/<repository folder>.")
    auth: AuthConfig | None = Field(None, description="Local config only.")


def is_remote_name(name: object) -> bool:
    """A remote name is an identifier: it names the folder .mdflow/remotes/<name>/."""
    return isinstance(name, str) and bool(REMOTE_NAME.fullmatch(name)) and name not in (".", "..")


def check_remote_name(name: str) -> str:
    if not is_remote_name(name):
        raise ValueError(f"{name!r} is not a remote name ({NAME_RULE})")
    return name


class RemoteSection(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")
    default: str | None = None
    remotes: dict[str, RemoteConfig] = Field(default_factory=dict)

    @field_validator("default")
    @classmethod
    def _default_name(cls, name: str | None) -> str | None:
        return None if name is None else check_remote_name(name)

    @field_validator("remotes")
    @classmethod
    def _remote_names(cls, remotes: dict[str, RemoteConfig]) -> dict[str, RemoteConfig]:
        for name in remotes:
            check_remote_name(name)
        return remotes


class HooksConfig(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")
    push: Literal["upload", "check"] = Field(
        "upload",
        description="upload: a commit uploads its staged versions, pre-push the data of the "
        "commits being pushed; check: nothing is uploaded, pre-push fails on missing data.",
    )
    checkout: Literal["warn", "restore"] = Field(
        "warn", description="post-checkout/merge: warn about stale data, or restore it."
    )
    max_file_size: int = Field(
        1 << 20, ge=0, description="pre-commit: refuse staging files this large into Git."
    )
    modified_data: Literal["warn", "fail", "ignore"] = Field(
        "warn",
        description="pre-commit: a tracked dataset changed in the workspace but not added "
        "(mdflow add): warn, fail the commit, or say nothing.",
    )


class VisitorConfig(BaseModel):
    """One visitor declared in mdflow.yaml: a built-in name or a user class."""

    model_config = ConfigDict(defer_build=True, extra="forbid")
    use: str = Field(description="Built-in name, `module:Class` or `path/to/file.py:Class`.")
    name: str | None = Field(
        None,
        description="Its name: reports under reports/<name>/, metrics <name>.<metric>. "
        "Default: the class's name. Tells apart a visitor declared twice.",
    )
    paths: list[str] = Field(
        default_factory=lambda: ["**"], description="Dataset path patterns (fnmatch)."
    )
    options: dict[str, Any] = Field(default_factory=dict)
    optional: bool = Field(False, description="A failure is reported but does not fail.")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not is_remote_name(name):
            raise ValueError(f"{name!r} is not a visitor name ({NAME_RULE})")
        return name


class DatasetRoles(BaseModel):
    """What a dataset is for, as visitors use it (target distribution per split, ...)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")
    paths: list[str] = Field(description="Dataset path patterns (fnmatch).")
    split: Literal["train", "test", "validation"] | None = None
    target: str | None = Field(None, description="The target (label) column.")
    prediction: str | None = Field(None, description="A model's prediction column.")
    category: str | None = Field(
        None, description="A category column the report page groups distributions by."
    )
    key: list[str] = Field(
        default_factory=list, description="Columns that identify a row (mdflow diff)."
    )


def roles_for(roles: list[DatasetRoles], path: str) -> DatasetRoles | None:
    """The first `datasets:` entry whose patterns match the data path `path`."""
    import fnmatch

    return next((r for r in roles if any(fnmatch.fnmatch(path, p) for p in r.paths)), None)


class Config(BaseModel):
    """Unknown top-level sections are kept so newer configs still load."""

    model_config = ConfigDict(defer_build=True, extra="allow", title="mdflow configuration")

    mdflow: Version1 = 1
    core: CoreConfig = Field(default_factory=CoreConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    remote: RemoteSection = Field(default_factory=RemoteSection)
    hooks: HooksConfig = Field(default_factory=HooksConfig)
    visitors: list[VisitorConfig] = Field(default_factory=list)
    datasets: list[DatasetRoles] = Field(default_factory=list)
    verify: Literal["xxh3", "sha256"] = Field(
        "xxh3",
        description="sha256: mdflow add records SHA-256 digests too, and every copy out of the "
        "cache or download from a remote is checked against them (docs/reliability.md).",
    )


def load(root: Path, committed: dict[str, Any] | None = None) -> Config:
    """The configuration of the repository at `root`: `committed` (the contents of mdflow.yaml,
    e.g. as read from a commit) or the file itself, overridden by the local file."""
    data = read_committed(root) if committed is None else committed
    _refuse_secrets(data)
    local = _read(root / ".mdflow" / LOCAL_NAME)
    _check_names(local, f".mdflow/{LOCAL_NAME}")
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


VISITORS_TEXT = """\
# Visitors write reports on every dataset version to its MLflow run: on each commit (after
# `mdflow install`) and with `mdflow visit`. Delete a line to drop one; add
# `paths: ["data/*.csv"]` under one to narrow it; `optional: true` reports a failure without
# failing the commit. More (target, your own classes): README.md, "Visitors".
visitors:
- use: schema    # tables: columns, dtypes, nulls; columns added, removed, retyped
- use: summary   # tables: statistics of every column
- use: rows      # rows and size, and their change since the previous version
- use: preview   # tables: the first rows
- use: drift     # tables: how far each column moved since the previous version
- use: plots     # tables: histograms and box plots (PNG; needs matplotlib)
  optional: true
- use: folder    # folders: files, extensions; files added, removed, changed
- use: report    # one HTML page per version (reports/index.html): all of the above, charted
"""
NO_VISITORS_TEXT = """\
# No visitors (mdflow init --no-visitors). To have reports on every version, declare some:
# visitors:
# - use: schema    # see README.md, "Visitors", for the built-ins
"""


def default_text(visitors: bool = True) -> str:
    """The mdflow.yaml `mdflow init` writes; with `visitors`, the default set of visitors."""
    return (
        "# mdflow configuration, committed with the repository (docs: README.md).\n"
        "# Machine-local settings and secrets go to .mdflow/config.local.yaml.\n"
        "mdflow: 1\n"
        "cache:\n"
        "  link: [reflink, copy]\n" + (VISITORS_TEXT if visitors else NO_VISITORS_TEXT)
    )


def read_committed(root: Path) -> dict[str, Any]:
    return _read(root / FILE_NAME)


def write_committed(root: Path, data: dict[str, Any]) -> None:
    """Write `data` into mdflow.yaml (validated first). Only the top-level sections that
    changed are rewritten: the rest of the text, comments included, stays as it was."""
    _refuse_secrets(data)
    Config.model_validate(data)
    path = root / FILE_NAME
    text = path.read_text() if path.exists() else ""
    before = parse(text, FILE_NAME, f"fix {path}")
    for key in [*before, *(k for k in data if k not in before)]:
        if before.get(key) != data.get(key) or (key in before) != (key in data):
            text = _with_section(text, key, {key: data[key]} if key in data else None)
    if parse(text, FILE_NAME, f"fix {path}") != data:  # a layout too odd to edit: rewrite it
        text = _dump(data)
    path.write_text(text)


def _dump(data: dict[str, Any]) -> str:
    return yamlfile.dump(data)


def _with_section(text: str, key: str, section: dict[str, Any] | None) -> str:
    """`text` with the top-level `key:` block replaced by `section` (None: removed; appended
    when there is none)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _top_key(line) == key), None)
    new = [] if section is None else _dump(section).splitlines(keepends=True)
    if start is None:
        head = "".join(lines)
        return head + ("\n" if head and not head.endswith("\n") else "") + "".join(new)
    end = start + 1
    while end < len(lines) and _top_key(lines[end]) is None and not lines[end].startswith("---"):
        end += 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # blank lines and comments at the margin lead into what follows
    return "".join([*lines[:start], *new, *lines[end:]])


def _top_key(line: str) -> str | None:
    """The key a line starts at the margin (`key:` or `key: value`), else None."""
    if not line or line[0] in " \t#\n\r-.":
        return None
    key, sep, rest = line.partition(":")
    return key.strip() if sep and (not rest or rest[0] in " \t\r\n") else None


def _refuse_secrets(data: dict[str, Any]) -> None:
    """Committed remotes: identifiers for names, no credentials (auth, or in the URL)."""
    _check_names(data, FILE_NAME)
    for name, remote in _remotes(data):
        if "auth" in remote:
            raise FormatError(
                f"{FILE_NAME} holds credentials for remote {name!r} (remote.remotes.{name}.auth)",
                f"move them to .mdflow/{LOCAL_NAME} or environment variables",
            )
        url = remote.get("url")
        if isinstance(url, str) and urls.has_user_info(url):
            raise FormatError(
                f"{FILE_NAME} holds a user name or password in the URL of remote {name!r} "
                f"({urls.redact(url)})",
                CREDENTIALS_HINT,
            )


def _check_names(data: dict[str, Any], origin: str) -> None:
    section = data.get("remote")
    default = section.get("default") if isinstance(section, dict) else None
    names = [name for name, _ in _remotes(data, every=True)]
    for name in [*names, *([default] if default is not None else [])]:
        if not is_remote_name(name):
            raise FormatError(
                f"{origin} names a remote {name!r}, which is not a valid remote name",
                f"rename it in {origin}: remote names are {NAME_RULE}",
            )


def _remotes(data: dict[str, Any], every: bool = False) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(name, settings) of each remote in a configuration mapping; with `every`, also those
    whose settings are not a mapping."""
    section = data.get("remote")
    remotes = section.get("remotes") if isinstance(section, dict) else None
    for name, remote in remotes.items() if isinstance(remotes, dict) else ():
        if isinstance(remote, dict) or every:
            yield name, remote if isinstance(remote, dict) else {}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()  # the YAML reader decodes: invalid UTF-8 is a FormatError
    except FileNotFoundError:
        return {}
    return parse(data, path.name, f"fix {path}")


def parse(text: str | bytes, origin: str, fix: str) -> dict[str, Any]:
    """A configuration file's mapping, read with the safe loader."""
    try:
        data = yamlfile.load(text)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0]
        raise FormatError(f"{origin}: not valid YAML ({first})", fix) from None
    except RecursionError:  # PyYAML recurses once per level of `[[[...` or `{a: {a: ...`
        raise FormatError(f"{origin}: not valid YAML (nested too deeply)", fix) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FormatError(f"{origin}: expected a YAML mapping", fix)
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
