"""Visitors: small classes that describe a dataset version and write reports.

A visitor gets the version being recorded and the previous one (when there is one), writes
report files (markdown, json, png, html) into a folder and returns a few scalar metrics. They
are declared in mdflow.yaml; built-ins by name, user classes by `module:Class` or
`path/to/file.py:Class`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from mdflow.errors import MdflowError
from mdflow.visitors.base import (
    BUILTINS,
    MAX_ROWS,
    DatasetVersion,
    Findings,
    TableVisitor,
    Visitor,
    builtin,
)

__all__ = [
    "MAX_ROWS",
    "DatasetVersion",
    "Findings",
    "TableVisitor",
    "Visitor",
    "builtin",
    "load",
]


def load(use: str, root: Path, options: dict[str, Any]) -> Visitor:
    """A visitor instance for `use`: a built-in name, `module:Class` or `file.py:Class`."""
    from mdflow.visitors import analysis, builtins, page  # noqa: F401 - registers the built-ins

    cls: Any
    if use in BUILTINS:
        cls = BUILTINS[use]
    else:
        target, sep, attr = use.rpartition(":")
        if not sep or not target or not attr:
            known = ", ".join(sorted(BUILTINS))
            raise MdflowError(
                f"unknown visitor {use!r}",
                f"use a built-in ({known}), module:Class or file.py:Class",
            )
        cls = getattr(_module(target, root), attr, None)
        if cls is None:
            raise MdflowError(f"visitor {use!r}: no {attr} in {target}", "check the class name")
    instance = cls(**options)
    if not getattr(instance, "name", None):
        instance.name = use.rpartition(":")[2] or use
    return instance  # type: ignore[no-any-return]


def _module(target: str, root: Path) -> Any:
    if target.endswith(".py"):
        path = (root / target).resolve()
        spec = importlib.util.spec_from_file_location(f"mdflow_user_{path.stem}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise MdflowError(f"visitor file {target} not found", "check the path in mdflow.yaml")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(target)
    except ImportError as e:
        raise MdflowError(f"cannot import visitor module {target}: {e}", "check mdflow.yaml") from e


def options_key(use: str, options: dict[str, Any]) -> str:
    """Identifies (visitor, options): a visitor runs once per key and dataset hash."""
    text = json.dumps({"use": use, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
