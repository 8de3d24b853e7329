from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
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


GOOD_ENTRY = {"hash": "xxh3-128:" + "0" * 32, "offset": 0, "size": 3}


@pytest.mark.parametrize(
    "entry",
    [
        GOOD_ENTRY | {"extra": 1},
        {k: v for k, v in GOOD_ENTRY.items() if k != "size"},
        GOOD_ENTRY | {"offset": -1},
        GOOD_ENTRY | {"hash": "md5:00"},
        GOOD_ENTRY | {"size": 1.5},
        [GOOD_ENTRY["hash"], 0, 3],  # the tuple's own form is not the format's
    ],
)
def test_pack_index_entries_are_held_to_their_schema(entry: object) -> None:
    """Entries are tuples in memory, objects with exactly three keys on the wire: what the
    schema refuses, the reader refuses."""
    import jsonschema

    from mdflow.errors import FormatError
    from mdflow.remote.formats import PackIndex, parse

    doc = {"mdflow": 1, "pack": "0" * 32, "objects": [entry]}
    schema = json.loads((Path(__file__).parents[1] / "schemas/pack-index.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    with pytest.raises(FormatError):
        parse(PackIndex, json.dumps(doc).encode(), "packs/x.idx")
    good = {"mdflow": 1, "pack": "0" * 32, "objects": [GOOD_ENTRY]}
    jsonschema.validate(good, schema)
    assert parse(PackIndex, json.dumps(good).encode(), "x").to_bytes() == (
        b'{"mdflow": 1, "pack": "' + b"0" * 32 + b'", "objects": [\n'
        b'{"hash":"xxh3-128:' + b"0" * 32 + b'","offset":0,"size":3}\n]}\n'
    )
