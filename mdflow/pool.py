"""A thread pool for file and network I/O (which release the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
WORKERS = min(16, 4 * (os.cpu_count() or 1))
# Creating many small files from data in the page cache (checkout, add) is work for the CPU,
# in the kernel and under the GIL: on 2 cores one thread checked out 10,000 files in
# 0.74-0.79 s, two in 0.93-1.05 s, eight in 1.18-2.30 s (the kernel time growing with the
# threads), and 100,000 files in 7.4-10.0 s against 12.7 s with eight. One thread for every
# two cores leaves the others to the kernel's own work.
FILE_WORKERS = max(1, min(4, (os.cpu_count() or 1) // 2))
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
