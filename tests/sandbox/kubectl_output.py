"""Waiting for the sandbox in the project's tests."""
from __future__ import annotations

import time


def wait_for(check, timeout=30.0, what="condition"):
    """check()'s first truthy result, polled every 50 ms; AssertionError after `timeout` seconds
    naming `what` and the last result. The one wait of the project's tests."""
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {result!r})")
