"""The registry (go-register-server's `/eureka/apps`) read through its Service, and the guide's check
that an app is registered at its target VERSION with no old instance left."""
from __future__ import annotations

from typing import Optional

from .. import probes
from ..access import ClusterAccess
from ..plan import Step
from ..releases import Releases
from ..report import StepLog


class Registry:
    """Eureka as the suite reaches it: the register-server step's release and port (or the defaults)."""

    def __init__(self, access: ClusterAccess, releases: Releases, register_step: Optional[Step], log: StepLog):
        self.access = access
        self.releases = releases
        self.register_step = register_step
        self.log = log

    def instances(self) -> list[probes.EurekaInstance]:
        step = self.register_step
        service = self.releases.name_of(step) if step else "register-server"
        status, body = self.access.service_get(service, step.service_port if step else 8000, "/eureka/apps")
        self.log.attach("eureka /eureka/apps", body, "json")
        if status != 200:
            raise self.log.failed(f"Eureka answered HTTP {status}")
        return probes.parse_eureka(body, "application/json")


def check_registered(registry: Registry, app: str, version: str, log: StepLog) -> None:
    """Eureka lists `app` at `version`, every instance UP, no instance of another version left."""
    with log.step("eureka", app=app, new=version):
        problems = probes.eureka_version_problems(registry.instances(), {app: version})
        if problems:
            raise log.failed("; ".join(problems))
