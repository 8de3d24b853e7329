"""Files mdflow writes to a remote: pack indexes and inventories (docs/remote-layout.md)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mdflow.errors import FormatError, describe
from mdflow.format_version import Version1
from mdflow.hashing import HASH_PATTERN

PACK_ID = r"^[0-9a-f]{32}$"
Oid = Annotated[str, Field(pattern=HASH_PATTERN)]
PackId = Annotated[str, Field(pattern=PACK_ID)]
M = TypeVar("M", bound=BaseModel)


class PackEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hash: str = Field(pattern=HASH_PATTERN)
    offset: int = Field(ge=0)
    size: int = Field(ge=0)


class PackIndex(BaseModel):
    model_config = ConfigDict(extra="forbid", title="mdflow pack index")
    mdflow: Version1 = 1
    pack: str = Field(pattern=PACK_ID)
    objects: list[PackEntry]

    def to_bytes(self) -> bytes:
        lines = ",\n".join(e.model_dump_json() for e in self.objects)
        head = f'{{"mdflow": 1, "pack": "{self.pack}", "objects": ['
        return (head + (f"\n{lines}\n" if lines else "") + "]}\n").encode()


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", title="mdflow remote inventory")
    mdflow: Version1 = 1
    loose: list[Oid] = Field(default_factory=list)
    packs: dict[PackId, list[Oid]] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=0).encode() + b"\n"


def parse(model: type[M], data: bytes, origin: str) -> M:
    """Validate a file read from a remote against its model."""
    try:
        return model.model_validate_json(data)
    except ValidationError as e:
        raise FormatError(
            f"{origin} on the remote is malformed: {describe(e)}",
            "the remote is damaged: push the data again from a clone that has it",
        ) from None
