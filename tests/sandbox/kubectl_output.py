"""Reading what kubectl prints, and waiting for the sandbox, in the real-kubectl tests."""
from __future__ import annotations

import re
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


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def tables(output: str) -> dict[tuple, list[list[str]]]:
    """`kubectl get` output: its column names -> its rows, split on runs of 2+ spaces."""
    found = {}
    for block in output.strip().split("\n\n"):
        lines = block.splitlines()
        found[tuple(cells(lines[0]))] = [cells(line) for line in lines[1:]]
    return found


def rolled_out(kubectl, what: str) -> str:
    """`kubectl rollout status WHAT` (it fails the test when the rollout does not finish in 60 s)."""
    return kubectl("rollout", "status", what, "--timeout=60s", timeout=90).stdout
