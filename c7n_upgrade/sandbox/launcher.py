"""Start and stop a whole sandbox in-process: the simulated Choerodon 0.8 cluster.

``SimulatedCluster(D).start()`` brings up, in order: MariaDB (+ the 0.8 state) behind a TCP proxy, the
store and the Kubernetes API server (with the c7n chart repository mounted at ``/charts/c7n/``),
``D/kubeconfig``, ``D/sandbox.json``, the ``D/bin/helm`` wrapper, ``D/faults.json``, the runtime,
a GitLab SSH listener, the XWiki data dir, then installs every 0.8 release, waits until every pod
is Ready and UP, and finally writes ``D/secrets.env`` and (atomically) ``D/env.yaml``.
``stop()`` undoes all of it, in reverse order.
"""
from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

from c7n_upgrade.plan import PLANS_DIR

from . import charts, faults as faults_mod, xwiki
from .apiserver import ApiServer, Store, write_kubeconfig
from .base import (PROJECT_ROOT, TILLER_NAMESPACE, SandboxBase, SandboxError, atomic_write as _atomic_write,
                   check_helm_binary)
from .gitlab import SshBanner, ssh_banner_on_free_loopback
from .runtime import Runtime, can_bind_privileged

log = logging.getLogger("c7n_upgrade.sandbox")

__all__ = ["SandboxError", "SimulatedCluster", "check_helm_binary"]


class SimulatedCluster(SandboxBase):
    """A simulated Choerodon 0.8 cluster in this process (what `python -m c7n_upgrade.sandbox up` runs)."""

    def __init__(self, dir, *, helm_dialect: int = 2, helm_binary: Optional[str] = None, faults: Iterable[str] = (),
                 release_names: Optional[dict] = None, plan: str = "0.8-to-0.9", kube_minor: int = 15,
                 xwiki_operator: bool = True, progress: Callable[[str], None] = print,
                 ready_timeout: float = 120.0, preinstall_target: Iterable[str] = ()):
        # helm_binary: a real Helm 3 the env file names (None: the sandbox's helm)
        if helm_binary is not None and int(helm_dialect) != 3:
            raise SandboxError("--helm-binary takes a real Helm 3: the sandbox stores releases for helm 3 (--helm 3)")
        super().__init__(dir, helm_dialect=helm_dialect, helm_binary=helm_binary, faults=faults,
                         release_names=release_names, plan=plan, xwiki_operator=xwiki_operator, progress=progress,
                         ready_timeout=ready_timeout, preinstall_target=preinstall_target)
        self.kube_minor = kube_minor
        self.privileged = can_bind_privileged()
        self.store: Optional[Store] = None
        self.api: Optional[ApiServer] = None
        self.runtime: Optional[Runtime] = None
        self.ssh: Optional[SshBanner] = None
        self.api_url = ""

    # ------------------------------------------------------------------ start
    def _start(self, t0: float) -> None:
        self._start_mariadb()

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
            mysql_admin=self.mysql_admin,
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
        self._write_env_files(t0, self._helm_env(), self.helm_binary or str(bindir / "helm"))

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
    def _bootstrap(self) -> None:
        from .helm.engine import install_release
        from .kubeapi import KubeApi

        api = KubeApi(self.api_url)
        steps = self._steps_08()
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
                            values=self._values_08(step, self.privileged), namespace=self.namespace,
                            dialect=self.helm_dialect,
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
        self.gateway_url = self._service_url(self.store.get("services", self.namespace, self.actual("api-gateway")))
        self.front_url = self._service_url(self.store.get("services", self.namespace, self.actual("choerodon-front")))
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
    def _helm_env(self) -> dict:
        return {"binary": self.helm_binary or str(self.dir / "bin" / "helm")}

    def _gateway_for_xwiki(self) -> str:
        if not self.gateway_url and self.store is not None:
            return self._service_url(self.store.get("services", self.namespace, self.actual("api-gateway")))
        return self.gateway_url

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop everything this sandbox started, in reverse order. Safe to call twice."""
        self._stop_parts("runtime", "ssh", "api", "mysql_proxy", "mariadb")
        self._close_logging()
