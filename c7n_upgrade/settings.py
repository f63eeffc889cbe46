"""The small frozen settings the library takes instead of the env (built in `clients.py`).

Each holds only what one part of the work needs; secrets are kept out of their repr.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional


@dataclass(frozen=True)
class HttpAccess:
    """How the suite reaches pods and services, and how long one HTTP request may take."""

    mode: Literal["direct", "proxy"]  # direct: pod IPs and clusterIPs; proxy: through the API server
    timeout: float


@dataclass(frozen=True)
class MysqlAppUser:
    """The services' MySQL account (the guide's `choerodon`), and MySQL as the suite reaches it."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class PlatformCredentials:
    """The platform's admin login through the api-gateway (password grant)."""

    gateway_url: str
    admin_user: str
    admin_password: str = field(repr=False)
    client_id: str = "client"
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class FrontOAuthClient:
    """The OAuth client 'choerodon' the front end logs in with (created by the last step)."""

    organization_id: int
    redirect_uri: str  # the front end's URL
    secret: str = field(repr=False)


@dataclass(frozen=True)
class GitlabSsh:
    """GitLab's SSH endpoint (devops-service 0.9 clones over SSH)."""

    host: str
    port: int


@dataclass(frozen=True)
class XwikiSite:
    """Where XWiki keeps its data (a testinfra host spec) and the gateway its properties must name."""

    host: str
    data_dir: str
    gateway_url: str
    update_package: Optional[str] = None  # the unpacked repository-0.9.0-update/, when given
    timeout: float = 600.0  # seconds its reads may take, together (a stuck mount or ssh session)


@dataclass(frozen=True)
class PlanValues:
    """The env's answers to the plan's `{placeholders}` (holds the MySQL password: values files only)."""

    placeholders: Mapping[str, Any] = field(repr=False)

    def for_step(self, database: Optional[str]) -> dict[str, Any]:
        return {**self.placeholders, "database": database}


@dataclass(frozen=True)
class BackupPolicy:
    """The backup before the first write: taken unless the env says why not, each dump within `timeout`."""

    timeout: float
    skip_reason: Optional[str] = None  # set: the operator has a backup of their own; nothing is dumped
    restore_check: str = "bastion"     # bastion: a throwaway MariaDB here; server: the dumped server
