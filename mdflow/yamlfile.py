"""YAML as mdflow reads and writes it: the safe loader, a key given twice is an error, and
strings holding a character YAML reads as a line break are written escaped.

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


_BREAKS = ("\x85", "\u2028", "\u2029")  # NEL, LINE and PARAGRAPH SEPARATOR


class _Dumper(yaml.SafeDumper):
    """The safe dumper, but a string holding NEL, U+2028 or U+2029 is written double-quoted,
    where they are escaped: with allow_unicode PyYAML writes them raw inside single quotes,
    and reading that back folds NEL into a space (an unknown key of a pointer changed)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in _BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any, width: int | None = None) -> str:
    """`data` as block YAML, keys in their order, Unicode written as is (but line breaks)."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=width,
    )
