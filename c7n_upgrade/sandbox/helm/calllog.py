"""D/helm-calls.jsonl: one line per call, {"argv": [...], "exit": N, "time": <unix float>}; argv
excludes the program name (a contract: the e2e tests and benchmarks read it)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path


CALLS_FILE = "helm-calls.jsonl"


def log_call(directory: Path, argv: list[str], code: int) -> None:
    line = json.dumps({"argv": list(argv), "exit": code, "time": time.time()}) + "\n"
    fd = os.open(directory / CALLS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: lines from concurrent calls do not interleave
    finally:
        os.close(fd)
