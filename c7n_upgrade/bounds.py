"""Bounds on waiting for what the suite depends on: a call that ran out of time trips a breaker, and
the calls that follow fail at once, naming what hung, until it has had time to recover.

Without it, a hanging helm, API server or MySQL costs its full limit in every test that uses it
(about twenty times per run); with it, the run stops within about one limit, saying what hung.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional


class Breaker:
    """Open for `cooldown` seconds after `trip(message)`; `open_message()` says why, or None."""

    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic):
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._until = 0.0
        self._message: Optional[str] = None

    def trip(self, message: str) -> None:
        with self._lock:
            self._message = message
            self._until = self.clock() + self.cooldown

    def open_message(self) -> Optional[str]:
        """Why calls must not be made now (the hang that tripped it), or None when they may."""
        with self._lock:
            if self._message is None or self.clock() >= self._until:
                return None
            return f"{self._message} (not asking again for {self._until - self.clock():.0f}s)"
