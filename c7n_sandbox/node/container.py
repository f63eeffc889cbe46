"""One container of a pod as the kubelet drives it: image pull (and its back-off), start, exit,
restarts with the crash back-off, probes, and the status it reports (containerStatuses[])."""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime, timezone

from . import images
from .probes import Probe
from .process import Process, expand, kill_group

IDLE = ["sleep", "infinity"]  # a Choerodon image with no behaviour (dbtool without a command)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """Go's time.Duration printing for whole seconds: 10s, 1m20s, 5m0s."""
    s = int(seconds)
    return f"{s // 60}m{s % 60}s" if s >= 60 else f"{s}s"


class Container:
    def __init__(self, pod, spec: dict, init: bool = False):
        self.pod = pod          # the PodWorker: its node, identity, IP, events, restart policy
        self.spec = spec
        self.name = spec["name"]
        self.init = init
        self.reference = spec.get("image", "")
        self.image = images.parse(self.reference)
        self.phase = "pull"     # pull | pull_failed | create | running | crash_backoff | done
        self.execs: set = set()          # exec'd processes (streams.py): they end with the instance
        self._execs_lock = threading.Lock()
        self._execs_open = False
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict = {}
        self.restart_count = 0
        self.pulled = False
        self.ready = self.started = False
        self.container_id = ""
        self.process: Process | None = None
        self.started_at = ""
        self.started_mono = 0.0
        self.crash_backoff = 0.0      # the kubelet's per-container back-off: 0 = not in back-off
        self.restart_at = 0.0
        self.pull_backoff = 0.0
        self.pull_at = 0.0
        self.pull_failed_mono = 0.0
        self.pull_message = ""
        self.probes: dict[str, Probe] = {}
        self.exit_code: int | None = None   # of the last instance

    # ---- the reported status ----------------------------------------------------------------
    def status(self) -> dict:
        status = {"name": self.name, "image": self.image.name if self.pulled else self.reference,
                  "imageID": self.image.image_id if self.pulled else "", "state": self.state,
                  "lastState": self.last_state, "ready": self.ready, "restartCount": self.restart_count,
                  "started": self.started}
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    @property
    def finished(self) -> bool:
        return self.phase == "done"

    # ---- one step of the kubelet's sync loop ------------------------------------------------------
    def tick(self, now: float) -> None:
        if self.phase == "pull":
            self._pull(now)
        elif self.phase == "pull_failed":
            if now >= self.pull_at:
                self.phase = "pull"
            elif self.state["waiting"]["reason"] == "ErrImagePull" and now - self.pull_failed_mono >= 1.0:
                # the next sync finds the image in back-off
                message = f'Back-off pulling image "{self.reference}"'
                self.state = {"waiting": {"reason": "ImagePullBackOff",
                                          "message": f"{message}: ErrImagePull: {self.pull_message}"}}
                self.pod.event("BackOff", message, "Normal", self)
                self.pod.event("Failed", "Error: ImagePullBackOff", "Warning", self)
        elif self.phase == "create":
            self._start()
        elif self.phase == "running":
            code = self.process.poll()
            if code is not None:
                self.process.drain()  # its last lines are in the log before it is reported terminated
                self._exited(code)
            else:
                self._probe(now)
        elif self.phase == "crash_backoff" and now >= self.restart_at:
            self.crash_backoff = min(self.crash_backoff * 2, self.pod.node.max_backoff)
            self._pull(now)

    def _pull(self, now: float) -> None:
        """Each start of a container pulls its image as its policy says (Always: again at each restart)."""
        policy = self.spec.get("imagePullPolicy") or ("Always" if self.image.tag == "latest" else "IfNotPresent")
        known = self.pod.node.can_pull(self)
        if known and policy != "Always":
            self.pod.event("Pulled", f'Container image "{self.reference}" already present on machine', "Normal", self)
        else:
            self.pod.event("Pulling", f'Pulling image "{self.reference}"', "Normal", self)
            if known:
                self.pod.event("Pulled", f'Successfully pulled image "{self.reference}" in 12ms (12ms including '
                                         "waiting). Image size: 2166000 bytes.", "Normal", self)
        if known:
            self.pulled = True
            self.phase = "create"
            self.pull_backoff = 0.0
            self._start()
            return
        error = images.pull_error(self.reference, self.image)
        code = "NotFound" if error.endswith(": not found") else "Unknown"
        self.pull_message = f"rpc error: code = {code} desc = {error}"
        self.pod.event("Failed", f'Failed to pull image "{self.reference}": {self.pull_message}', "Warning", self)
        self.pod.event("Failed", "Error: ErrImagePull", "Warning", self)
        self.state = {"waiting": {"reason": "ErrImagePull", "message": self.pull_message}}
        base, cap = self.pod.node.crash_base, self.pod.node.max_backoff
        self.pull_backoff = min(self.pull_backoff * 2, cap) if self.pull_backoff else base
        self.pull_failed_mono, self.pull_at = now, now + self.pull_backoff
        self.phase = "pull_failed"

    # ---- start and exit ---------------------------------------------------------------------------
    def _argv(self, env: dict[str, str]) -> list[str]:
        command = self.spec.get("command") or []
        args = self.spec.get("args") or []
        if not command:
            command = (["sh"] if self.image.generic else IDLE) if not args else []
        argv = [expand(a, env) for a in [*command, *args]]
        return argv or ["sh"]

    def _start(self) -> None:
        if self.container_id:  # a new instance of a container that ran before
            self.restart_count += 1
        self.container_id = "containerd://" + hashlib.sha256(
            f"{self.pod.uid}/{self.name}/{self.restart_count}/{time.time()}".encode()).hexdigest()
        env = self.pod.environment(self.spec)
        argv = self._argv(env)
        self.process = self.pod.node.process_for(self, argv, env)
        with self._execs_lock:
            self._execs_open = True
        self.started_at = now_iso()
        self.started_mono = time.monotonic()
        try:
            self.process.start()
        except OSError as exc:
            reason = "executable file not found in $PATH" if isinstance(exc, FileNotFoundError) else str(exc)
            message = (f"failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                       f'runc create failed: unable to start container process: exec: "{argv[0]}": {reason}: unknown')
            self.pod.event("Created", f"Created container: {self.name}", "Normal", self)
            self.pod.event("Failed", f"Error: {message}", "Warning", self)
            self._exited(128, reason="StartError", message=message)
            return
        self.pod.event("Created", f"Created container: {self.name}", "Normal", self)
        self.pod.event("Started", f"Started container {self.name}", "Normal", self)
        self.state = {"running": {"startedAt": self.started_at}}
        self.phase = "running"
        started = time.monotonic()
        self.probes = {kind: Probe(kind, self.spec[key], started) for kind, key in
                       (("Startup", "startupProbe"), ("Readiness", "readinessProbe"), ("Liveness", "livenessProbe"))
                       if not self.init and self.spec.get(key)}
        self.started = "Startup" not in self.probes
        self.ready = self.started and "Readiness" not in self.probes and not self.init

    def add_exec(self, proc) -> bool:
        """Register an exec'd process; False (kill it) when the instance it was for has ended."""
        with self._execs_lock:
            if self._execs_open:
                self.execs.add(proc)
            return self._execs_open

    def drop_exec(self, proc) -> None:
        with self._execs_lock:
            self.execs.discard(proc)

    def end_execs(self) -> None:
        """The instance ended: its exec'd processes end with it, as in a container's PID namespace."""
        with self._execs_lock:
            procs, self.execs, self._execs_open = list(self.execs), set(), False
        for proc in procs:
            kill_group(proc)

    def _exited(self, code: int, reason: str | None = None, message: str | None = None) -> None:
        self.end_execs()
        self.exit_code = code
        terminated = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error"),
                      "startedAt": self.started_at, "finishedAt": now_iso(), "containerID": self.container_id}
        if not message and code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = self._log_tail()
        if message:
            terminated["message"] = message
        self.ready = self.started = False
        self.probes = {}
        policy = self.pod.restart_policy(self)
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            self.last_state = {"terminated": terminated}
            self._back_off()
        else:
            self.state = {"terminated": terminated}
            self.phase = "done"

    def _log_tail(self) -> str:
        """The kubelet's fallback termination message: the log's last 80 lines, at most 2 KiB."""
        from .server import LogView
        path = self.pod.log_path(self.name, self.restart_count)
        text = LogView({"tailLines": "80"}).render(path.read_bytes() if path.exists() else b"", tail=True)
        return text[-2048:].decode(errors="replace")

    def _back_off(self) -> None:
        """The kubelet restarts a container that was not in back-off at once and starts its back-off
        (10 s); one that exits again within its back-off waits it out in CrashLoopBackOff, and each
        restart after a wait doubles it, up to 5 min. A container that ran 10 min resets it."""
        now = time.monotonic()
        if not self.crash_backoff or now - self.started_mono > 2 * self.pod.node.max_backoff:
            self.crash_backoff = self.pod.node.crash_base
            self._pull(now)
            return
        pod = self.pod
        message = (f"back-off {duration(self.crash_backoff)} restarting failed container={self.name} "
                   f"pod={pod.name}_{pod.namespace}({pod.uid})")
        self.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        self.pod.event("BackOff", f"Back-off restarting failed container {self.name} in pod "
                                  f"{pod.name}_{pod.namespace}({pod.uid})", "Warning", self)
        self.restart_at = now + self.crash_backoff
        self.phase = "crash_backoff"

    def stop(self, grace: float) -> None:
        """Kill the running instance (pod deleted, node stopping): it ends terminated."""
        self.end_execs()
        if self.phase == "running" and self.process:
            self.pod.event("Killing", f"Stopping container {self.name}", "Normal", self)
            code = self.process.kill(grace)
            self.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "startedAt": self.started_at, "finishedAt": now_iso(),
                                         "containerID": self.container_id}}
        self.ready = self.started = False
        self.phase = "done"

    # ---- probes ---------------------------------------------------------------------------------
    def _probe(self, now: float) -> None:
        for kind in ("Startup", "Liveness", "Readiness"):
            probe = self.probes.get(kind)
            if probe is None or not probe.due(now) or (kind != "Startup" and not self.started):
                continue
            if kind == "Startup" and self.started:
                continue
            ok, message = probe.run(now, self.pod.ip, self.pod.ports(self.spec), self.pod.environment(self.spec),
                                    self.pod.workdir(self.name))
            if not ok:
                self.pod.event("Unhealthy", f"{kind} probe failed: {message}", "Warning", self)
            if kind == "Readiness" and probe.result is not None:
                self.ready = probe.result
            elif kind == "Startup" and probe.result:
                self.started = True
                self.ready = "Readiness" not in self.probes
            elif probe.result is False:  # liveness or startup: the container is killed and restarted
                self.pod.event("Killing", f"Container {self.name} failed {kind.lower()} probe, will be restarted",
                               "Normal", self)
                grace = min(float(self.pod.spec.get("terminationGracePeriodSeconds", 30) or 0), 5.0)
                self._exited(self.process.kill(grace))
                return
