from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from mdflow.schemas import MODELS, render

SCHEMAS = Path(__file__).parent.parent / "schemas"


def test_committed_schemas_match_the_models() -> None:
    for name, model in MODELS.items():
        committed = (SCHEMAS / f"{name}.json").read_text()
        assert committed == render(model), f"schemas/{name}.json is stale: run make schemas"


def test_every_schema_file_has_a_model() -> None:
    assert {p.stem for p in SCHEMAS.glob("*.json")} == set(MODELS)


def _models(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("mdflow."):
            yield sub
        yield from _models(sub)


def test_every_model_is_built_on_first_use() -> None:
    """Building a model's validator costs milliseconds: a command pays only for the models it
    validates (`mdflow status` none of the remote's), so every model defers its build."""
    for module in ("changes", "config", "manifest", "pointer", "profile", "remote.formats"):
        importlib.import_module(f"mdflow.{module}")
    found = set(_models(BaseModel))
    assert len(found) > 20
    eager = sorted(m.__qualname__ for m in found if not m.model_config.get("defer_build"))
    assert eager == [], f"add defer_build=True to their model_config: {eager}"
