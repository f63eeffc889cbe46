"""The faults in effect: D/faults.json, re-read when it changes; looked up by every name of a release."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from .. import faults as faults_mod

log = logging.getLogger("c7n_upgrade.sandbox.runtime")


class FaultWatch:
    def __init__(self, sandbox_dir: Optional[Path]):
        self.sandbox_dir = sandbox_dir
        self.faults: dict[str, faults_mod.Fault] = {}
        self._mtime: Optional[int] = None

    def reload(self, force: bool = False) -> None:
        if self.sandbox_dir is None:
            return
        try:
            mtime = (self.sandbox_dir / faults_mod.FAULTS_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if not force and mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            new = faults_mod.load_faults(self.sandbox_dir)
        except Exception as exc:
            log.warning("runtime: cannot read faults: %s", exc)
            return
        if new != self.faults:
            log.info("runtime: faults now %s", {k: str(v) for k, v in new.items()})
        self.faults = new

    def fault_for(self, *names: str) -> Optional[faults_mod.Fault]:
        return faults_mod.fault_for(self.faults, *names)
