"""What a remote holds, known without asking it: the union of its inventory files.

Each push writes one inventory last, listing the objects it uploaded (loose, or by pack), and
for chunked objects a format-2 inventory naming their recipes after it; a clone keeps the
inventories it has read in `.mdflow/remotes/<name>/inventory/`, so a no-op push or pull is
settled offline. Layout: docs/remote-layout.md.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Container, Iterator
from pathlib import Path

from mdflow.remote.formats import Inventory, InventoryV2, parse
from mdflow.remote.store import ObjectStore

AnyInventory = Inventory | InventoryV2
_FORMAT = re.compile(r"\.v(\d+)$")  # `<stamp>.v<N>`: an inventory of format N (2 and up)
KNOWN = 2  # the newest inventory format this mdflow reads


def format_of(name: str) -> int | None:
    """An inventory file's format from its name (`.json`: 1, `.v<N>`: N), None for others."""
    if name.endswith(".json"):
        return 1
    m = _FORMAT.search(name)
    version = int(m.group(1)) if m and not name.startswith(".") else 0
    return version if version >= 2 else None


def listed_offline(state: Path) -> set[str]:
    """The objects the inventories this clone has read of a remote (its folder `state`) list:
    no remote access, nothing written."""
    found: set[str] = set()
    for _, inv in _read(state / "inventory"):
        found.update(inv.loose, *inv.packs.values())
        if isinstance(inv, InventoryV2):
            found.update(inv.recipes)
    return found


def _parse(name: str, data: bytes, origin: str) -> AnyInventory:
    if format_of(name) == 1:
        return parse(Inventory, data, origin)
    return parse(InventoryV2, data, origin)


def _read(folder: Path, skip: Container[str] = ()) -> Iterator[tuple[str, AnyInventory]]:
    """The inventory files this mdflow reads in `folder` (none when it does not exist), but
    those in `skip`."""
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        version = format_of(name)
        if version is not None and version <= KNOWN and name not in skip:
            yield name, _parse(name, (folder / name).read_bytes(), name)


class RemoteIndex:
    """Which objects a remote holds, and where: the union of its inventory files, kept in
    `state/inventory/` (`state`: this clone's folder for the remote, .mdflow/remotes/<name>)."""

    def __init__(self, store: ObjectStore, state: Path) -> None:
        self.store = store
        self.folder = state / "inventory"
        self.loose: set[str] = set()
        self.packed: dict[str, str] = {}  # oid -> pack id
        self.recipes: dict[str, str] = {}  # chunked object -> its recipe object
        self.newer: set[str] = set()  # inventory files of a format this mdflow cannot read
        self.seen: set[str] = set()  # inventory files loaded
        self.synced = False  # listed the remote's inventory folder in this process
        self.received = 0  # bytes of the inventory files downloaded

    def load(self) -> RemoteIndex:
        """What the inventories read before say (no remote access, nothing written)."""
        for name, inv in _read(self.folder, self.seen):
            self.add(inv)
            self.seen.add(name)
        return self

    def sync(self) -> RemoteIndex:
        """Download inventory files not seen before (one listing per index), then load them."""
        if self.synced:
            return self.load()
        self._check_store()
        self.load()
        for name in self.store.list("inventory"):
            version = format_of(name)
            if version is not None and version > KNOWN:
                self.newer.add(name)
            elif version is not None and name not in self.seen:
                tmp = self.folder / f".{name}.tmp"
                self.store.get(f"inventory/{name}", tmp)
                data = tmp.read_bytes()
                self.received += len(data)
                _parse(name, data, f"inventory/{name}")
                os.replace(tmp, self.folder / name)
        self.synced = True
        return self.load()

    def _check_store(self) -> None:
        """Forget the inventories read from another store of the same name (a store run that
        was deleted and created anew): what they list is not in this one."""
        marker = self.folder.parent / "store"
        current = self.store.store_id()
        if marker.is_file() and marker.read_text().strip() != current:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.loose.clear()
            self.packed.clear()
            self.recipes.clear()
            self.seen.clear()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".store.{os.getpid()}.tmp")
        tmp.write_text(current + "\n")
        os.replace(tmp, marker)

    def add(self, inv: AnyInventory) -> None:
        self.loose.update(inv.loose)
        for pack, oids in inv.packs.items():
            for oid in oids:
                self.packed[oid] = pack
        if isinstance(inv, InventoryV2):
            self.recipes.update(inv.recipes)

    def has(self, oid: str) -> bool:
        return oid in self.loose or oid in self.packed or oid in self.recipes

    def missing(self, oid: str) -> str:
        """Why `oid` is not pullable: not on the remote, as far as this mdflow can read."""
        if self.newer:
            return (
                f"not on remote {self.store.name} in a format this mdflow reads: it holds "
                f"inventories of a newer format ({min(self.newer)}) — upgrade mdflow "
                "(pip install -U mdflow-data)"
            )
        return f"not on remote {self.store.name}"

    def record(self, inv: AnyInventory) -> int:
        """Publish an inventory (the last write of a push) and remember it locally; return
        the bytes sent."""
        if not inv.loose and not inv.packs and not getattr(inv, "recipes", None):
            return 0
        suffix = ".json" if isinstance(inv, Inventory) else f".v{inv.mdflow}"
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(6)}{suffix}"
        self.folder.mkdir(parents=True, exist_ok=True)
        local = self.folder / name
        local.write_bytes(inv.to_bytes())
        try:
            self.store.put(local, f"inventory/{name}")
        except BaseException:
            local.unlink()
            raise
        self.add(inv)
        self.seen.add(name)
        return local.stat().st_size
