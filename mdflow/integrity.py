"""Integrity under `verify: sha256`: the SHA-256 digests a pointer records beside its
xxh3-128 hash, how `mdflow add` makes them, and how cache objects are checked against them.

xxh3-128 names objects and catches accidents (a flipped bit, a truncated download); it is not
built to resist someone forging content with a given hash. SHA-256 is: an object whose bytes
do not match the digest committed in Git never reaches the workspace or a reader
(docs/reliability.md, threat model). A file's pointer records the SHA-256 of its bytes; a
folder's records its digest list (`manifest.Digests`: the SHA-256 of the manifest and of every
file), by xxh3-128 (`digests`, to find it) and by SHA-256 (`sha256`, to trust it).
"""

from __future__ import annotations

from collections.abc import Iterable

from mdflow.datasets import Dataset, cached_manifest
from mdflow.errors import MdflowError
from mdflow.hashing import sha256_bytes, sha256_file
from mdflow.manifest import Digests, Manifest
from mdflow.pointer import Pointer
from mdflow.pool import parallel
from mdflow.repo import Repo

CONFLICT = "conflict"  # two digests for one object: one is forged, neither can be trusted


def on(repo: Repo) -> bool:
    """Whether `mdflow add` records SHA-256 digests here (`verify: sha256` in mdflow.yaml)."""
    return repo.config.verify == "sha256"


def seal(repo: Repo, kind: str, oid: str, where: str, old: Pointer | None) -> dict[str, str]:
    """The pointer keys (`sha256`, and `digests` for a folder) of the version `oid` at
    `where`; `old`, the pointer being replaced, lends the digests it already has."""
    if kind == "file":
        return seal_file(repo, oid, old)
    if old and old.hash == oid and old.digests and old.sha256 and repo.cache.has(old.digests):
        return {"sha256": old.sha256, "digests": old.digests}
    return seal_dir(repo, oid, where, old)


def seal_file(repo: Repo, oid: str, old: Pointer | None) -> dict[str, str]:
    """The pointer keys of a file version's digest (read from the cache unless `old` has it)."""
    if old is not None and old.hash == oid and old.sha256:
        return {"sha256": old.sha256}
    return {"sha256": sha256_file(str(repo.cache.path(oid)))}


def seal_dir(repo: Repo, moid: str, where: str, old: Pointer | None) -> dict[str, str]:
    """The pointer keys of a folder version: its digest list, written to the cache. Digests
    of files the previous version had are taken from its (verified) list, the rest read."""
    data = repo.cache.path(moid).read_bytes()
    manifest = Manifest.from_bytes(data, f"{moid} ({where})")
    known = _known(repo, old, where) if old is not None else {}
    todo = sorted({e.hash for e in manifest.files} - known.keys())
    for oid, digest in parallel(lambda o: sha256_file(str(repo.cache.path(o))), todo):
        known[oid] = digest
    digests = Digests(
        manifest=sha256_bytes(data), files=[(e.path, known[e.hash]) for e in manifest.files]
    )
    body = digests.to_bytes()
    return {"sha256": sha256_bytes(body), "digests": repo.cache.put_bytes(body)}


def _known(repo: Repo, old: Pointer, where: str) -> dict[str, str]:
    try:
        return {o: d for o, d in expected(repo, old, where).items() if d != CONFLICT}
    except MdflowError:  # no usable list for the old version: every file is read
        return {}


def expected(repo: Repo, p: Pointer, where: str) -> dict[str, str]:
    """Object -> the SHA-256 the pointer of the dataset at `where` vouches for ({} when it
    records none).

    A folder's manifest and digest list must be in the cache; a digest list that does not
    match the pointer, or a manifest that does not match the list, is a one-line error."""
    if p.sha256 is None:
        return {}
    if p.kind == "file":
        return {p.hash: p.sha256}
    assert p.digests is not None  # the pointer's validator pairs them
    digests = _digest_list(repo, p.digests, p.sha256, where)
    manifest = cached_manifest(repo, p.hash, where)
    if manifest is None:
        raise _missing(where, "manifest")
    if sha256_file(str(repo.cache.path(p.hash))) != digests.manifest:
        raise _forged(repo, p.hash, where, "manifest")
    if [e.path for e in manifest.files] != [path for path, _ in digests.files]:
        raise _forged(repo, p.digests, where, "digest list")
    out = {p.hash: digests.manifest}
    return _merge(
        out, ((e.hash, h) for e, (_, h) in zip(manifest.files, digests.files, strict=True))
    )


def _digest_list(repo: Repo, oid: str, sha256: str, where: str) -> Digests:
    try:
        data = repo.cache.path(oid).read_bytes()
    except FileNotFoundError:
        raise _missing(where, "digest list") from None
    if sha256_bytes(data) != sha256:
        raise _forged(repo, oid, where, "digest list")
    return Digests.from_bytes(data, f"{oid} ({where})")


def _merge(into: dict[str, str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    for oid, digest in pairs:
        into[oid] = digest if into.get(oid, digest) == digest else CONFLICT
    return into


def expected_of(repo: Repo, chosen: Iterable[Dataset]) -> dict[str, str]:
    """What `expected` says for several datasets, merged (an object two of them vouch for
    with different digests matches neither)."""
    out: dict[str, str] = {}
    for d in chosen:
        _merge(out, expected(repo, d.pointer, repo.rel(d.data)).items())
    return out


def matches(repo: Repo, oid: str, digest: str) -> bool:
    """Whether a cached object's bytes have this SHA-256; a mismatch is quarantined."""
    if digest != CONFLICT and sha256_file(str(repo.cache.path(oid))) == digest:
        return True
    repo.cache.quarantine(oid)
    return False


def _missing(where: str, what: str) -> MdflowError:
    return MdflowError(
        f"the {what} of {where} is not in the local cache", f"fetch it: mdflow pull {where}"
    )


def _forged(repo: Repo, oid: str, where: str, what: str) -> MdflowError:
    repo.cache.quarantine(oid)
    return MdflowError(
        f"the {what} of {where} ({oid}) does not match the SHA-256 its pointer records: "
        "forged or corrupt (moved to .mdflow/quarantine/)",
        f"fetch it again (mdflow pull {where}); if that fails the same way, the remote's copy "
        "is not the one that was committed",
    )
