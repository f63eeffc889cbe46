"""The store's change history: every write as a Change with its resourceVersion, bounded like the
real server's watch cache. Watches resume from it (or get 410 Expired) and continue tokens page
through the list as it was at the token's resourceVersion (or get 410 Expired)."""
from __future__ import annotations

import collections
import threading
from typing import NamedTuple, Optional

from .errors import Expired

WATCHER_BACKLOG = 20000        # a watcher this far behind is closed, as the real server drops slow ones


class Change(NamedTuple):
    rv: int
    type: str                  # ADDED, MODIFIED, DELETED
    resource: str
    key: tuple                 # (namespace, name)
    obj: dict                  # the object after the change (for DELETED: the last state, at the deletion rv)
    old: Optional[dict]        # the object before the change (None for ADDED)


class History:
    """The last `size` changes, oldest first. Objects are the store's own (never changed in place)."""

    def __init__(self, size: int):
        self._changes: collections.deque[Change] = collections.deque()
        self.size = size
        self.floor = 0         # every change with rv > floor is kept

    def append(self, change: Change) -> None:
        if len(self._changes) >= self.size:
            self.floor = self._changes.popleft().rv
        self._changes.append(change)

    def check(self, rv: int) -> None:
        if rv < self.floor:
            raise Expired(f"too old resource version: {rv} ({self.floor})")

    def since(self, rv: int, resource: str) -> list[Change]:
        """The changes of `resource` after rv, in order; Expired when some are no longer kept."""
        self.check(rv)
        return [c for c in self._changes if c.rv > rv and c.resource == resource]

    def state_at(self, rv: int, resource: str, current: dict) -> dict:
        """{key: object} of `resource` as it was at rv, from its current objects and the changes since."""
        if rv < self.floor:
            raise Expired("The provided continue parameter is too old to display a consistent list result. "
                          "You can start a new list without the continue parameter.")
        state = dict(current)
        for change in reversed(self._changes):
            if change.rv <= rv:
                break
            if change.resource != resource:
                continue
            if change.old is None:
                state.pop(change.key, None)
            else:
                state[change.key] = change.old
        return state


class Watcher:
    """The changes of one resource the store pushes to one watch, in order (pushed under the store lock)."""

    def __init__(self, resource: str):
        self.resource = resource
        self._queue: collections.deque[Change] = collections.deque()
        self._ready = threading.Condition()
        self.overflowed = False
        self.closed = False

    def push(self, change: Change) -> None:
        with self._ready:
            if len(self._queue) >= WATCHER_BACKLOG:
                self.overflowed = True
            else:
                self._queue.append(change)
            self._ready.notify()

    def get(self, timeout: float) -> Optional[Change]:
        with self._ready:
            if not self._queue:
                self._ready.wait(timeout)
            return self._queue.popleft() if self._queue else None

    def idle(self) -> bool:
        with self._ready:
            return not self._queue
