"""Progress bars for long work: shown on a terminal, silent otherwise (tqdm, imported lazily)."""

from __future__ import annotations

import os
import sys
import threading
import time
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
        if big and sys.stderr.isatty() and not os.environ.get("MDFLOW_NO_PROGRESS"):
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
