"""Containers of Choerodon images: no process runs, the node serves the service's behaviour
(behaviours/) on the pod's IP, one HTTP listener per containerPort, with a Spring-Boot-like log.
A fault of the release may make one exit at start instead (crash-loop, and hook-fail for a hook
Job's dbtool). Both look like process.Process to container.py: start, poll, drain, kill."""
from __future__ import annotations

import threading
import time
from datetime import datetime

from ..chart_templates import DBTOOL_IMAGE
from . import images
from .listeners import PodHandler, PodServer
from .pod import pods_log
from .process import cri_record
from .world import PodView

RUN_S = 0.5   # how long a crashing container runs before it exits


class _Server(PodServer):
    allow_reuse_address = True   # a restarted container binds again while its last connections linger


class _Logged:
    def __init__(self, log_path):
        self.log_path = log_path
        self.code: int | None = None
        self._lock = threading.Lock()

    def open_log(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)

    def write_log(self, line: str) -> None:
        """A service's log line, with a Spring Boot-like time stamp."""
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        with self._lock:
            self._log.write(cri_record("stdout", f"{stamp} {line}\n".encode()))

    def poll(self) -> int | None:
        return self.code

    def drain(self, timeout: float = 1.0) -> None:
        pass


class Exiting(_Logged):
    """A container that logs `lines` and exits `code` RUN_S later (faults.PodFailure "crash")."""

    def __init__(self, lines, code: int, log_path):
        super().__init__(log_path)
        self.lines, self.exit_code = lines, code
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        self.open_log()
        for line in self.lines:
            self.write_log(line)
        self._timer = threading.Timer(RUN_S, self._exit)
        self._timer.daemon = True
        self._timer.start()

    def _exit(self) -> None:
        self.code = self.exit_code

    def kill(self, grace: float = 0.0) -> int:
        if self._timer:
            self._timer.cancel()
        if self.code is None:
            self.code = 143 if grace > 0 else 137
        return self.code


class ServiceContainer(_Logged):
    """The service's behaviour on pod IP:containerPort (ports < 1024 8000 higher without root),
    listening `delay` s after start (slow-start)."""

    def __init__(self, world, container, env: dict, log_path, delay: float = 0.0):
        super().__init__(log_path)
        self.world, self.container, self.delay = world, container, delay
        worker = container.pod
        self.pod = PodView(lambda: worker.pod, env=env, ip=worker.ip, after_bootstrap=world.after_bootstrap(worker))
        self.pod.write_log = self.write_log
        self.servers: list = []
        self.created = time.monotonic()
        self._timer: threading.Timer | None = None
        self._state = threading.Lock()   # kill() against a slow start's timer already firing
        self._killed = False

    def start(self) -> None:
        self.open_log()
        pod = self.pod
        if pod.service == "choerodon-front":
            self.write_log("nginx: [notice] start worker processes")
        else:
            app = self.app
            self.write_log(f"INFO  [main] {app}: Starting {app} v{pod.version} on {pod.name} with PID 1")
        if self.delay > 0:
            self._timer = threading.Timer(self.delay, self._listen)
            self._timer.daemon = True
            self._timer.start()
        else:
            self._listen()

    @property
    def app(self) -> str:
        return "".join(part.capitalize() for part in (self.pod.service or self.container.name).split("-")) \
            + "Application"

    def _listen(self) -> None:
        ports = [int(p["containerPort"]) for p in self.container.spec.get("ports") or [] if p.get("containerPort")]
        try:
            with self._state:
                if self._killed:
                    return
                for port in ports:
                    server = _Server((self.pod.ip, self.world.bind_port(port)), PodHandler)
                    server.c7n = (self.world, self.pod, port)
                    self.servers.append(server)
                    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                                     name=f"pod {self.pod.name}:{port}").start()
        except OSError as exc:
            self.write_log(f"ERROR [main] o.s.b.d.LoggingFailureAnalysisReporter: Web server failed to start. "
                           f"Port {port} on {self.pod.ip} was already in use ({exc.strerror}).")
            self._close()
            self.code = 1
            return
        self.pod.started_at = time.monotonic()
        listening = ", ".join(f"{p}" + (f" (bound {self.world.bind_port(p)})" if self.world.bind_port(p) != p else "")
                              for p in ports)
        if self.pod.service == "choerodon-front":
            return
        self.write_log(f"INFO  [main] Tomcat started on port(s): {listening or 'none'} (http) on {self.pod.ip}")
        self.write_log(f"INFO  [main] {self.app}: Started {self.app} in {time.monotonic() - self.created:.3f} seconds")

    def _close(self) -> None:
        servers, self.servers = self.servers, []
        for server in servers:
            server.shutdown()
            server.server_close()

    def kill(self, grace: float = 0.0) -> int:
        if self._timer:
            self._timer.cancel()
        if self.code is None:
            self.write_log("INFO  [Thread-1] shutting down")
            self.code = 143 if grace > 0 else 137
        with self._state:
            self._killed = True
        self._close()
        return self.code


def service_image(container) -> bool:
    """A Choerodon service's image (the hook Jobs' dbtool runs its command as any image)."""
    return not container.image.generic and container.image.name != images.parse(DBTOOL_IMAGE).name


def process_for(world, container, env: dict):
    """The process-like object for this start of `container`, or None: a process runs its command."""
    worker = container.pod
    log_path = worker.log_path(container.name, container.restart_count)
    start = world.pod_start(worker)
    labels = worker.pod["metadata"].get("labels") or {}
    if start.version_label and start.version_label != labels.get("choerodon.io/version", start.version_label):
        world.relabel(worker, start.version_label)
    if start.failure is not None and start.failure.how == "crash":
        return Exiting(start.failure.output, start.failure.exit_code, log_path)
    if service_image(container):
        pods_log.info("pod %s/%s created (version label %s, start in %.1fs)", worker.namespace, worker.name,
                      start.version_label or labels.get("choerodon.io/version", ""), start.start_delay)
        return ServiceContainer(world, container, env, log_path, start.start_delay)
    return None


def pull_refused(world, container) -> bool:
    """image-missing: this start's pull of the release's new image fails."""
    start = world.pod_start(container.pod)
    return start.failure is not None and start.failure.how == "image"
