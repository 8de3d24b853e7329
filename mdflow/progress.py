"""Progress bars for long work: shown on a terminal, silent otherwise (tqdm, imported lazily)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

MIN_BYTES = 64 << 20  # below this, work is quick enough to need no bar
MIN_FILES = 500


class Progress:
    """Counts bytes and files; thread-safe; draws a bar only when stderr is a terminal."""

    def __init__(self, desc: str, total_bytes: int, total_files: int = 0) -> None:
        self._bar: Any = None
        self._files = 0
        self._start = time.monotonic()
        self._lock = threading.Lock()
        big = total_bytes >= MIN_BYTES or total_files >= MIN_FILES
        if big and shown():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total_bytes,
                desc=desc,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                leave=False,
                dynamic_ncols=True,
            )

    def advance(self, nbytes: int, files: int = 0) -> None:
        if self._bar is None:
            return
        with self._lock:
            self._files += files
            self._bar.update(nbytes)
            if files:
                elapsed = max(time.monotonic() - self._start, 1e-3)
                rate = f"{self._files / elapsed:,.0f} files/s"
                done = f"{self._files} file{'' if self._files == 1 else 's'}"
                self._bar.set_postfix_str(f"{done}, {rate}", refresh=False)

    def chunk(self, data: bytes) -> None:
        """A sink for streamed chunks (hashing, copying)."""
        self.advance(len(data))

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()


def shown() -> bool:
    """Whether progress is drawn: stderr is a terminal and MDFLOW_NO_PROGRESS is not set."""
    return sys.stderr.isatty() and not os.environ.get("MDFLOW_NO_PROGRESS")


@contextlib.contextmanager
def status(text: str) -> Iterator[None]:
    """One line on a terminal saying what a slow step does, erased when it is done."""
    if not shown():
        yield
        return
    sys.stderr.write(text)
    sys.stderr.flush()
    try:
        yield
    finally:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
