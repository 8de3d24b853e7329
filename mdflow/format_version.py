"""The `mdflow:` format version every mdflow file starts with, read strictly."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator


def strict_int(value: Any) -> Any:
    """A bool is not a version: `mdflow: true` must not read as format 1 (True == 1)."""
    if isinstance(value, bool):
        raise ValueError(f"the format version must be an integer, not {value!r}")
    return value


Version1 = Annotated[Literal[1], BeforeValidator(strict_int)]
