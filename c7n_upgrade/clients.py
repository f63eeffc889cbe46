"""The wiring: the one place, besides `config/`, that reads an Env (Tempest's clients.py).

It turns the env into the clients (helm, Kubernetes, MySQL admin, the platform session) and into the
small frozen settings of `settings.py` and `rollout.RolloutPolicy`. Everything else in the library
takes those and never sees the env; `tests/unit/test_wiring.py` keeps it that way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from .config import ConfigError, Env
from .helm import HelmClient
from .kube import KubeClient
from .mysql import Mysql
from .platform import PlatformSession
from .redact import secret_forms
from .rollout import RolloutPolicy
from .mysqldump import DumpTool
from .settings import (BackupPolicy, FrontOAuthClient, GitlabSsh, HttpAccess, MysqlAppUser, PlanValues,
                       PlatformCredentials, XwikiSite)


@dataclass(frozen=True)
class Settings:
    """Everything the library takes from the env, as plain frozen values (None: the env gives none)."""

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
        namespace=env.namespace,
        release_pins=dict(env.releases),
        http=HttpAccess(mode=env.access, timeout=float(t.http)),
        rollout=RolloutPolicy(timeout=float(t.step), poll_max=float(t.poll_max), settle_seconds=float(t.settle),
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


def helm_client(env: Env) -> HelmClient:
    return HelmClient(env.helm.binary, namespace=env.namespace, kube_context=env.kube.context,
                      kubeconfig=env.kube.kubeconfig, tiller_namespace=env.helm.tiller_namespace,
                      env=helm_tls_environment(env), timeout=env.timeouts.helm, environ=child_environ(env),
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


def kube_client(env: Env) -> KubeClient:
    return KubeClient(kubeconfig=env.kube.kubeconfig, context=env.kube.context, namespace=env.namespace,
                      request_timeout=env.timeouts.kube)


def _secret(value) -> str:
    """A resolved secret in clear ("" for one this run did not resolve: it needs none)."""
    return value.get_secret_value() if value is not None else ""


def _admin_password(env: Env) -> str:
    if env.mysql.admin_password is None:  # load_env resolves it for every run that writes
        raise ConfigError(f"{env.source}: key 'mysql.admin_password' was not resolved: this run's phases "
                          "(the read-only proof) do not log in as the MySQL admin")
    return env.mysql.admin_password.get_secret_value()


def mysql_admin(env: Env) -> Optional[Mysql]:
    m = env.mysql
    if m is None:
        return None
    return Mysql(m.host, m.port, m.admin_user, _admin_password(env), connect_timeout=env.timeouts.http,
                 sql_timeout=env.timeouts.sql)


def mysql_app(env: Env) -> Optional[Mysql]:
    """MySQL as the services' own user: what the read-only proof reads with (it proves the grants too)."""
    m = env.mysql
    if m is None:
        return None
    return Mysql(m.host, m.port, m.user, m.password.get_secret_value(), connect_timeout=env.timeouts.http,
                 sql_timeout=env.timeouts.sql)


def dump_tool(env: Env) -> Optional[DumpTool]:
    """The MySQL client tools, logging in as the env's admin (the backup before the first write)."""
    m = env.mysql
    if m is None:
        return None
    return DumpTool(m.host, m.port, m.admin_user, _admin_password(env), environ=child_environ(env),
                    timeout=env.timeouts.backup)


def platform_session(env: Env, redactor) -> Optional[PlatformSession]:
    s = settings(env)
    if s.platform is None:
        return None
    return PlatformSession(s.platform, redactor, timeout=s.http.timeout)
