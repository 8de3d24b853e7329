from __future__ import annotations

from pathlib import Path

import pytest

from mdflow.errors import FormatError
from mdflow.pointer import Pointer, save

HASH = "xxh3-128:" + "ab" * 16


def test_key_order_is_stable_and_version_first() -> None:
    p = Pointer(path="t.csv", hash=HASH, size=3, rows=1, columns=2)
    text = p.to_yaml()
    assert text.splitlines() == [
        "mdflow: 1",
        "path: t.csv",
        "kind: file",
        f"hash: {HASH}",
        "size: 3",
        "rows: 1",
        "columns: 2",
    ]


def test_unknown_keys_survive_a_rewrite_in_order() -> None:
    text = f"mdflow: 1\nzeta: 1\npath: t.csv\nhash: {HASH}\nsize: 3\nalpha: [x, y]\n"
    p = Pointer.from_yaml(text, "t.csv.mdflow")
    updated = Pointer.model_validate(
        {**(p.model_extra or {}), "path": "t.csv", "hash": HASH, "size": 4}
    )
    lines = updated.to_yaml().splitlines()
    assert lines[-3:] == ["zeta: 1", "alpha:", "- x"] or lines[-4:-1] == [
        "zeta: 1",
        "alpha:",
        "- x",
    ]
    assert lines.index("zeta: 1") < lines.index("alpha:")
    assert "size: 4" in lines


@pytest.mark.parametrize("value", ["\x85", "a\x85b", "\x85\x85", "x\u2028y", "\u2029", "é ü"])
def test_unknown_values_with_line_break_characters_survive_a_rewrite(value: str) -> None:
    """YAML reads NEL (U+0085) as a line break: written raw in single quotes it came back a
    space (found by the property test of unknown keys)."""
    p = Pointer.model_validate({"path": "t.csv", "hash": HASH, "size": 3, "note": value})
    again = Pointer.from_yaml(p.to_yaml(), "t.csv.mdflow")
    assert (again.model_extra or {})["note"] == value
    assert "\x85" not in p.to_yaml()


def test_save_is_a_noop_when_bytes_would_not_change(tmp_path: Path) -> None:
    f = tmp_path / "t.csv.mdflow"
    p = Pointer(path="t.csv", hash=HASH, size=3)
    assert save(f, p) is True
    mtime = f.stat().st_mtime_ns
    assert save(f, p) is False
    assert f.stat().st_mtime_ns == mtime


def test_unicode_path_round_trips() -> None:
    p = Pointer(path="données été.csv", hash=HASH, size=0)
    assert Pointer.from_yaml(p.to_yaml(), "x").path == "données été.csv"
    assert "données été.csv" in p.to_yaml()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mdflow: 1\npath: ../x\nhash: H\nsize: 1\n", "'..'"),
        ("mdflow: 1\npath: /etc/passwd\nhash: H\nsize: 1\n", "absolute"),
        ("mdflow: 1\npath: a\\b\nhash: H\nsize: 1\n", "backslash"),
        ("mdflow: 2\npath: x\nhash: H\nsize: 1\n", "newer"),
        ("mdflow: one\npath: x\nhash: H\nsize: 1\n", "unknown pointer format"),
        ("path: x\nhash: H\nsize: 1\n", "unknown pointer format"),
        ("mdflow: 1\npath: x\nhash: xxh3-128:XYZ\nsize: 1\n", "hash"),
        ("mdflow: 1\npath: x\nhash: H\nsize: -1\n", "size"),
        ("- a\n- b\n", "mapping"),
        ("mdflow: 1\npath: [unclosed\n", "YAML"),
        ("!!python/object/apply:os.system [echo hi]\n", "YAML"),
    ],
)
def test_bad_pointers_are_rejected(text: str, message: str) -> None:
    text = text.replace(" H\n", f" {HASH}\n")
    with pytest.raises(FormatError) as err:
        Pointer.from_yaml(text, "bad.mdflow")
    assert message in str(err.value)
    assert str(err.value).startswith("bad.mdflow: ")
