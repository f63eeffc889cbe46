"""Start and stop a whole sandbox in-process: the simulated Choerodon 0.8 cluster.

``SimulatedCluster(D).start()`` brings up, in order: MariaDB (+ the 0.8 state) behind a TCP proxy, the
store and the Kubernetes API server (with the c7n chart repository mounted at ``/charts/c7n/``),
``D/kubeconfig``, ``D/sandbox.json``, the ``D/bin/helm`` wrapper, ``D/faults.json``, the runtime,
a GitLab SSH listener, the XWiki data dir, then installs every 0.8 release, waits until every pod
is Ready and UP, and finally writes ``D/secrets.env`` and (atomically) ``D/env.yaml``.
``stop()`` undoes all of it, in reverse order.
"""
from __future__ import annotations

import logging
import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from c7n_upgrade.config import dotenv_line
from c7n_upgrade.plan import PLANS_DIR, load_plan

from . import charts, faults as faults_mod, xwiki
from .gitlab import SshBanner, ssh_banner_on_free_loopback
from .apiserver import ApiServer, Store, write_kubeconfig
from .process import real_helm_environment
from .runtime import Runtime, can_bind_privileged

log = logging.getLogger("c7n_upgrade.sandbox")

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
TILLER_NAMESPACE = "kube-system"
APP_USER = "choerodon"
SECRET_VARIABLES = ("C7N_MYSQL_ROOT_PASSWORD", "C7N_MYSQL_PASSWORD", "C7N_ADMIN_PASSWORD", "C7N_OAUTH_CLIENT_SECRET",
                    "C7N_FRONT_CLIENT_SECRET")
# the 0.8 services that have their own database (or share iam's), by chart
DATABASE_BY_CHART = {
    "manager-service": "manager_service",
    "iam-service": "iam_service",
    "oauth-server": "iam_service",
    "gateway-helper": "iam_service",
    "devops-service": "devops_service",
    "agile-service": "agile_service",
    "test-manager-service": "test_manager_service",
    "wiki-service": "wiki_service",
}


class SandboxError(RuntimeError):
    """The sandbox could not start; the message says what to do."""


def check_helm_binary(path) -> Path:
    """A real Helm 3 binary for the env file (`up --helm-binary`): its absolute path, or SandboxError
    naming what is wrong with it."""
    import re
    import subprocess

    binary = Path(path).expanduser().resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise SandboxError(f"--helm-binary {path}: no executable file there")
    try:
        out = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"--helm-binary {path}: `helm version --short` failed: {exc}") from None
    version = (out.stdout or "").strip()
    if out.returncode != 0 or not re.match(r"v3\.", version):
        raise SandboxError(f"--helm-binary {path}: expected a Helm 3 (`helm version --short` says "
                           f"{version or (out.stderr or '').strip()[:200]!r})")
    return binary


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # an existing file keeps its old mode on open: narrow it before writing
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    _write_private(tmp, text, mode)
    os.replace(tmp, path)


class SimulatedCluster:
    """A simulated Choerodon 0.8 cluster in this process (what `python -m c7n_upgrade.sandbox up` runs)."""

    def __init__(self, dir, *, helm_dialect: int = 2, helm_binary: Optional[str] = None, faults: Iterable[str] = (),
                 release_names: Optional[dict] = None, plan: str = "0.8-to-0.9", kube_minor: int = 15,
                 xwiki_operator: bool = True, progress: Callable[[str], None] = print,
                 ready_timeout: float = 120.0, preinstall_target: Iterable[str] = ()):
        self.dir = Path(dir).resolve()
        self.helm_dialect = int(helm_dialect)
        self.helm_binary = helm_binary      # a real Helm 3 the env file names (None: the sandbox's helm)
        if helm_binary is not None and self.helm_dialect != 3:
            raise SandboxError("--helm-binary takes a real Helm 3: the sandbox stores releases for helm 3 (--helm 3)")
        self.fault_specs = list(faults)
        self.release_names = dict(release_names or {})
        self.plan_name = plan
        self.plan = load_plan(plan)
        self.namespace = self.plan.namespace
        self.kube_minor = kube_minor
        self.xwiki_operator = xwiki_operator
        self.progress = progress
        self.ready_timeout = ready_timeout
        # bench only: releases (fnmatch globs) installed straight at their target version
        self.preinstall_target = list(preinstall_target)
        self.privileged = can_bind_privileged()
        self.secrets: dict[str, str] = {}
        self.mariadb = None
        self.mysql_proxy = None
        self.store: Optional[Store] = None
        self.api: Optional[ApiServer] = None
        self.runtime: Optional[Runtime] = None
        self.ssh: Optional[SshBanner] = None
        self.api_url = ""
        self.chart_repo_url = ""
        self.gateway_url = ""
        self.front_url = ""
        self.xwiki_data: Optional[Path] = None
        self.startup_seconds: Optional[float] = None
        self._log_handler: Optional[logging.Handler] = None
        self._parsed_faults: dict[str, faults_mod.Fault] = {}

    # ------------------------------------------------------------------ helpers
    def _say(self, line: str) -> None:
        log.info(line)
        if self.progress:
            self.progress(f"sandbox: {line}")

    def actual(self, default: str) -> str:
        return self.release_names.get(default, default)

    @property
    def plan_ref(self) -> str:
        """The plan as the env file names it: a plan name, or the absolute path of a plan file."""
        if str(self.plan_name).endswith((".yaml", ".yml")):
            return str(Path(self.plan_name).resolve())
        return str(self.plan_name)

    def _preinstalled(self, step) -> bool:
        from fnmatch import fnmatchcase
        return any(fnmatchcase(step.release, pattern) for pattern in self.preinstall_target)

    def _install_version(self, step) -> str:
        return step.version if self._preinstalled(step) else step.from_version

    @property
    def env_file(self) -> Path:
        return self.dir / "env.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def _setup_logging(self) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.dir / "logs" / "sandbox.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger("c7n_upgrade")
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)
        self._log_handler = handler

    # ------------------------------------------------------------------ start
    def start(self) -> "SimulatedCluster":
        t0 = time.monotonic()
        if self.env_file.exists():
            raise SandboxError(f"{self.dir} already holds a sandbox (env.yaml exists); use an empty directory")
        for spec in self.fault_specs:  # validate before anything starts
            release, fault = faults_mod.parse_fault(spec)
            self._parsed_faults[release] = fault
        if self.helm_binary is not None:
            self.helm_binary = str(check_helm_binary(self.helm_binary))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._setup_logging()
        try:
            self._start(t0)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, t0: float) -> None:
        from . import mariadb  # imported here: it checks for the server binaries only when used

        # a secret variable already set in the environment is used as it is (tests choose hostile ones)
        self.secrets = {name: os.environ.get(name) or secrets.token_urlsafe(18) for name in SECRET_VARIABLES}
        self.values_only_token = secrets.token_urlsafe(18)
        # MySQL
        self._say("starting MariaDB")
        try:
            self.mariadb = mariadb.MariaDB(self.dir / "mysql", self.secrets["C7N_MYSQL_ROOT_PASSWORD"]).start()
        except mariadb.MariaDBMissing as exc:
            raise SandboxError("MariaDB server binaries are missing (mariadbd, mariadb-install-db). "
                               "Install them with: apt-get install mariadb-server") from exc
        mariadb.seed_08_state(self.mariadb, app_user=APP_USER, app_password=self.secrets["C7N_MYSQL_PASSWORD"])
        with self.mariadb.admin_connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE iam_service.oauth_client SET secret = %s WHERE name = 'client'",
                        (self.secrets["C7N_OAUTH_CLIENT_SECRET"],))
        self.mysql_proxy = mariadb.TcpProxy("127.0.0.1", "127.0.0.1", self.mariadb.port).start()
        self._say(f"MariaDB up on 127.0.0.1:{self.mariadb.port} (clients use the proxy 127.0.0.1:{self.mysql_proxy.port})")

        # API server + chart repo
        self.store = Store(namespaces=("default", "kube-system", "kube-public", self.namespace))
        self.api = ApiServer(self.store, kube_minor=self.kube_minor, log_path=str(self.dir / "logs" / "apiserver.log"),
                             log_provider=self._pod_log)
        catalogue = charts.catalogue(self.plan)
        self.api.mount("/charts/c7n/", charts.repo_handler(catalogue))
        self.api_url = self.api.start()
        self.chart_repo_url = f"{self.api_url}/charts/c7n/"
        write_kubeconfig(str(self.kubeconfig), self.api_url, self.namespace)
        self._say(f"Kubernetes API (v1.{self.kube_minor}) at {self.api_url}; chart repo {self.chart_repo_url}")

        # helm
        sandbox_json = {
            "api_url": self.api_url, "namespace": self.namespace, "helm_dialect": self.helm_dialect,
            "chart_repo_url": self.chart_repo_url, "plan": str(PLANS_DIR / f"{self.plan_name}.yaml")
            if not str(self.plan_name).endswith((".yaml", ".yml")) else str(Path(self.plan_name).resolve()),
            "tiller_namespace": TILLER_NAMESPACE, "python": sys.executable, "project_root": str(PROJECT_ROOT),
            "release_names": self.release_names, "helm_binary": self.helm_binary,
        }
        import json
        _atomic_write(self.dir / "sandbox.json", json.dumps(sandbox_json, indent=2) + "\n")
        bindir = self.dir / "bin"
        bindir.mkdir(exist_ok=True)
        wrapper = ("#!/bin/sh\n"
                   f"C7N_SANDBOX_DIR={shlex.quote(str(self.dir))} "
                   f"PYTHONPATH={shlex.quote(str(PROJECT_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}} "
                   f"exec {shlex.quote(sys.executable)} -m c7n_upgrade.sandbox.helm \"$@\"\n")
        _atomic_write(bindir / "helm", wrapper, 0o755)
        faults_mod.save_faults(self.dir, self._parsed_faults)

        # the runtime
        self.xwiki_data = xwiki.make_xwiki_dir(self.dir)
        self.runtime = Runtime(
            self.store, self.dir, self.plan, self.namespace,
            mysql_admin={"host": "127.0.0.1", "port": self.mariadb.port, "user": "root",
                         "password": self.secrets["C7N_MYSQL_ROOT_PASSWORD"]},
            mysql_proxy=self.mysql_proxy, admin_password=self.secrets["C7N_ADMIN_PASSWORD"],
            oauth_client_id="client", oauth_client_secret=self.secrets["C7N_OAUTH_CLIENT_SECRET"],
            release_names=self.release_names, privileged_ports=self.privileged,
            xwiki_operator=self.apply_xwiki_manual_steps if self.xwiki_operator else None,
            kube_minor=self.kube_minor,
        ).start()
        self.api.pods = self.runtime       # exec and port-forward
        if not self.privileged:
            self._say("not root: service ports below 1024 are served 8000 higher "
                      "(choerodon-front: service port 80 served on 8080)")

        # GitLab SSH
        try:
            self.ssh = ssh_banner_on_free_loopback("127.30", 22 if self.privileged else 2222)
        except OSError as exc:
            raise SandboxError(f"cannot listen for GitLab SSH: {exc}") from exc
        self._say(f"GitLab SSH listening on {self.ssh.host}:{self.ssh.port}")

        # the 0.8 installation
        self._bootstrap()
        self.runtime.mark_bootstrapped()

        # the env file appears last: it means ready
        _write_private(self.dir / "secrets.env", "".join(dotenv_line(k, v) for k, v in self.secrets.items()))
        _atomic_write(self.env_file, self._env_yaml())
        self.startup_seconds = time.monotonic() - t0
        self._say(f"ready in {self.startup_seconds:.1f}s")
        self._say(f"kubeconfig: {self.kubeconfig}")
        self._say(f"env file:   {self.env_file}   (pytest suites/ --env {self.env_file})")
        self._say(f"helm:       {self.helm_binary or bindir / 'helm'}   (export KUBECONFIG={self.kubeconfig})")
        if self.helm_binary:
            exports = " ".join(f"{k}={v}" for k, v in real_helm_environment(self.dir).items())
            self._say("            a real helm keeps its repositories in its own config: to keep the sandbox's "
                      f"out of yours, export {exports}")

    def _pod_log(self, namespace, name, tail=None, follow=False, previous=False):
        """The API server's log_provider: the pod's log text, or with follow its chunks (None: unknown pod);
        previous: its container's last run."""
        if self.runtime is None:
            return None if follow else ""
        if previous:
            return self.runtime.pod_log(namespace, name, tail, previous=True) or ""
        if follow:
            return self.runtime.pod_log(namespace, name, tail, follow=True)
        return self.runtime.pod_log(namespace, name, tail) or ""

    # ------------------------------------------------------------------ bootstrap
    def _values_08(self, step) -> dict:
        ns = self.namespace
        mysql_host, mysql_port = "127.0.0.1", self.mysql_proxy.port
        env_open: dict = {}
        if step.health_port:  # Spring Boot services
            env_open.update({
                "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE": f"http://{self.actual('register-server')}.{ns}:8000/eureka/",
                "SPRING_CLOUD_CONFIG_ENABLED": True,
                "SPRING_CLOUD_CONFIG_URI": f"http://{self.actual('config-server')}.{ns}:8010/",
                "SPRING_KAFKA_BOOTSTRAP_SERVERS": ",".join(self.kafka),
            })
        if step.chart == "go-register-server":
            env_open = {"REGISTER_SERVICE_NAMESPACE": ns, "KAFKA_ADDRESSES": ",".join(self.kafka)}
        database = DATABASE_BY_CHART.get(step.chart)
        values: dict = {"replicaCount": 1, "env": {"open": env_open}}
        if database:
            env_open.update({
                "SPRING_DATASOURCE_URL": f"jdbc:mysql://{mysql_host}:{mysql_port}/{database}"
                                         "?useUnicode=true&characterEncoding=utf-8&useSSL=false",
                "SPRING_DATASOURCE_USERNAME": APP_USER,
                "SPRING_DATASOURCE_PASSWORD": self.secrets["C7N_MYSQL_PASSWORD"],
            })
        pre_job: dict = {}
        for hook in step.hooks:
            section = "preInitDB" if hook == "init-db" else "preConfig"
            pre_job[section] = {"mysql": {"host": mysql_host, "port": mysql_port, "username": APP_USER,
                                          "password": self.secrets["C7N_MYSQL_PASSWORD"],
                                          "database": database if hook == "init-db" else "manager_service"}}
        if pre_job:
            values["preJob"] = pre_job
        if step.chart == "gitlab-service":
            # a credential that lives only in the release's values (not in the env), as real installs have
            env_open["GITLAB_PRIVATETOKEN"] = self.values_only_token
        if step.chart == "devops-service":
            env_open.update({"SERVICES_GITLAB_URL": f"http://{self.ssh.host}",
                             "SERVICES_HELM_URL": self.chart_repo_url,
                             "AGENT_VERSION": "0.8.2"})
        if step.chart == "choerodon-front":
            env_open.update({"PRO_API_HOST": "api.example.choerodon.io", "PRO_CLIENT_ID": "choerodon",
                             "PRO_TITLE_NAME": "Choerodon", "PRO_HEADER_TITLE_NAME": "Choerodon"})
            if not self.privileged and step.service_port < 1024:
                values["service"] = {"port": step.service_port + 8000}
        return values

    @property
    def kafka(self) -> list[str]:
        return [f"kafka-{i}.kafka-headless.{self.namespace}:9092" for i in range(3)]

    @property
    def zookeeper(self) -> list[str]:
        return [f"zookeeper-{i}.zookeeper-headless.{self.namespace}:2181" for i in range(3)]

    def _bootstrap(self) -> None:
        from .helm.engine import install_release
        from .kubeapi import KubeApi

        api = KubeApi(self.api_url)
        steps = [s for s in self.plan.steps
                 if (s.from_version and s.action == "upgrade") or self._preinstalled(s)]
        self._say(f"installing the 0.8 releases ({len(steps)}) with helm {self.helm_dialect} storage")
        if self.preinstall_target:
            targets = [s.release for s in steps if self._preinstalled(s)]
            self._say(f"bench: {len(targets)} release(s) installed at their target version "
                      f"(--preinstall-target {' '.join(self.preinstall_target)})")
        for step in steps:
            name = self.actual(step.release)
            fault = faults_mod.fault_for(self._parsed_faults, name, step.release)
            create_hooks = bool(fault and fault.leaves_hook_jobs())
            install_release(api, name=name, chart=step.chart, version=self._install_version(step),
                            values=self._values_08(step), namespace=self.namespace, dialect=self.helm_dialect,
                            tiller_ns=TILLER_NAMESPACE, plan_step=step, create_hooks=create_hooks)
            log.info("installed %s (%s %s)%s", name, step.chart, self._install_version(step),
                     " with its finished hook Jobs left over" if create_hooks else "")
        self._say("waiting for every 0.8 pod to be Ready and UP")
        deadline = time.monotonic() + self.ready_timeout
        last_report = 0.0
        while True:
            pending = self._not_ready(steps)
            if not pending:
                break
            now = time.monotonic()
            if now > deadline:
                raise SandboxError(f"0.8 services not up after {self.ready_timeout:.0f}s: {', '.join(pending)} "
                                   f"(see {self.dir / 'logs' / 'sandbox.log'})")
            if now - last_report > 2.0:
                total = len(steps)
                self._say(f"  {total - len(pending)}/{total} releases up")
                last_report = now
            time.sleep(0.1)
        # remember where the gateway and the front are
        gw = self.store.get("services", self.namespace, self.actual("api-gateway"))
        gw_port = gw["spec"]["ports"][0]["port"]
        self.gateway_url = f"http://{gw['spec']['clusterIP']}:{gw_port}"
        front = self.store.get("services", self.namespace, self.actual("choerodon-front"))
        fport = front["spec"]["ports"][0]["port"]
        self.front_url = f"http://{front['spec']['clusterIP']}" + ("" if fport == 80 else f":{fport}")
        self._say(f"all {len(steps)} 0.8 releases up; gateway {self.gateway_url}, front {self.front_url}")

    def _not_ready(self, steps) -> list[str]:
        pending = []
        ready = {(p.release, p.version) for p in self.runtime.pods() if p.ready and not p.deleted}
        for step in steps:
            name = self.actual(step.release)
            if (name, self._install_version(step)) not in ready:
                pending.append(name)
        if not pending and not self.runtime.all_ready(self.namespace):
            pending.append("(rollout)")
        return pending

    # ------------------------------------------------------------------ env file
    def _env_yaml(self) -> str:
        env = {
            "name": "sandbox",  # not the directory: the report's trend is kept per env name (share.py)
            "sandbox": True,
            "namespace": self.namespace,
            "plan": self.plan_ref,
            "kube": {"kubeconfig": str(self.kubeconfig), "context": "sandbox"},
            "access": "direct",
            "helm": {"binary": self.helm_binary or str(self.dir / "bin" / "helm"), "repo_name": self.plan.repo.name,
                     "repo_url": self.chart_repo_url, "tiller_namespace": TILLER_NAMESPACE},
            "releases": dict(self.release_names),
            "mysql": {"host": "127.0.0.1", "port": self.mysql_proxy.port,
                      "service_host": "127.0.0.1", "service_port": self.mysql_proxy.port,
                      "admin_user": "root", "admin_password": "${C7N_MYSQL_ROOT_PASSWORD}",
                      "user": APP_USER, "password": "${C7N_MYSQL_PASSWORD}"},
            "kafka": self.kafka,
            "zookeeper": self.zookeeper,
            "gateway_url": self.gateway_url,
            "front_url": self.front_url,
            "minio_url": "http://minio.sandbox.invalid",
            "gitlab": {"url": f"http://{self.ssh.host}", "ssh_host": self.ssh.host, "ssh_port": self.ssh.port},
            "platform": {"admin_user": "admin", "admin_password": "${C7N_ADMIN_PASSWORD}",
                         "client_id": "client", "client_secret": "${C7N_OAUTH_CLIENT_SECRET}",
                         "organization_id": 1, "front_client_secret": "${C7N_FRONT_CLIENT_SECRET}"},
            "xwiki": {"host": "local://", "data_dir": str(self.xwiki_data)},
            # a short settle window keeps the project's many sandbox runs fast (the flap tests use the default)
            "timeouts": {"step": 120, "http": 5, "settle": 1},
            "secrets_file": "secrets.env",
        }
        header = ("# Written by `python -m c7n_upgrade.sandbox up` once every 0.8 service was up.\n"
                  "# Secrets are in secrets.env (mode 0600), referenced as ${NAME}.\n")
        return header + yaml.safe_dump(env, default_flow_style=False, sort_keys=False)

    # ------------------------------------------------------------------ XWiki operator
    def apply_xwiki_manual_steps(self) -> list[str]:
        """The operator's manual XWiki steps (properties + extension files), simulated."""
        gateway = self.gateway_url
        if not gateway and self.store is not None:
            svc = self.store.get("services", self.namespace, self.actual("api-gateway"))
            gateway = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"
        done = xwiki.apply_manual_steps(self.xwiki_data, gateway)
        for line in done:
            log.info("XWiki operator: %s", line)
        return done

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop everything this sandbox started, in reverse order. Safe to call twice."""
        for what, fn in (("runtime", lambda: self.runtime and self.runtime.stop()),
                         ("gitlab ssh", lambda: self.ssh and self.ssh.stop()),
                         ("api server", lambda: self.api and self.api.stop()),
                         ("mysql proxy", lambda: self.mysql_proxy and self.mysql_proxy.stop()),
                         ("mariadb", lambda: self.mariadb and self.mariadb.stop())):
            try:
                fn()
            except Exception:
                log.exception("stopping the %s failed", what)
        self.runtime = self.ssh = self.api = self.mysql_proxy = self.mariadb = None
        if self._log_handler is not None:
            logging.getLogger("c7n_upgrade").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
