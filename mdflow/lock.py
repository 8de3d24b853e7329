"""Exclusive locks (`flock` on a file) with a timeout: the repository's (`.mdflow/lock`), a
shared clone's, the embedded store's."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from mdflow.errors import LockTimeoutError

POLL = 0.05


@contextlib.contextmanager
def locked(
    path: Path,
    timeout: float,
    what: str = "the repository lock",
    hint: str = "wait for it to finish, or raise core.lock_timeout in mdflow.yaml",
) -> Iterator[None]:
    """Hold the lock on `path` for the block; a LockTimeoutError naming `what` (and the pid
    holding it) after `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"another mdflow process{_holder(fd)} holds {what} ({path}) after "
                        f"waiting {timeout:g}s",
                        hint,
                    ) from None
                time.sleep(POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""
