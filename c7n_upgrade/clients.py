"""The wiring: the one place, besides `config/`, that reads an Env (Tempest's clients.py).

`build(env)` turns the env into one frozen `Clients` (Tempest's clients.Manager): the small frozen
settings of `settings.py` and `rollout.RolloutPolicy`, the redactor, and every client (helm,
Kubernetes, MySQL, the dump tools, the platform session, pod access, the releases). Everything else
takes those and never sees the env; `tests/unit/test_wiring.py` keeps it that way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Mapping, Optional

from .access import ClusterAccess
from .config import ConfigError, Env
from .config.model import SandboxOptions
from .helm import HelmClient
from .kube import KubeClient
from .mysql import Mysql
from .platform import PlatformSession
from .redact import Redactor, secret_forms
from .releases import Releases
from .rollout import RolloutPolicy
from .mysqldump import DumpTool
from .settings import (BackupPolicy, FrontOAuthClient, GitlabSsh, HttpAccess, MysqlAppUser, PlanValues,
                       PlatformCredentials, XwikiSite)


@dataclass(frozen=True)
class Settings:
    """Everything the library takes from the env, as plain frozen values (None: the env gives none)."""

    env_name: str
    source: Optional[Path]                   # the env file (None: built in memory)
    plan: str                                # the plan's name or path (plans/)
    kubeconfig: Optional[str]                # None: the default kubeconfig
    namespace: str
    release_pins: dict                       # default release name -> actual name (the env's `releases:`)
    http: HttpAccess
    rollout: RolloutPolicy
    chart_repo: str                          # `helm repo add <chart_repo> <chart_repo_url>`
    chart_repo_url: str
    plan_values: Optional[PlanValues]
    mysql_app: Optional[MysqlAppUser]
    platform: Optional[PlatformCredentials]
    front_oauth: Optional[FrontOAuthClient]
    gitlab: Optional[GitlabSsh]
    xwiki: Optional[XwikiSite]
    backup: BackupPolicy


def settings(env: Env) -> Settings:
    m, p, t = env.mysql, env.platform, env.timeouts
    return Settings(
        env_name=env.name, source=env.source, plan=env.plan, kubeconfig=env.kube.kubeconfig,
        namespace=env.namespace,
        release_pins=dict(env.releases),
        http=HttpAccess(mode=env.access, timeout=float(t.http)),
        rollout=RolloutPolicy(timeout=t.step, poll_max=float(t.poll_max), settle_seconds=float(t.settle),
                              unschedulable_grace=float(t.unschedulable)),
        chart_repo=env.helm.repo_name,
        chart_repo_url=env.helm.repo_url,
        plan_values=PlanValues(env.placeholders()) if m else None,
        mysql_app=MysqlAppUser(m.host, m.port, m.user, m.password.get_secret_value()) if m else None,
        platform=PlatformCredentials(env.gateway_url, p.admin_user, p.admin_password.get_secret_value(),
                                     p.client_id, p.client_secret.get_secret_value()) if p else None,
        front_oauth=FrontOAuthClient(p.organization_id, env.front_url, _secret(p.front_client_secret)) if p else None,
        gitlab=GitlabSsh(env.gitlab.ssh_host, env.gitlab.ssh_port) if env.gitlab else None,
        xwiki=XwikiSite(env.xwiki.host, env.xwiki.data_dir, env.gateway_url or "",
                        env.xwiki.update_package, timeout=float(t.step)) if env.xwiki else None,
        backup=BackupPolicy(timeout=float(t.backup), skip_reason=env.backup.skip_reason,
                            restore_check=env.backup.restore_check),
    )


#: a secret this long is looked for inside variables' values too (a URL with a password); a shorter one
#: only as a whole value, so that a password like "root" does not take HOME=/root with it
EMBEDDED_SECRET_LEN = 8


def child_environ(env: Env, environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The environment for the suite's children (helm, dump tools): this process's, without the
    suite's variables (C7N_*), the variables the env's secrets came from, and any variable whose
    value is one of those secrets or holds one in any form the redactor masks (e.g.
    DATABASE_URL=mysql://root:PASSWORD@db, the password URL-encoded or not)."""
    environ = os.environ if environ is None else environ
    names = set(env.secret_vars.values())
    secrets = {s for s in env.secrets() if s}
    embedded = {form for s in secrets if len(s) >= EMBEDDED_SECRET_LEN
                for form in secret_forms(s) if len(form) >= EMBEDDED_SECRET_LEN}
    return {k: v for k, v in environ.items()
            if not k.startswith("C7N_") and k not in names and v not in secrets
            and not any(s in v for s in embedded)}


def _helm_client(env: Env, environ: Mapping[str, str]) -> HelmClient:
    return HelmClient(env.helm.binary, namespace=env.namespace, kube_context=env.kube.context,
                      kubeconfig=env.kube.kubeconfig, tiller_namespace=env.helm.tiller_namespace,
                      env=helm_tls_environment(env), timeout=env.timeouts.helm, environ=dict(environ),
                      dialect=env.helm.dialect)


def helm_tls_environment(env: Env) -> dict:
    """Helm 2's own variables for a TLS Tiller: the files reach helm without a flag on its command line."""
    tls = env.helm.tls
    if tls is None:
        return {}
    out = {"HELM_TLS_ENABLE": "true", "HELM_TLS_CA_CERT": tls.ca_cert, "HELM_TLS_CERT": tls.cert,
           "HELM_TLS_KEY": tls.key, "HELM_TLS_VERIFY": "true" if tls.verify else "false"}
    if tls.hostname:
        out["HELM_TLS_HOSTNAME"] = tls.hostname
    return out


def _kube_client(env: Env, temp_dir=None) -> KubeClient:
    return KubeClient(kubeconfig=env.kube.kubeconfig, context=env.kube.context, namespace=env.namespace,
                      request_timeout=env.timeouts.kube, temp_dir=temp_dir)


def _secret(value) -> str:
    """A resolved secret in clear ("" for one this run did not resolve: it needs none)."""
    return value.get_secret_value() if value is not None else ""


def _admin_password(env: Env) -> str:
    if env.mysql.admin_password is None:  # load_env resolves it for every run that writes
        raise ConfigError(f"{env.source}: key 'mysql.admin_password' was not resolved: this run's phases "
                          "(the read-only proof) do not log in as the MySQL admin")
    return env.mysql.admin_password.get_secret_value()


def _mysql_admin(env: Env) -> Optional[Mysql]:
    m = env.mysql
    if m is None:
        return None
    return Mysql(m.host, m.port, m.admin_user, _admin_password(env), connect_timeout=env.timeouts.http,
                 sql_timeout=env.timeouts.sql)


def _mysql_app(env: Env) -> Optional[Mysql]:
    """MySQL as the services' own user: what the read-only proof reads with (it proves the grants too)."""
    m = env.mysql
    if m is None:
        return None
    return Mysql(m.host, m.port, m.user, m.password.get_secret_value(), connect_timeout=env.timeouts.http,
                 sql_timeout=env.timeouts.sql)


def _dump_tool(env: Env, environ: Mapping[str, str]) -> Optional[DumpTool]:
    """The MySQL client tools, logging in as the env's admin (the backup before the first write)."""
    m = env.mysql
    if m is None:
        return None
    return DumpTool(m.host, m.port, m.admin_user, _admin_password(env), environ=dict(environ),
                    timeout=env.timeouts.backup)


def sandbox_defaults(env: Env) -> Optional[SandboxOptions]:
    """The placeholder env (`sandbox: true`, no cluster named): the fresh sandbox's options; else None."""
    return env.sandbox_options if env.sandbox and "helm" not in env.model_fields_set else None


@dataclass(frozen=True)
class SecretKey:
    """One secret key of the env: where it was read from, and its value (pre-flight's strength check)."""

    key: str   # dotted, e.g. mysql.password
    var: str   # the environment variable
    value: str = field(repr=False)


@dataclass(frozen=True)
class Clients:
    """The settings and every client of a run, built once by `build` (Tempest's clients.Manager).

    What a run may not need is built on first use (`cached_property`): the MySQL admin and the dump
    tools, which a read-only run cannot log in as, and the Kubernetes client, whose kubeconfig the
    up-front check reads first."""

    settings: Settings
    redactor: Redactor
    helm: HelmClient
    mysql_app: Optional[Mysql]
    platform: Optional[PlatformSession]
    releases: Releases
    child_environ: Mapping[str, str] = field(repr=False)  # what children (helm, dump tools, shells) inherit
    secrets: tuple[SecretKey, ...] = field(repr=False)
    _lazy: Mapping[str, Callable] = field(repr=False, compare=False)

    @cached_property
    def kube(self) -> KubeClient:
        return self._lazy["kube"]()

    @cached_property
    def access(self) -> ClusterAccess:
        """Pods and services over HTTP, direct or through the API server (the env's `access`)."""
        return ClusterAccess(self.kube, self.settings.http)

    @cached_property
    def mysql_admin(self) -> Optional[Mysql]:
        return self._lazy["mysql_admin"]()

    @cached_property
    def dump_tool(self) -> Optional[DumpTool]:
        """The MySQL client tools as the admin (the backup before the first write)."""
        return self._lazy["dump_tool"]()


def build(env: Env, temp_dir=None) -> Clients:
    """The one way in: the env's settings and every client, each built once. `temp_dir`: the run's private
    directory, where the kube client's files from the kubeconfig (certificates, keys) go."""
    s = settings(env)
    redactor = Redactor(env.secrets())
    children = child_environ(env)  # once, before the plugin drops the secrets' variables
    helm = _helm_client(env, children)
    secrets = tuple(SecretKey(key, var, value.get_secret_value()) for key, var in sorted(env.secret_vars.items())
                    if (value := getattr(getattr(env, key.split(".")[0]), key.split(".")[1], None)) is not None)
    return Clients(
        settings=s, redactor=redactor, helm=helm, mysql_app=_mysql_app(env),
        platform=PlatformSession(s.platform, redactor, timeout=s.http.timeout) if s.platform else None,
        releases=Releases(helm, s.release_pins, redactor), child_environ=children, secrets=secrets,
        _lazy={"kube": lambda: _kube_client(env, temp_dir), "mysql_admin": lambda: _mysql_admin(env),
               "dump_tool": lambda: _dump_tool(env, children)})


def local_root(host: str, port: int, password: str, tool: DumpTool, sql_timeout: float) -> tuple[Mysql, DumpTool]:
    """Root's SQL client and dump tools on a MariaDB this run started itself (the restore check's),
    with the run's dump tools' environment and time limit."""
    return (Mysql(host, port, "root", password, sql_timeout=sql_timeout),
            DumpTool(host, port, "root", password, environ=tool.environ, timeout=tool.timeout))
