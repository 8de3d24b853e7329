"""Files mdflow writes to a remote: pack indexes, inventories, recipes (docs/remote-layout.md)."""

from __future__ import annotations

import json
from typing import Annotated, Literal, NamedTuple, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from mdflow.errors import FormatError, describe
from mdflow.format_version import Version1, strict_int
from mdflow.hashing import HASH_PATTERN

PACK_ID = r"^[0-9a-f]{32}$"
Oid = Annotated[str, Field(pattern=HASH_PATTERN)]
PackId = Annotated[str, Field(pattern=PACK_ID)]
M = TypeVar("M", bound=BaseModel)


class PackEntry(NamedTuple):
    """An object or chunk of a pack: `size` bytes at `offset`. Validated from a JSON object
    with exactly these keys; a tuple, since a pack index lists tens of thousands (a model
    object each took three times the memory: 61 MiB for a pull of 100,000 small files)."""

    hash: Annotated[str, Field(pattern=HASH_PATTERN)]
    offset: Annotated[int, Field(ge=0)]
    size: Annotated[int, Field(ge=0)]

    def to_json(self) -> str:
        return json.dumps(self._asdict(), separators=(",", ":"))


_ENTRY_SCHEMA = {
    "additionalProperties": False,
    "properties": {
        "hash": {"pattern": HASH_PATTERN, "title": "Hash", "type": "string"},
        "offset": {"minimum": 0, "title": "Offset", "type": "integer"},
        "size": {"minimum": 0, "title": "Size", "type": "integer"},
    },
    "required": ["hash", "offset", "size"],
    "title": "PackEntry",
    "type": "object",
}


def _an_object(value: object) -> object:
    if not isinstance(value, dict | PackEntry):  # a JSON array would make a tuple too
        raise ValueError("an entry is an object with hash, offset and size")
    return value


PackEntries = Annotated[
    list[Annotated[PackEntry, BeforeValidator(_an_object)]],
    WithJsonSchema({"items": _ENTRY_SCHEMA, "title": "Objects", "type": "array"}),
]


class PackIndex(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow pack index")
    mdflow: Version1 = 1
    pack: str = Field(pattern=PACK_ID)
    objects: PackEntries

    def to_bytes(self) -> bytes:
        lines = ",\n".join(e.to_json() for e in self.objects)
        head = f'{{"mdflow": 1, "pack": "{self.pack}", "objects": ['
        return (head + (f"\n{lines}\n" if lines else "") + "]}\n").encode()


class Inventory(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow remote inventory")
    mdflow: Version1 = 1
    loose: list[Oid] = Field(default_factory=list)
    packs: dict[PackId, list[Oid]] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=0).encode() + b"\n"


class InventoryV2(BaseModel):
    """Inventory format 2: which objects are stored as chunks, by the recipe naming them."""

    model_config = ConfigDict(
        defer_build=True, extra="forbid", title="mdflow remote inventory, format 2"
    )
    mdflow: Annotated[Literal[2], BeforeValidator(strict_int)] = 2
    loose: list[Oid] = Field(default_factory=list)
    packs: dict[PackId, list[Oid]] = Field(default_factory=dict)
    recipes: dict[Oid, Oid] = Field(default_factory=dict)  # object -> its recipe

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=0).encode() + b"\n"


class Chunker(BaseModel):
    """How the chunks of a recipe were cut (FastCDC 2020 parameters)."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)
    name: str
    min: int = Field(ge=1)
    avg: int = Field(ge=1)
    max: int = Field(ge=1)
    seed: int = 0


class RecipeChunk(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)
    hash: str = Field(pattern=HASH_PATTERN)
    size: int = Field(ge=1)


class Recipe(BaseModel):
    """A large object as its content-defined chunks, in order."""

    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow recipe")
    mdflow: Version1 = 1
    hash: str = Field(pattern=HASH_PATTERN)  # the whole object's
    size: int = Field(ge=0)
    chunker: Chunker
    chunks: list[RecipeChunk]

    def to_bytes(self) -> bytes:
        """Canonical form: one chunk a line, so the same chunks always give the same bytes."""
        head = json.dumps({"mdflow": 1, "hash": self.hash, "size": self.size})[:-1]
        chunker = json.dumps(self.chunker.model_dump(), sort_keys=True)
        chunks = _chunk_lines(self.chunks)
        return f'{head},\n"chunker": {chunker},\n"chunks": [{chunks}]}}\n'.encode()

    def check(self, oid: str, origin: str) -> None:
        """The recipe describes `oid`, and its sizes add up."""
        _check(self.hash == oid and sum(c.size for c in self.chunks) == self.size, oid, origin)


def _check(ok: bool, oid: str, origin: str) -> None:
    if not ok:
        raise FormatError(
            f"{origin} on the remote is not the recipe of {oid}",
            "the remote is damaged: push the data again from a clone that has it",
        )


def _chunk_lines(chunks: list[RecipeChunk]) -> str:
    lines = ",\n".join(f'{{"hash": "{c.hash}", "size": {c.size}}}' for c in chunks)
    return f"\n{lines}\n" if lines else ""


class RecipePage(BaseModel):
    """A run of a recipe's chunks, in order: an object of its own, which every recipe holding
    the same run shares, so a new version of a file sends only the pages that changed."""

    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow recipe page")
    mdflow: Version1 = 1
    chunks: list[RecipeChunk] = Field(min_length=1)

    def to_bytes(self) -> bytes:
        """Canonical form: one chunk a line, so the same chunks always give the same bytes."""
        return f'{{"mdflow": 1, "chunks": [{_chunk_lines(self.chunks)}]}}\n'.encode()

    @property
    def size(self) -> int:
        return sum(c.size for c in self.chunks)


class PageRef(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)
    hash: str = Field(pattern=HASH_PATTERN)  # the page object's
    size: int = Field(ge=1)  # the bytes of the object its chunks hold


class PagedRecipe(BaseModel):
    """Recipe format 2: a large object as pages of chunks, in order."""

    model_config = ConfigDict(defer_build=True, extra="forbid", title="mdflow recipe, format 2")
    mdflow: Annotated[Literal[2], BeforeValidator(strict_int)] = 2
    hash: str = Field(pattern=HASH_PATTERN)  # the whole object's
    size: int = Field(ge=0)
    chunker: Chunker
    pages: list[PageRef]

    def to_bytes(self) -> bytes:
        """Canonical form: one page a line."""
        lines = ",\n".join(f'{{"hash": "{p.hash}", "size": {p.size}}}' for p in self.pages)
        head = json.dumps({"mdflow": 2, "hash": self.hash, "size": self.size})[:-1]
        chunker = json.dumps(self.chunker.model_dump(), sort_keys=True)
        body = f"\n{lines}\n" if lines else ""
        return f'{head},\n"chunker": {chunker},\n"pages": [{body}]}}\n'.encode()

    def check(self, oid: str, origin: str) -> None:
        """The recipe describes `oid`, and its page sizes add up."""
        _check(self.hash == oid and sum(p.size for p in self.pages) == self.size, oid, origin)


def parse_recipe(data: bytes, origin: str) -> Recipe | PagedRecipe:
    """A recipe object of either format (the format-1 recipes of earlier pushes stay readable)."""
    try:
        version = json.loads(data).get("mdflow")
    except (ValueError, AttributeError):
        version = None
    if version == 2:
        return parse(PagedRecipe, data, origin)
    return parse(Recipe, data, origin)


def parse(model: type[M], data: bytes, origin: str) -> M:
    """Validate a file read from a remote against its model."""
    try:
        return model.model_validate_json(data)
    except ValidationError as e:
        newer = _newer_version(data, model)
        if newer:
            raise FormatError(
                f"{origin} on the remote is format {newer}, written by a newer mdflow",
                "upgrade mdflow (pip install -U mdflow-data)",
            ) from None
        raise FormatError(
            f"{origin} on the remote is malformed: {describe(e)}",
            "the remote is damaged: push the data again from a clone that has it",
        ) from None


def _newer_version(data: bytes, model: type[BaseModel]) -> int | None:
    """The file's `mdflow` version when it is an integer above the model's own."""
    try:
        version = json.loads(data).get("mdflow")
    except (ValueError, AttributeError):
        return None
    own = model.model_fields["mdflow"].default
    if isinstance(version, int) and not isinstance(version, bool) and version > own:
        return version
    return None
