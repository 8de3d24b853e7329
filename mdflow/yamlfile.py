"""YAML as mdflow reads it: the safe loader, and a key given twice is an error.

PyYAML keeps the last of two equal keys, so a pointer with `hash: A` above `hash: B` would be
read as B while a reviewer of the diff sees A first; mdflow's files never repeat a key.
"""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    pass


class _UniqueKeys(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # a list or mapping as a key: PyYAML refuses it itself
            if key in seen:
                line = key_node.start_mark.line + 1
                raise DuplicateKeyError(f"the key {key!r} appears twice (again on line {line})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str | bytes) -> Any:
    """The document in `text`, with the safe loader; a repeated key raises DuplicateKeyError."""
    return yaml.load(text, Loader=_UniqueKeys)  # a SafeLoader: builds plain data only
