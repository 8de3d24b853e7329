from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from mdflow.errors import FormatError, UnsafePathError
from mdflow.hashing import hash_bytes
from mdflow.manifest import Manifest, ManifestEntry, check_paths, join_lines, line

H = "xxh3-128:" + "0" * 32
SCHEMA = json.loads((Path(__file__).parents[1] / "schemas/manifest.json").read_text())


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


@pytest.mark.parametrize(
    "bad",
    ["../x", "/abs", "a//b", "./a", "a/..", "", "a/", ".git/config", "d/.GIT", "git~1/x",
     "a\\b", "a\u0000b"],
)  # fmt: skip
def test_escaping_paths_are_unsafe(bad: str) -> None:
    data = Manifest.of([entry("ok")]).to_bytes().replace(b'"ok"', json.dumps(bad).encode())
    with pytest.raises(UnsafePathError, match=r"^manifest m: invalid files\.0\.path: "):
        Manifest.from_bytes(data, "m")
    with pytest.raises(ValidationError):  # nor can mdflow write it
        Manifest.of([entry(bad)])


@pytest.mark.parametrize("paths", [["b", "a"], ["a", "a"], ["a", "a/b"]])
def test_unsorted_or_duplicate_entries_are_rejected(paths: list[str]) -> None:
    doc = {"mdflow": 1, "files": [{"path": p, "hash": H, "size": 1} for p in paths]}
    with pytest.raises(FormatError, match=r"invalid files: .*(sorted|folder)") as e:
        Manifest.from_bytes(json.dumps(doc).encode(), "m")
    assert type(e.value) is FormatError


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


GOOD = {"path": "a/b.txt", "hash": H, "size": 3, "exec": True}


@pytest.mark.parametrize(
    ("item", "where"),
    [
        (GOOD | {"extra": 1}, "files.0.extra"),
        ({k: v for k, v in GOOD.items() if k != "hash"}, "files.0.hash"),
        (["a/b.txt", H, 3, True], "files.0"),  # the tuple's own form is not the format's
        ("a/b.txt", "files.0"),
        (GOOD | {"size": -1}, "files.0.size"),
        (GOOD | {"size": "3"}, "files.0.size"),
        (GOOD | {"size": True}, "files.0.size"),
        (GOOD | {"hash": "md5:" + "0" * 32}, "files.0.hash"),
        (GOOD | {"hash": H.upper()}, "files.0.hash"),
        (GOOD | {"exec": 1}, "files.0.exec"),
        (GOOD | {"exec": "true"}, "files.0.exec"),
        (GOOD | {"exec": None}, "files.0.exec"),
        (GOOD | {"path": 5}, "files.0.path"),
        (GOOD | {"path": GOOD}, "files.0.path"),  # an entry where a string belongs
    ],
)
def test_entries_are_held_to_their_schema(item: object, where: str) -> None:
    """Entries are tuples in memory, objects with exactly these keys on disk, typed strictly:
    what the schema refuses, the reader refuses, saying where."""
    import jsonschema

    doc = {"mdflow": 1, "files": [item]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    with pytest.raises(FormatError, match=rf"^manifest m: invalid {where.replace('.', '[.]')}: "):
        Manifest.from_bytes(json.dumps(doc).encode(), "m")
    good = {"mdflow": 1, "files": [GOOD]}
    jsonschema.validate(good, SCHEMA)
    assert Manifest.from_bytes(json.dumps(good).encode(), "m").files == [
        ManifestEntry("a/b.txt", H, 3, True)
    ]


@pytest.mark.parametrize(
    ("item", "where"),
    [
        (GOOD | {"size": 3.0}, "files.0.size"),  # JSON Schema's integer, but never canonical
        (GOOD | {"hash": H + "\n"}, "files.0.hash"),  # Python's `$` takes a final newline
    ],
)
def test_entries_the_schema_may_pass_are_refused_too(item: object, where: str) -> None:
    doc = json.dumps({"mdflow": 1, "files": [item]}).encode()
    with pytest.raises(FormatError, match=rf"^manifest m: invalid {where.replace('.', '[.]')}: "):
        Manifest.from_bytes(doc, "m")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b'{"mdflow": 2, "files": []}', "invalid mdflow: "),
        (b'{"mdflow": true, "files": []}', "invalid mdflow: "),
        (b'{"mdflow": "1", "files": []}', "invalid mdflow: "),
        (b'{"mdflow": 1, "files": [], "more": 1}', "invalid more: unknown key"),
        (b'{"mdflow": 1}', "invalid files: missing"),
        (b'{"mdflow": 1, "files": {}}', "invalid files: not an array"),
        (b"[]", "invalid value: "),
        (b'{"mdflow": NaN, "files": []}', "invalid value: not JSON"),
        (b'{"mdflow": 1, "files": []} {}', "invalid value: not JSON"),
        (b'\xef\xbb\xbf{"mdflow": 1, "files": []}', "invalid value: not JSON"),  # a BOM
        ('{"mdflow": 1, "files": []}'.encode("utf-16"), "invalid value: not JSON"),
        (b'{"mdflow": 1, "files": [' + b"[" * 100_000, "invalid value: "),
        (b'{"mdflow": 1, "files": [{"path": "\\ud800", "hash": "%s", "size": 1}]}' % H.encode(),
         "invalid files.0.path: .* lone surrogate"),
    ],
)  # fmt: skip
def test_malformed_documents_are_format_errors(data: bytes, says: str) -> None:
    with pytest.raises(FormatError, match=f"^manifest m: {says}") as e:
        Manifest.from_bytes(data, "m")
    assert type(e.value) is FormatError and e.value.hint


def test_entries_read_are_tuples_and_exec_may_be_left_out() -> None:
    data = b'{"mdflow": 1, "files": [{"path": "a", "hash": "%s", "size": 2}]}' % H.encode()
    (e,) = Manifest.from_bytes(data, "m").files
    assert type(e) is ManifestEntry and e == ManifestEntry(path="a", hash=H, size=2)
    assert e.exec is False and e.line() == line("a", H, 2, False)
