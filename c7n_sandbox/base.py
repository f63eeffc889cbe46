"""The parts of the sandbox (`realcluster.RealCluster`) that do not talk to Kubernetes: the secrets,
MariaDB with the 0.8 state, the 0.8 releases' values, the progress and log lines, and the files written
last (`D/secrets.env`, then `D/env.yaml`, which means ready). A module of its own to keep each file small.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from c7n_upgrade.config import dotenv_line
from c7n_upgrade.plan import load_plan

from . import faults as faults_mod, xwiki
from .process import real_helm_environment

log = logging.getLogger("c7n_sandbox")
# sandbox.log gets both: the sandbox's own lines (the node's pod lines the bench reads) and the
# product modules it uses (e.g. the throwaway MariaDB); c7n_sandbox is no child of c7n_upgrade
LOGGERS = ("c7n_sandbox", "c7n_upgrade")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # an existing file keeps its old mode on open: narrow it before writing
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write_private(tmp, text, mode)
    os.replace(tmp, path)


class SandboxBase:
    """RealCluster's parts that do not depend on Kubernetes (subclassed by it alone)."""

    def __init__(self, dir, *, helm_dialect: int = 2, helm_binary: Optional[str] = None, faults: Iterable[str] = (),
                 release_names: Optional[dict] = None, plan: str = "0.8-to-0.9", xwiki_operator: bool = True,
                 progress: Callable[[str], None] = print, ready_timeout: float = 120.0,
                 preinstall_target: Iterable[str] = ()):
        self.dir = Path(dir).resolve()
        self.helm_dialect = int(helm_dialect)
        self.helm_binary = helm_binary
        self.fault_specs = list(faults)
        self.release_names = dict(release_names or {})
        self.plan_name = plan
        self.plan = load_plan(plan)
        self.namespace = self.plan.namespace
        self.xwiki_operator = xwiki_operator
        self.progress = progress
        self.ready_timeout = ready_timeout
        # bench only: releases (fnmatch globs) installed straight at their target version
        self.preinstall_target = list(preinstall_target)
        self.secrets: dict[str, str] = {}
        self.values_only_token = ""
        self.mariadb = None
        self.mysql_proxy = None
        self.ssh = None
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

    def _steps_08(self) -> list:
        """The plan's steps whose release a 0.8 installation has (or the bench preinstalls)."""
        return [s for s in self.plan.steps if (s.from_version and s.action == "upgrade") or self._preinstalled(s)]

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
        for name in LOGGERS:
            root = logging.getLogger(name)
            root.addHandler(handler)
            if root.level == logging.NOTSET or root.level > logging.INFO:
                root.setLevel(logging.INFO)
        self._log_handler = handler

    def _close_logging(self) -> None:
        if self._log_handler is not None:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def start(self):
        """Start everything (`_start`); on any failure or signal, stop what was started and re-raise."""
        t0 = time.monotonic()
        self._prepare()
        try:
            self._start(t0)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, t0: float) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _stop_parts(self, *attributes: str) -> None:
        """Stop each part named (an attribute holding something with stop()), in this order, and forget it;
        a part that fails to stop is logged and the next one is still stopped."""
        for attribute in attributes:
            part = getattr(self, attribute, None)
            if part is None:
                continue
            try:
                part.stop()
            except Exception:
                log.exception("stopping the %s failed", attribute)
            setattr(self, attribute, None)

    def _prepare(self) -> None:
        """Checks made before anything starts, then the directory and its log."""
        if self.env_file.exists():
            raise SandboxError(f"{self.dir} already holds a sandbox (env.yaml exists); use an empty directory")
        for spec in self.fault_specs:
            release, fault = faults_mod.parse_fault(spec)
            self._parsed_faults[release] = fault
        if self.helm_binary is not None:
            self.helm_binary = str(check_helm_binary(self.helm_binary))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._setup_logging()

    # ------------------------------------------------------------------ MariaDB
    def _start_mariadb(self) -> None:
        from . import mariadb  # imported here: it checks for the server binaries only when used

        # a secret variable already set in the environment is used as it is (tests choose hostile ones)
        self.secrets = {name: os.environ.get(name) or secrets.token_urlsafe(18) for name in SECRET_VARIABLES}
        self.values_only_token = secrets.token_urlsafe(18)
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

    @property
    def mysql_admin(self) -> dict:
        return {"host": "127.0.0.1", "port": self.mariadb.port, "user": "root",
                "password": self.secrets["C7N_MYSQL_ROOT_PASSWORD"]}

    # ------------------------------------------------------------------ the 0.8 values
    def _values_08(self, step, privileged: bool) -> dict:
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
            if not privileged and step.service_port < 1024:
                values["service"] = {"port": step.service_port + 8000}
        return values

    @property
    def kafka(self) -> list[str]:
        return [f"kafka-{i}.kafka-headless.{self.namespace}:9092" for i in range(3)]

    @property
    def zookeeper(self) -> list[str]:
        return [f"zookeeper-{i}.zookeeper-headless.{self.namespace}:2181" for i in range(3)]

    @staticmethod
    def _url(ip: str, port: int) -> str:
        return f"http://{ip}" + ("" if port == 80 else f":{port}")

    # ------------------------------------------------------------------ env file
    def _env_yaml(self, helm: dict) -> str:
        env = {
            "name": "sandbox",  # not the directory: the report's trend is kept per env name (share.py)
            "sandbox": True,
            "namespace": self.namespace,
            "plan": self.plan_ref,
            "kube": {"kubeconfig": str(self.kubeconfig), "context": "sandbox"},
            "access": "direct",
            "helm": {**helm, "repo_name": self.plan.repo.name, "repo_url": self.chart_repo_url,
                     "tiller_namespace": TILLER_NAMESPACE},
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
        header = ("# Written by `python -m c7n_sandbox up` once every 0.8 service was up.\n"
                  "# Secrets are in secrets.env (mode 0600), referenced as ${NAME}.\n")
        return header + yaml.safe_dump(env, default_flow_style=False, sort_keys=False)

    def _write_env_files(self, t0: float, helm: dict, helm_shown: str) -> None:
        """secrets.env, then env.yaml (atomically): its appearance means ready."""
        write_private(self.dir / "secrets.env", "".join(dotenv_line(k, v) for k, v in self.secrets.items()))
        atomic_write(self.env_file, self._env_yaml(helm))
        self.startup_seconds = time.monotonic() - t0
        self._say(f"ready in {self.startup_seconds:.1f}s")
        self._say(f"kubeconfig: {self.kubeconfig}")
        self._say(f"env file:   {self.env_file}   (pytest suites/ --env {self.env_file})")
        self._say(f"helm:       {helm_shown}   (export KUBECONFIG={self.kubeconfig})")
        if self.helm_binary and helm.get("binary") == self.helm_binary:  # a wrapper sets these itself
            exports = " ".join(f"{k}={v}" for k, v in real_helm_environment(self.dir).items())
            self._say("            a real helm keeps its repositories in its own config: to keep the sandbox's "
                      f"out of yours, export {exports}")

    # ------------------------------------------------------------------ XWiki operator
    def apply_xwiki_manual_steps(self) -> list[str]:
        """The operator's manual XWiki steps (properties + extension files), simulated."""
        done = xwiki.apply_manual_steps(self.xwiki_data, self.gateway_url)
        for line in done:
            log.info("XWiki operator: %s", line)
        return done
