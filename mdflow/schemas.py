"""JSON Schemas of the files mdflow writes, generated from the models.

`python -m mdflow.schemas` rewrites `schemas/`; a test fails when they drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from mdflow.changes import DiffReport
from mdflow.config import Config
from mdflow.manifest import Digests, Manifest
from mdflow.pointer import Pointer
from mdflow.remote.formats import (
    Inventory,
    InventoryV2,
    PackIndex,
    PagedRecipe,
    Recipe,
    RecipePage,
)

MODELS: dict[str, type[BaseModel]] = {
    "pointer": Pointer,
    "manifest": Manifest,
    "digests": Digests,
    "config": Config,
    "pack-index": PackIndex,
    "inventory": Inventory,
    "inventory-2": InventoryV2,
    "recipe": Recipe,
    "recipe-2": PagedRecipe,
    "recipe-page": RecipePage,
    "diff": DiffReport,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        target = folder / f"{name}.json"
        target.write_text(render(model))
        written.append(target)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "schemas"
    for path in write(out):
        print(path)
