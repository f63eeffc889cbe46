"""A pod bound to the node: its containers (init containers first, one at a time), its phase and
conditions as the kubelet computes them, its status written to the API server, its deletion."""
from __future__ import annotations

import base64
import logging
import threading
import time
from pathlib import Path

from kubernetes.client.rest import ApiException

from .container import Container, now_iso
from .process import HOST_PATH, expand

TICK_S = 0.2
pods_log = logging.getLogger("c7n_sandbox.node")   # sandbox.log's pod lines: bench/common.py reads them
MAX_GRACE_S = 30.0


class PodWorker:
    def __init__(self, node, pod: dict, ip: str):
        self.node = node
        self.pod = pod
        meta = pod["metadata"]
        self.uid, self.name, self.namespace = meta["uid"], meta["name"], meta["namespace"]
        self.spec = pod["spec"]
        self.ip = ip
        self.init = [Container(self, c, init=True) for c in self.spec.get("initContainers") or []]
        self.containers = [Container(self, c) for c in self.spec.get("containers") or []]
        for container in self.containers if self.init else ():
            container.state = {"waiting": {"reason": "PodInitializing"}}
        self.start_time = now_iso()
        self.seen = time.monotonic()     # faults act on pods first seen after the bootstrap
        self.job_labels: dict | None = None
        self.transitions: dict[str, tuple[str, str]] = {}
        self.phase = "Pending"
        self._last_status: dict | None = None
        self._was_ready = False
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"pod {self.namespace}/{self.name}", daemon=True)

    # ---- what containers need from their pod --------------------------------------------------
    def restart_policy(self, container: Container) -> str:
        policy = self.spec.get("restartPolicy") or "Always"
        if container.init:  # init containers restart on failure unless the pod never restarts
            return "Never" if policy == "Never" else "OnFailure"
        return policy

    def event(self, reason: str, message: str, kind: str, container: Container | None = None) -> None:
        self.node.event(self, reason, message, kind, container)

    def workdir(self, container: str) -> Path:
        return self.node.dir / "pods" / f"{self.namespace}_{self.name}_{self.uid}" / container / "root"

    def log_path(self, container: str, instance: int) -> Path:
        """The kubelet's layout: /var/log/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log."""
        return self.node.dir / "pods" / f"{self.namespace}_{self.name}_{self.uid}" / container / f"{instance}.log"

    def ports(self, spec: dict) -> dict[str, int]:
        return {p["name"]: p["containerPort"] for p in spec.get("ports") or [] if p.get("name")}

    def environment(self, spec: dict) -> dict[str, str]:
        env = {"PATH": HOST_PATH, "HOSTNAME": self.name, "HOME": str(self.workdir(spec["name"])),
               **self.node.service_env()}
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            for key, value in self._values(source.get("configMapRef"), source.get("secretRef")).items():
                env[prefix + key] = value
        for var in spec.get("env") or []:
            if "value" in var or "valueFrom" not in var:
                env[var["name"]] = expand(var.get("value") or "", env)
            else:
                env[var["name"]] = self._value_from(var["valueFrom"])
        return env

    def _values(self, config_map: dict | None, secret: dict | None) -> dict[str, str]:
        try:
            if config_map:
                return dict(self.node.read("configmap", self.namespace, config_map["name"]).get("data") or {})
            if secret:
                data = self.node.read("secret", self.namespace, secret["name"]).get("data") or {}
                return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
        except ApiException:
            pass  # a real kubelet refuses to start the container (CreateContainerConfigError): not yet
        return {}

    def _value_from(self, source: dict) -> str:
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            meta = self.pod["metadata"]
            simple = {"metadata.name": self.name, "metadata.namespace": self.namespace, "metadata.uid": self.uid,
                      "spec.nodeName": self.node.name, "spec.serviceAccountName": self.spec.get("serviceAccountName", ""),
                      "status.podIP": self.ip, "status.podIPs": self.ip, "status.hostIP": self.node.address,
                      "status.hostIPs": self.node.address}
            if path in simple:
                return simple[path]
            for field in ("labels", "annotations"):
                prefix = f"metadata.{field}['"
                if path.startswith(prefix):
                    return (meta.get(field) or {}).get(path[len(prefix):-2], "")
            return ""
        ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
        if ref:
            values = self._values(source.get("configMapKeyRef"), source.get("secretKeyRef"))
            return values.get(ref.get("key"), "")
        return ""

    # ---- the sync loop ------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def update(self, pod: dict) -> None:
        self.pod = pod

    def stop(self) -> None:
        """The pod is gone from the API server, or the node stops: kill what runs, at once."""
        self._stop.set()
        # not yet started: Node.stop() may run between _sync registering a worker and starting it
        if self.thread.ident is not None and threading.current_thread() is not self.thread:
            self.thread.join(10)
        for container in [*self.init, *self.containers]:
            container.stop(0)

    def _run(self) -> None:
        # The processes die with this thread (PR_SET_PDEATHSIG names the thread that forked them),
        # so it lives as long as the pod.
        try:
            while not self._stop.is_set():
                if self.pod["metadata"].get("deletionTimestamp"):
                    self._terminate()
                    return
                if self.phase not in ("Succeeded", "Failed"):
                    self._sync()
                self._write_status()
                self._stop.wait(TICK_S)
        except Exception as exc:  # noqa: BLE001 - a pod's failure must not stop the node
            self.node.log(f"node: pod {self.namespace}/{self.name}: {exc!r}")
        finally:
            for container in [*self.init, *self.containers]:
                container.stop(0)

    def _sync(self) -> None:
        now = time.monotonic()
        for container in self.init:
            if container.finished and container.exit_code == 0:
                continue
            container.tick(now)
            if not (container.finished and container.exit_code == 0):
                break
        else:
            for container in self.containers:
                container.tick(now)
        self.phase = self._phase()
        if self.phase in ("Succeeded", "Failed"):
            for container in self.containers:
                container.stop(0)

    def _phase(self) -> str:
        """The kubelet's getPhase: Pending while initializing or waiting for a first start,
        Running while anything runs (or restarts), then Succeeded or Failed by exit codes."""
        policy = self.spec.get("restartPolicy") or "Always"
        for container in self.init:
            if container.finished and container.exit_code != 0:
                return "Failed"
            if not container.finished:
                return "Pending"
        running = waiting = stopped = succeeded = failed = 0
        for container in self.containers:
            if "running" in container.state:
                running += 1
            elif "terminated" in container.state:
                stopped += 1
                succeeded += container.state["terminated"]["exitCode"] == 0
                failed += container.state["terminated"]["exitCode"] != 0
            elif container.last_state:
                stopped += 1
            else:
                waiting += 1
        if waiting:
            return "Pending"
        if running:
            return "Running"
        if policy == "Always":
            return "Running"
        if policy == "OnFailure":
            return "Succeeded" if stopped == succeeded else "Running"
        return "Failed" if failed else "Succeeded"

    def _condition(self, kind: str, ok: bool, reason: str = "", message: str = "") -> dict:
        status = "True" if ok else "False"
        if self.transitions.get(kind, ("", ""))[0] != status:
            self.transitions[kind] = (status, now_iso())
        condition = {"type": kind, "status": status, "lastProbeTime": None,
                     "lastTransitionTime": self.transitions[kind][1]}
        if reason:
            condition.update(reason=reason, message=message)
        return condition

    def status(self) -> dict:
        terminal = self.phase in ("Succeeded", "Failed")
        unfinished = [c.name for c in self.init if not (c.finished and c.exit_code == 0)]
        unready = [c.name for c in self.containers if not c.ready]
        scheduled = [c for c in (self.pod.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"]
        conditions = [
            self._condition("PodReadyToStartContainers", not terminal),
            self._condition("Initialized", not unfinished, "" if not unfinished else "ContainersNotInitialized",
                            f"containers with incomplete status: [{' '.join(unfinished)}]"),
            self._condition("Ready", not unready, "PodCompleted" if terminal else ("" if not unready else "ContainersNotReady"),
                            "" if terminal else f"containers with unready status: [{' '.join(unready)}]"),
            self._condition("ContainersReady", not unready,
                            "PodCompleted" if terminal else ("" if not unready else "ContainersNotReady"),
                            "" if terminal else f"containers with unready status: [{' '.join(unready)}]"),
            *scheduled]
        status = {"phase": self.phase, "conditions": conditions, "hostIP": self.node.address,
                  "hostIPs": [{"ip": self.node.address}], "podIP": self.ip, "podIPs": [{"ip": self.ip}],
                  "startTime": self.start_time, "containerStatuses": [c.status() for c in self.containers]}
        if self.init:
            status["initContainerStatuses"] = [c.status() for c in self.init]
        return status

    def _write_status(self) -> None:
        status = self.status()
        if status == self._last_status:
            return
        try:
            self.node.patch_pod_status(self.namespace, self.name, self.uid, status)
            self._last_status = status
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
            if ready and not self._was_ready:
                pods_log.info("pod %s/%s Ready", self.namespace, self.name)
            self._was_ready = ready
        except ApiException as exc:
            if exc.status in (404, 409, 422):  # gone, or another pod of that name now
                self._stop.set()
            else:
                self.node.log(f"node: status of {self.namespace}/{self.name}: {exc.status} {exc.reason}")

    def _terminate(self) -> None:
        """A graceful delete: stop the containers within the grace period (at most 30 s here), report
        the final status, then remove the pod (the kubelet's delete with grace period 0)."""
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        grace = min(float(self.spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace), MAX_GRACE_S)
        for container in [*self.init, *self.containers]:
            container.stop(grace)
        if self.phase not in ("Succeeded", "Failed"):  # a deleted pod ends terminal: Succeeded only when
            # every container exited 0 (one waiting in a back-off did not)
            clean = all(c.state.get("terminated", {}).get("exitCode", 1) == 0 for c in self.containers)
            self.phase = "Succeeded" if clean else "Failed"
        self._write_status()
        self.node.delete_pod(self.namespace, self.name, self.uid)
        pods_log.info("pod %s/%s deleted", self.namespace, self.name)
