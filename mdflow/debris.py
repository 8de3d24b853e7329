"""Debris: the temporary files of writers that were killed or crashed, found by the pid in
their names and removed by the next command that takes the lock (docs/cache-layout.md)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

_WRITER = re.compile(r"^[a-z]+-(\d+)-")  # temporary names: <kind>-<pid of the writer>-...
_MARKER = re.compile(r"^stage-\d+-[0-9a-f]+$")  # a cache batch's (see cache.Batch._create)


def writer_pid(name: str) -> int | None:
    """The pid in a temporary file's name (`<kind>-<pid>-...`), if it has one."""
    m = _WRITER.match(name)
    return int(m.group(1)) if m else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def debris(folder: Path) -> list[Path]:
    """Temporary files in `folder` whose writer is gone (a killed or crashed process).

    Names without a pid (written by an older mdflow) are left to `mdflow gc`'s expiry.
    """
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(folder):
            pid = writer_pid(entry.name)
            if pid is not None and pid != os.getpid() and not alive(pid):
                found.append(Path(entry.path))
    return found


def remove_debris(folder: Path) -> list[Path]:
    """Delete the temporary files in `folder` whose writer is gone; the ones deleted. A dead
    batch's marker (`stage-<pid>-<random>`, in the cache's tmp/) goes last, after the files
    that batch left beside final names in the cache's folders."""
    gone = debris(folder)
    for path in gone:
        if _MARKER.match(path.name):
            sweep(folder.parent, f".{path.name}-")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return gone


def sweep(root: Path, prefix: str) -> None:
    """Delete the files named `prefix…` in every object folder of the cache at `root`."""
    with contextlib.suppress(FileNotFoundError):
        for fan in os.scandir(root):
            if len(fan.name) == 2 and fan.is_dir(follow_symlinks=False):
                sweep_folder(fan.path, prefix)


def sweep_folder(folder: str, prefix: str) -> None:
    """Delete the files named `prefix…` in `folder`."""
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
