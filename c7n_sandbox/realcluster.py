"""The sandbox: a Choerodon 0.8 installation on the real Kubernetes control plane (issue 16).

``RealCluster(D).start()`` brings up: the control plane (etcd, kube-apiserver, controller manager,
scheduler; its kubeconfig becomes ``D/kubeconfig`` with the contexts sandbox, c7n-upgrade and
c7n-upgrade-check), MariaDB with the 0.8 state, the c7n chart repository on a loopback HTTP server,
``D/sandbox.json``, ``D/faults.json``, ``D/bin/helm`` (a thin wrapper around the real Helm 3 that
logs each call to ``D/helm-calls.jsonl``), the XWiki data dir, GitLab SSH, the node (the kubelet
stand-in), then installs every 0.8 release with the real Helm 3 (or, with helm_dialect=2, the real
Helm 2 client and a Tiller on loopback running as the ServiceAccount kube-system/tiller with
deploy/rbac/helm2-tiller.yaml's rights: controlplane/helm2.py), waits until every 0.8 pod is Ready
on its 0.8 image (as the API server reports it), and writes ``D/secrets.env`` and ``D/env.yaml`` last.
``stop()`` undoes all of it in reverse order and kills a helm still running.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from . import charts, faults as faults_mod, xwiki
from .base import PROJECT_ROOT, TILLER_NAMESPACE, SandboxBase, SandboxError, atomic_write, write_private
from .chartrepo import ChartRepoServer
from .gitlab import ssh_banner_on_free_loopback
from .node.listeners import can_bind_privileged
from .process import real_helm_environment, without_secrets

log = logging.getLogger("c7n_sandbox")

HELM_INSTALLER = PROJECT_ROOT / "scripts" / "install-test-tool.sh"
INSTALL_WORKERS = 4      # helm installs at once (each is a short-lived Go process)
HELM_TIMEOUT_S = 120
MARIADB_START_S = 120    # MariaDB starts beside the control plane; usually ready within seconds


def default_helm_binary(progress: Callable[[str], None]) -> str:
    """The real Helm 3 the project's tests use (scripts/install-test-tool.sh helm installs it once)."""
    progress("sandbox: real Helm 3: scripts/install-test-tool.sh helm")
    result = subprocess.run(["bash", str(HELM_INSTALLER), "helm"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or not result.stdout.strip():
        raise SandboxError(f"no real Helm 3 (scripts/install-test-tool.sh helm failed, {result.returncode}): "
                           f"{result.stderr.strip()[-500:]}; or give one with --helm-binary PATH")
    return result.stdout.strip().splitlines()[-1]


class RealCluster(SandboxBase):
    """A Choerodon 0.8 installation on the real control plane, the node and the real Helm 3 (or 2)."""

    def __init__(self, dir, *, helm_dialect: int = 2, helm_binary: Optional[str] = None, faults: Iterable[str] = (),
                 release_names: Optional[dict] = None, plan: str = "0.8-to-0.9", xwiki_operator: bool = True,
                 progress: Callable[[str], None] = print, ready_timeout: float = 120.0,
                 preinstall_target: Iterable[str] = ()):
        if int(helm_dialect) not in (2, 3):
            raise SandboxError(f"--helm {helm_dialect}: the real control plane runs Helm 2 or 3")
        if int(helm_dialect) == 2 and helm_binary is not None:
            raise SandboxError("--helm-binary takes a real Helm 3; --helm 2 runs the Helm 2 built from "
                               "k8s.io/helm (scripts/build-control-plane.sh --helm2)")
        super().__init__(dir, helm_dialect=int(helm_dialect), helm_binary=helm_binary, faults=faults, release_names=release_names,
                         plan=plan, xwiki_operator=xwiki_operator, progress=progress, ready_timeout=ready_timeout,
                         preinstall_target=preinstall_target)
        self.privileged = can_bind_privileged()
        self.control_plane = None
        self.node = None
        self.repo: Optional[ChartRepoServer] = None
        self.tiller = None  # Helm 2's Tiller (controlplane/helm2.py)
        self._helms: set[subprocess.Popen] = set()
        self._helms_lock = threading.Lock()
        self._stopping = threading.Event()
        self._mariadb_started = threading.Event()
        self._mariadb_error: Optional[BaseException] = None
        self._mariadb_keeper: Optional[threading.Thread] = None
        self._xwiki: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ start
    def _start(self, t0: float) -> None:
        from .controlplane import ControlPlane, ControlPlaneError, ensure_built

        if self.helm_binary is None and self.helm_dialect == 3:
            self.helm_binary = default_helm_binary(self.progress or (lambda line: None))
        try:
            bin_dir = ensure_built(self._say)
            if self.helm_dialect == 2:
                self.helm_binary = str(ensure_built(self._say, helm2=True) / "helm")
            self._mariadb_beside()
            # started from this thread: its processes die with it (PR_SET_PDEATHSIG), as MariaDB's do
            self.control_plane = ControlPlane(self.dir / "controlplane", bin_dir, log=self._say,
                                              namespace=self.namespace).start()
            shutil.copyfile(self.control_plane.kubeconfig, self.kubeconfig)
            os.chmod(self.kubeconfig, 0o600)
            if self.helm_dialect == 2:
                from .controlplane.helm2 import start_tiller
                self.tiller = start_tiller(self.control_plane, Path(self.helm_binary).parent, self.dir / "tiller",
                                           self._say)
        except ControlPlaneError as exc:
            raise SandboxError(str(exc)) from None

        self.repo = ChartRepoServer(charts.repo_handler(charts.catalogue(self.plan))).start()
        self.chart_repo_url = self.repo.url
        self._say(f"chart repo {self.chart_repo_url}")
        atomic_write(self.dir / "sandbox.json", json.dumps({
            "api_url": self.control_plane.url, "namespace": self.namespace,
            "helm_dialect": self.helm_dialect, "tiller_host": self.tiller.host if self.tiller else None,
            "chart_repo_url": self.chart_repo_url, "plan": self.plan_ref, "tiller_namespace": TILLER_NAMESPACE,
            "python": sys.executable, "project_root": str(PROJECT_ROOT), "release_names": self.release_names,
            "helm_binary": self.helm_binary}, indent=2) + "\n")
        self._write_helm_wrapper()
        faults_mod.save_faults(self.dir, self._parsed_faults)
        self.xwiki_data = xwiki.make_xwiki_dir(self.dir)
        try:
            self.ssh = ssh_banner_on_free_loopback("127.30", 22 if self.privileged else 2222)
        except OSError as exc:
            raise SandboxError(f"cannot listen for GitLab SSH: {exc}") from exc
        self._say(f"GitLab SSH listening on {self.ssh.host}:{self.ssh.port}")
        if not self._mariadb_started.wait(MARIADB_START_S):
            raise SandboxError(f"MariaDB did not start within {MARIADB_START_S}s "
                               f"(see {self.dir / 'mysql'} and {self.dir / 'logs' / 'sandbox.log'})")
        if self._mariadb_error is not None:
            raise self._mariadb_error
        self._bootstrap()
        self.node.mark_bootstrapped()
        if self.xwiki_operator:
            self._xwiki = threading.Thread(target=self._xwiki_operator, name="xwiki operator", daemon=True)
            self._xwiki.start()
        self._write_env_files(t0, {"binary": str(self.dir / "bin" / "helm"), "dialect": self.helm_dialect},
                              f"{self.dir / 'bin' / 'helm'} (the real Helm {self.helm_dialect} {self.helm_binary}"
                              f"{f', Tiller on {self.tiller.host}' if self.tiller else ''}, calls logged)")

    def _mariadb_beside(self) -> None:
        """MariaDB starts while the control plane does, in a thread that lives until stop(): its server
        dies with the thread that started it (PR_SET_PDEATHSIG)."""
        def keep():
            try:
                self._start_mariadb()
            except BaseException as exc:  # raised again by the main thread
                self._mariadb_error = exc
            finally:
                self._mariadb_started.set()
            self._stopping.wait()

        self._mariadb_keeper = threading.Thread(target=keep, name="mariadb keeper", daemon=True)
        self._mariadb_keeper.start()

    def _write_helm_wrapper(self) -> None:
        from .helmwrap import write_wrapper
        write_wrapper(self.dir, Path(self.helm_binary), env=self._helm2_env(), dialect=self.helm_dialect)

    def _helm2_env(self) -> dict:
        """Helm 2's client: Tiller's address (no port-forward) and its HELM_HOME (helm init --client-only)."""
        return self.tiller.client_env() if self.tiller else {}

    def _node_options(self) -> dict:
        """What the node needs beyond the kubeconfig: the Choerodon behaviours' world (node/world.py)."""
        return {"choerodon": {
            "namespace": self.namespace, "sandbox_dir": self.dir, "mysql_admin": self.mysql_admin,
            "mysql_proxy": self.mysql_proxy, "admin_password": self.secrets["C7N_ADMIN_PASSWORD"],
            "oauth_client_id": "client", "oauth_client_secret": self.secrets["C7N_OAUTH_CLIENT_SECRET"],
            "release_names": self.release_names, "privileged_ports": self.privileged, "plan": self.plan_ref}}

    def _start_node(self) -> None:
        from .node import Node
        self.node = Node(self.kubeconfig, self.dir / "node", log=self._say, **self._node_options()).start()

    # ------------------------------------------------------------------ the 0.8 installation
    def _helm(self, *args: str, timeout: float = HELM_TIMEOUT_S) -> subprocess.CompletedProcess:
        """The real helm (not D/bin/helm: the 0.8 installation is no call of the run's)."""
        env = {**without_secrets(), **real_helm_environment(self.dir), "KUBECACHEDIR": str(self.dir / "helm-home" / "kube"),
               **self._helm2_env()}
        argv = [str(self.helm_binary), *args, "--kubeconfig", str(self.kubeconfig), "--kube-context", "sandbox"]
        if self._stopping.is_set():
            raise SandboxError("stopping")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        with self._helms_lock:
            self._helms.add(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        finally:
            with self._helms_lock:
                self._helms.discard(proc)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def _install(self, step, values_dir: Path) -> str:
        name = self.actual(step.release)
        version = self._install_version(step)
        fault = faults_mod.fault_for(self._parsed_faults, name, step.release)
        # The 0.8 hooks ran long ago: the 0.8 databases are seeded directly. Only a leftover-jobs fault
        # runs them, so their finished Jobs stay in the namespace (the charts set no delete policy).
        hooks = bool(fault and fault.leaves_hook_jobs())
        values = values_dir / f"{name}.yaml"
        write_private(values, yaml.safe_dump(self._values_08(step, self.privileged)))
        chart = f"{self.plan.repo.name}/{step.chart}"
        named = (name, chart) if self.helm_dialect == 3 else (chart, "--name", name)
        result = self._helm("install", *named, "--version", version, "--namespace", self.namespace, "-f", str(values), *(() if hooks else ("--no-hooks",)))
        if result.returncode != 0:
            raise SandboxError(f"helm install {name} ({step.chart} {version}) failed ({result.returncode}): "
                               f"{result.stderr.strip()[-800:]}")
        log.info("installed %s (%s %s)%s", name, step.chart, version, " with its hook Jobs" if hooks else "")
        return name

    def _bootstrap(self) -> None:
        steps = self._steps_08()
        repo = self._helm("repo", "add", self.plan.repo.name, self.chart_repo_url)
        if repo.returncode != 0:
            raise SandboxError(f"helm repo add {self.plan.repo.name} {self.chart_repo_url} failed: {repo.stderr}")
        self._say(f"installing the 0.8 releases ({len(steps)}) with the real Helm {self.helm_dialect} ({self.helm_binary})")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=self.dir, prefix=".values-") as values_dir:
            with ThreadPoolExecutor(INSTALL_WORKERS, thread_name_prefix="helm-install") as pool:
                installs = [pool.submit(self._install, step, Path(values_dir)) for step in steps]
                self._start_node()  # meanwhile: the scheduler binds the pods once the node is there
                for install in installs:
                    install.result()
        self._say(f"  {len(steps)} releases installed in {time.monotonic() - started:.1f}s; "
                  "waiting for every 0.8 pod to be Ready")
        self._wait_ready(steps)
        from kubernetes import client as k8s
        core = k8s.CoreV1Api(self._api())
        try:
            gateway, front = (core.read_namespaced_service(self.actual(name), self.namespace).spec
                              for name in ("api-gateway", "choerodon-front"))
            self.gateway_url = self._url(gateway.cluster_ip, gateway.ports[0].port)
            self.front_url = self._url(front.cluster_ip, front.ports[0].port)
        finally:
            core.api_client.close()
        self._say(f"all {len(steps)} 0.8 releases up; gateway {self.gateway_url}, front {self.front_url}")

    def _api(self):
        from kubernetes import config as kube_config
        return kube_config.new_client_from_config(config_file=str(self.kubeconfig), context="sandbox")

    def _wait_ready(self, steps) -> None:
        from kubernetes import client as k8s
        api = self._api()
        core = k8s.CoreV1Api(api)
        deadline = time.monotonic() + self.ready_timeout
        last_report = 0.0
        try:
            while True:
                pods = core.list_namespaced_pod(self.namespace).items
                pending = [self.actual(s.release) for s in steps if not self._release_ready(s, pods)]
                if not pending:
                    return
                now = time.monotonic()
                if now > deadline:
                    raise SandboxError(f"0.8 services not up after {self.ready_timeout:.0f}s: {', '.join(pending)} "
                                       f"(see kubectl --kubeconfig {self.kubeconfig} get pods; "
                                       f"{self.dir / 'logs' / 'sandbox.log'})")
                if now - last_report > 2.0:
                    self._say(f"  {len(steps) - len(pending)}/{len(steps)} releases Ready")
                    last_report = now
                time.sleep(0.2)
        finally:
            api.close()

    def _release_ready(self, step, pods) -> bool:
        """Every live pod of the release is Ready, runs the install version's image and is labelled with it."""
        name, version = self.actual(step.release), self._install_version(step)
        mine = [p for p in pods if (p.metadata.labels or {}).get("choerodon.io/release") == name
                and not p.metadata.deletion_timestamp and not (p.metadata.labels or {}).get("job-name")]
        if not mine:
            return False
        for pod in mine:
            if (pod.metadata.labels or {}).get("choerodon.io/version") != version:
                return False
            conditions = {c.type: c.status for c in (pod.status.conditions or [])}
            if conditions.get("Ready") != "True":
                return False
            images = [c.image for c in (pod.status.container_statuses or [])]
            if not images or not all(i.endswith(f":{version}") for i in images):
                return False
        return True

    def _xwiki_operator(self, after_step: int = 10) -> None:
        """The simulated operator: the XWiki manual steps, once steps 1-10 run their target versions."""
        from kubernetes import client as k8s

        api = self._api()
        core = k8s.CoreV1Api(api)
        try:
            while not self._stopping.wait(1.0):
                try:
                    items = core.list_namespaced_pod(self.namespace).items
                except Exception:  # the API server is stopping, or busy: look again
                    continue
                pods = [((p.metadata.labels or {}).get("choerodon.io/service", ""),
                         (p.metadata.labels or {}).get("choerodon.io/version", ""))
                        for p in items if not p.metadata.deletion_timestamp]
                if xwiki.steps_at_target(self.plan, after_step, pods):
                    log.info("steps 1-%d are at their target versions; the simulated operator applies "
                             "the XWiki manual steps", after_step)
                    self.apply_xwiki_manual_steps()
                    return
        except Exception:
            log.exception("the XWiki operator failed")
        finally:
            api.close()

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop everything this sandbox started, in reverse order. Safe to call twice."""
        self._stopping.set()
        if self._mariadb_keeper is not None:
            self._mariadb_started.wait(MARIADB_START_S)  # a MariaDB still starting is stopped once up
        with self._helms_lock:
            helms = list(self._helms)
        for proc in helms:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
        self._stop_parts("node", "ssh", "repo", "tiller", "control_plane", "mysql_proxy", "mariadb")
        for thread in (self._mariadb_keeper, self._xwiki):
            if thread is not None:
                thread.join(5)
        self._close_logging()
