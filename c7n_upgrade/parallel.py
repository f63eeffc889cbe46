"""Reading many releases at once (helm and HTTP calls wait on I/O, so threads overlap them)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def parallel_map(fn, items, workers: int = 16) -> list:
    """`[fn(i) for i in items]`, in threads when there are several; results in order."""
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))
