from __future__ import annotations

import pytest

from mdflow.errors import FormatError
from mdflow.hashing import hash_bytes
from mdflow.manifest import Manifest, ManifestEntry, check_paths, join_lines, line

H = "xxh3-128:" + "0" * 32


def entry(path: str, size: int = 1, exec: bool = False) -> ManifestEntry:
    return ManifestEntry(path=path, hash=H, size=size, exec=exec)


def test_canonical_one_line_per_file_sorted() -> None:
    m = Manifest.of([entry("b/c.txt"), entry("a.txt", exec=True)])
    lines = m.to_bytes().decode().splitlines()
    assert lines[0] == '{"mdflow": 1, "files": ['
    assert lines[1].startswith('{"path": "a.txt"') and lines[1].endswith('"exec": true},')
    assert lines[2].startswith('{"path": "b/c.txt"')
    assert lines[-1] == "]}"


def test_round_trip_and_same_content_same_hash() -> None:
    a = Manifest.of([entry("x"), entry("été/ü.txt", 5)])
    b = Manifest.of([entry("été/ü.txt", 5), entry("x")])
    assert a.to_bytes() == b.to_bytes()
    assert Manifest.from_bytes(a.to_bytes(), "m") == a
    assert hash_bytes(a.to_bytes()) == hash_bytes(b.to_bytes())


def test_empty_manifest_round_trips() -> None:
    m = Manifest.of([])
    assert Manifest.from_bytes(m.to_bytes(), "m").files == []


@pytest.mark.parametrize("bad", ["../x", "/abs", "a//b", "./a", "a/.."])
def test_escaping_paths_are_rejected(bad: str) -> None:
    data = Manifest.of([entry("ok")]).to_bytes().replace(b'"ok"', f'"{bad}"'.encode())
    with pytest.raises(FormatError):
        Manifest.from_bytes(data, "m")


def test_unsorted_or_duplicate_entries_are_rejected() -> None:
    good = Manifest.of([entry("a"), entry("b")]).to_bytes()
    with pytest.raises(FormatError, match="sorted"):
        Manifest.from_bytes(good.replace(b'"b"', b'"a"'), "m")


def test_check_paths_is_the_manifests_own_rule() -> None:
    """`mdflow add` writes a folder's manifest from its scan without building the model; it
    holds the scan to the model's rule on paths (sorted, unique, no file that is a folder)."""
    check_paths(["a/b", "a/c", "b"])
    for bad in (["b", "a"], ["a", "a"], ["a", "a/b"]):
        with pytest.raises(ValueError):
            check_paths(bad)
        with pytest.raises(FormatError):
            Manifest.from_bytes(
                join_lines(line(p, "xxh3-128:" + "0" * 32, 1, False) for p in bad), "t"
            )
