"""MLflow's settings for mdflow's own calls, and for nothing else in the process.

MLflow's client reads credentials and HTTP settings from os.environ on every request. mdflow
runs inside training scripts (the Python API), whose own MLflow calls may go to another
tracking server, and starts child processes: its settings are set only while one of its own
calls runs, and restored after. Overlapping calls (transfer threads) share one setting, made
by the first and restored by the last; Python code on other threads sees it meanwhile.

Only Python's view of the environment changes (the mapping behind os.environ and os.getenv),
never the C one: C code on other threads reads that without holding the GIL (getaddrinfo
does, in MLflow's telemetry thread and in any HTTP connection), and glibc's setenv frees the
array such a reader walks, which killed `mdflow push` with SIGSEGV (docs/reliability.md).
Child processes, which inherit the C environment, never see these settings either.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
_depth = 0
_saved: dict[str, str | None] = {}


@contextlib.contextmanager
def scoped(values: dict[str, str | None]) -> Iterator[None]:
    """os.environ with `values` (None: unset) for the block."""
    global _depth
    with _lock:
        if _depth == 0:
            _saved.clear()
            _saved.update({k: os.environ.get(k) for k in values})
            _apply(values)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _apply(_saved)


def _apply(values: dict[str, str | None]) -> None:
    """Set or unset names in os.environ's mapping without calling putenv or unsetenv."""
    data: dict[Any, Any] = vars(os.environ)["_data"]
    for key, value in values.items():
        if value is None:
            data.pop(os.environ.encodekey(key), None)
        else:
            data[os.environ.encodekey(key)] = os.environ.encodevalue(value)


class Scoped:
    """An MLflow object (client, artifact repository) whose every method call runs inside
    `scope`."""

    def __init__(self, target: Any, scope: Callable[[], contextlib.AbstractContextManager[None]]):
        self._target, self._scope = target, scope

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._scope():
                return attr(*args, **kwargs)

        return call
