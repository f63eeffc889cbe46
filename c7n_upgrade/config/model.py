"""The env model: one validated description of the cluster the suite works on (keys in envs/prod.yaml)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from ..errors import C7nError
from ..plan import DEFAULT_PLAN
from ..rollout import SETTLE_SECONDS

DEFAULT_NAMESPACE = "choerodon-devops-prod"
DEFAULT_REPO_URL = "https://openchart.choerodon.com.cn/choerodon/c7n/"

#: dotted keys whose values are secrets: they must be given as ``${NAME}``.
SECRET_KEYS = frozenset(
    {
        "mysql.admin_password",
        "mysql.password",
        "platform.admin_password",
        "platform.client_secret",
        "platform.front_client_secret",
    }
)

#: the secrets the read-only proof (suites/post_upgrade alone) reads with: the services' MySQL user and the
#: platform token's. The MySQL root password and the front client's secret serve only the upgrade's writes.
READ_ONLY_SECRETS = frozenset({"mysql.password", "platform.admin_password", "platform.client_secret"})

#: keys a real (non-sandbox) env must give; the sandbox placeholder needs none of them.
REQUIRED_FOR_CLUSTER = (
    "mysql",
    "platform",
    "kafka",
    "zookeeper",
    "gateway_url",
    "front_url",
    "minio_url",
    "gitlab",
    "xwiki",
)

_HOSTPORT_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


class ConfigError(C7nError):
    """An env file that cannot be used. The message names the file, the key and what was expected."""

    def __init__(self, message: str, *, file: Optional[Path] = None, problems: Optional[list[str]] = None,
                 missing_vars: Optional[list[tuple[str, str]]] = None, where: str = ""):
        super().__init__(message)
        self.file = file
        self.problems = problems if problems is not None else [message]
        self.missing_vars = missing_vars or []  # (dotted key, variable) of each ${VAR} that is not set
        self.where = where                      # " or the secrets file F" when the env names one


def display(path: Optional[Path]) -> str:
    if path is None:
        return "<env>"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=False)


class KubeConfig(_Strict):
    kubeconfig: Optional[str] = None  # resolved to an absolute path by load_env
    context: Optional[str] = None


class HelmTls(_Strict):
    """Helm 2 with a TLS-secured Tiller: the client's certificate, key and the CA, as file paths
    (relative to the env file). Given to helm as HELM_TLS_* environment variables, never on argv."""

    ca_cert: str
    cert: str
    key: str
    verify: bool = True              # check Tiller's certificate against ca_cert
    hostname: Optional[str] = None   # the name in Tiller's certificate (HELM_TLS_HOSTNAME), when not 127.0.0.1


class HelmConfig(_Strict):
    binary: str = "helm"
    dialect: Optional[Literal[2, 3]] = None  # stated by the operator: no `helm version` call to detect it
    repo_name: str = "c7n"
    repo_url: str = DEFAULT_REPO_URL
    tiller_namespace: str = "kube-system"
    tls: Optional[HelmTls] = None    # Helm 2 only


#: MySQL names the suite writes into SQL (quoted, never as parameters): a strict pattern, checked at load
MYSQL_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}")


class MysqlConfig(_Strict):
    host: str
    port: int = Field(3306, ge=1, le=65535)
    service_host: Optional[str] = None  # as pods see it; defaults to host
    service_port: Optional[int] = Field(None, ge=1, le=65535)  # defaults to port
    admin_user: str = "root"
    admin_password: Optional[SecretStr] = None  # None only in a run that does not need it (READ_ONLY_SECRETS)
    user: str = "choerodon"
    password: SecretStr

    @field_validator("user")
    @classmethod
    def _sql_user(cls, v: str) -> str:
        if not MYSQL_USER_RE.fullmatch(v):
            raise ValueError("expected a MySQL user name of letters, digits and '_', '.' or '-' (at most 80): "
                             "it goes into the GRANT and CREATE USER statements")
        return v

    @model_validator(mode="after")
    def _service_defaults(self) -> "MysqlConfig":
        if self.service_host is None:
            self.service_host = self.host
        if self.service_port is None:
            self.service_port = self.port
        return self


class GitlabConfig(_Strict):
    url: str
    ssh_host: str
    ssh_port: int = Field(22, ge=1, le=65535)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)


class PlatformConfig(_Strict):
    admin_user: str = "admin"
    admin_password: SecretStr
    client_id: str = "client"
    client_secret: SecretStr
    organization_id: int = 1
    front_client_secret: Optional[SecretStr] = None  # of the OAuth client 'choerodon' the last step creates


class XwikiConfig(_Strict):
    host: str = "local://"  # a testinfra host spec: local://, ssh://node1, ...
    data_dir: str = "/data/data"
    # the unpacked repository-0.9.0-update/ on the same host: every file in it must be in extension/repository
    update_package: Optional[str] = None


class Timeouts(_Strict):
    step: float = Field(600.0, gt=0)  # seconds a step may take (helm call + rollout + health)
    http: float = Field(10.0, gt=0)  # seconds per HTTP request (and to connect to MySQL)
    poll_max: float = Field(0.5, gt=0)  # the longest pause between two polls while waiting
    helm: float = Field(120.0, gt=0)  # seconds per helm call; an upgrade/install gets `step` more
    kube: float = Field(30.0, gt=0)  # seconds per Kubernetes API request
    sql: float = Field(60.0, gt=0)  # seconds per MySQL statement
    settle: float = Field(SETTLE_SECONDS, ge=0)  # seconds health must hold, without one DOWN answer, to count
    backup: float = Field(1800.0, gt=0)  # seconds to dump one database, and to restore it for the check
    unschedulable: float = Field(180.0, gt=0)  # seconds a pod may stay Unschedulable before its step fails


class BackupConfig(_Strict):
    """The databases' dump before the first write (mysqldump or mariadb-dump on this machine)."""

    # Set only when you have your own backup: the run then dumps nothing and says so, with this reason.
    skip_reason: Optional[str] = None
    # Where each dump is proven to restore: "bastion" (a throwaway MariaDB started on this machine: disk
    # here, nothing on the production server) or "server" (scratch databases on the dumped server, after
    # pre-flight has compared its free space, where it can read it, with the databases' size).
    restore_check: Literal["bastion", "server"] = "bastion"


class SandboxOptions(_Strict):
    """Defaults for a fresh sandbox (only meaningful when ``sandbox: true``)."""

    # auto: the real control plane in this helm dialect (sandbox/process.py DEFAULT_CLUSTER); real: Helm 3,
    # or the real Helm 2 and Tiller with helm: 2
    cluster: Literal["auto", "emulator", "real"] = "auto"
    helm: Literal[2, 3] = 2
    faults: list[str] = Field(default_factory=list)  # RELEASE=KIND[:ARG]
    release_names: dict[str, str] = Field(default_factory=dict)  # DEFAULT: ACTUAL


def _check_url(v: str) -> str:
    if not re.match(r"^https?://[^/\s]+", v):
        raise ValueError("expected an http:// or https:// URL")
    return v


class Env(_Strict):
    name: str
    sandbox: bool = False
    sandbox_options: SandboxOptions = Field(default_factory=SandboxOptions)
    namespace: str = DEFAULT_NAMESPACE
    plan: str = DEFAULT_PLAN
    kube: KubeConfig = Field(default_factory=KubeConfig)
    access: Literal["direct", "proxy"] = "direct"
    helm: HelmConfig = Field(default_factory=HelmConfig)
    releases: dict[str, str] = Field(default_factory=dict)
    mysql: Optional[MysqlConfig] = None
    kafka: list[str] = Field(default_factory=list)
    zookeeper: list[str] = Field(default_factory=list)
    gateway_url: Optional[str] = None
    front_url: Optional[str] = None
    minio_url: Optional[str] = None
    gitlab: Optional[GitlabConfig] = None
    platform: Optional[PlatformConfig] = None
    xwiki: Optional[XwikiConfig] = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    backup: BackupConfig = Field(default_factory=BackupConfig)
    secrets_file: Optional[str] = None

    _source: Optional[Path] = PrivateAttr(default=None)
    _secret_vars: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("gateway_url", "front_url", "minio_url")
    @classmethod
    def _urls(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _check_url(v)

    @field_validator("kafka", "zookeeper")
    @classmethod
    def _hostports(cls, v: list[str]) -> list[str]:
        for item in v:
            if not _HOSTPORT_RE.match(item):
                raise ValueError(f"expected host:port entries, got {item!r}")
        return v

    # -- accessors -----------------------------------------------------------------------

    @property
    def source(self) -> Optional[Path]:
        """The file this env was loaded from (None when built in memory)."""
        return self._source

    @property
    def secret_vars(self) -> dict[str, str]:
        """Dotted secret key -> the environment variable it was read from."""
        return dict(self._secret_vars)

    def secrets(self) -> list[str]:
        """Every resolved secret value (non-empty), for the redactor."""
        out: list[str] = []
        for section in (self.mysql, self.platform):
            if section is None:
                continue
            for field_name in type(section).model_fields:
                value = getattr(section, field_name)
                if isinstance(value, SecretStr):
                    raw = value.get_secret_value()
                    if raw and raw not in out:
                        out.append(raw)
        return out

    def release_name(self, default: str) -> Optional[str]:
        """The actual release name pinned for ``default``; None means "find it by chart"."""
        return self.releases.get(default)

    def placeholders(self, step_database: Optional[str] = None) -> dict[str, Any]:
        """Values for the plan's ``{placeholders}``. Holds the MySQL password in clear: values files only."""
        if self.mysql is None:
            raise ConfigError(f"{display(self._source)}: key 'mysql': required to fill the plan's values")
        return {
            "namespace": self.namespace,
            "mysql_service_host": self.mysql.service_host,
            "mysql_service_port": self.mysql.service_port,
            "mysql_user": self.mysql.user,
            "mysql_password": self.mysql.password.get_secret_value(),
            "database": step_database,
            "kafka_brokers": ",".join(self.kafka),
            "zookeeper_nodes": ",".join(self.zookeeper),
            "gitlab_ssh_host": self.gitlab.ssh_host if self.gitlab else None,
            "gateway_url": self.gateway_url,
            "minio_url": self.minio_url,
            "front_url": self.front_url,
        }
