"""A thread pool for file and network I/O (which release the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
WORKERS = min(16, 4 * (os.cpu_count() or 1))
CHUNK_MAX = 64


def parallel(
    fn: Callable[[T], R], items: list[T], workers: int | None = None
) -> Iterator[tuple[T, R]]:
    """Apply `fn` to items in threads (file I/O releases the GIL), yielding in order.

    Items go to the pool in chunks: a hand-off per small file costs more than reading it.
    """
    workers = workers or WORKERS
    if len(items) <= 1 or workers == 1:  # no thread to hand each item to
        for item in items:
            yield item, fn(item)
        return
    size = max(1, min(CHUNK_MAX, len(items) // (workers * 4)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
        for chunk in pool.map(lambda c: [(item, fn(item)) for item in c], chunks):
            yield from chunk
