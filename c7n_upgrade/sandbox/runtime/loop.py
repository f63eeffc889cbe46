"""The runtime's work queue: one thread runs store events, submitted work and due timers in order."""
from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


class ControlLoop:
    """Like a controller's work queue: callables run one at a time on the loop's thread."""

    def __init__(self):
        self._work: "queue.Queue[tuple]" = queue.Queue()
        self._timers: list = []
        self._timer_lock = threading.Lock()
        self._seq = itertools.count()
        self.stopped = threading.Event()

    def submit(self, fn: Callable, *args) -> None:
        """Run fn(*args) on the loop, after the work already queued."""
        if not self.stopped.is_set():
            self._work.put((fn, args))

    def after(self, delay: float, fn: Callable, *args) -> None:
        """Run fn(*args) on the loop once `delay` seconds have passed."""
        with self._timer_lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn, args))
        self._work.put(None)  # wake the loop: the new timer may be the next one due

    def stop(self) -> None:
        self.stopped.set()
        self._work.put(None)

    def run(self) -> None:
        while not self.stopped.is_set():
            with self._timer_lock:
                wait = (self._timers[0][0] - time.monotonic()) if self._timers else 0.5
            try:
                item = self._work.get(timeout=max(0.0, min(wait, 0.5)))
            except queue.Empty:
                item = None
            if self.stopped.is_set():
                return
            if item is not None:
                self._call(*item)
            while True:
                with self._timer_lock:
                    if not self._timers or self._timers[0][0] > time.monotonic():
                        break
                    _, _, fn, args = heapq.heappop(self._timers)
                self._call(fn, args)

    @staticmethod
    def _call(fn: Callable, args: tuple) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("runtime: %s failed", getattr(fn, "__qualname__", fn))
