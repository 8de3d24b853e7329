from __future__ import annotations

from pathlib import Path

from mdflow.schemas import MODELS, render

SCHEMAS = Path(__file__).parent.parent / "schemas"


def test_committed_schemas_match_the_models() -> None:
    for name, model in MODELS.items():
        committed = (SCHEMAS / f"{name}.json").read_text()
        assert committed == render(model), f"schemas/{name}.json is stale: run make schemas"


def test_every_schema_file_has_a_model() -> None:
    assert {p.stem for p in SCHEMAS.glob("*.json")} == set(MODELS)
