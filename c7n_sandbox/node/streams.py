"""What the node's kubelet API runs for exec, attach and port-forward (the protocols are ..streaming's).

- exec: the command as a child process of this machine (killed when the container instance ends, as
  in its PID namespace), in the container's environment, its cwd the container's scratch root (a Choerodon image has no filesystem of its own; a generic one runs on this
  machine's anyway), stdin/stdout/stderr streamed; a tty is not allocated (stderr joins stdout);
- attach: the running instance's stdout and stderr from now on (read from its log, as it is written),
  and its stdin when the container asked for one (`stdin: true`; `stdinOnce` closes it after the
  first attach);
- port-forward: a connection to the pod's IP and the port (the pod's "localhost" is its own address).
"""
from __future__ import annotations

import socket
import subprocess
import threading

from ..streaming import spdy, websocket
from ..streaming.portforward import CHUNK
from ..streaming.remotecommand import ExecFailed
from .process import _die_with_parent, kill_group

OUTPUT_GRACE = 5.0    # seconds the output of an exited command may take to arrive (a child holding it)


def running(worker, name: str):
    """The container `name` of the pod if it runs now, else None."""
    container = next((c for c in [*worker.init, *worker.containers] if c.name == name), None)
    return container if container is not None and container.phase == "running" and container.process else None


def exec_run(worker, container, command: list[str], tty: bool):
    env = worker.environment(container.spec)
    cwd = worker.workdir(container.name)

    def run(stdin, stdout, stderr) -> int:
        cwd.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
                                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if stdout or (tty and stderr) else subprocess.DEVNULL,
                                    stderr=(subprocess.STDOUT if tty else subprocess.PIPE) if stderr
                                    else subprocess.DEVNULL)
        except OSError as exc:
            reason = "executable file not found in $PATH" if isinstance(exc, FileNotFoundError) else str(exc)
            raise ExecFailed(f"error executing command in container: failed to exec in container: failed to "
                             f"start exec: OCI runtime exec failed: exec failed: unable to start container "
                             f'process: exec: "{command[0]}": {reason}: unknown') from None
        if not container.add_exec(proc):   # the instance ended meanwhile
            kill_group(proc)
        pumps = [_thread(_copy_out, proc.stdout, stdout or stderr)] if proc.stdout else []
        if proc.stderr:
            pumps.append(_thread(_copy_out, proc.stderr, stderr))
        if stdin:
            _thread(_copy_in, stdin, proc.stdin, True)
        code = proc.wait()
        container.drop_exec(proc)
        for pump in pumps:
            pump.join(OUTPUT_GRACE)
        return 128 - code if code < 0 else code
    return run


def attach_run(worker, container):
    from .server import follow
    instance, process = container.restart_count, container.process
    path = worker.log_path(container.name, instance)
    offset = path.stat().st_size if path.exists() else 0

    def run(stdin, stdout, stderr) -> int:
        pipe = process.proc.stdin if process.proc else None
        if stdin and pipe:
            _thread(_copy_in, stdin, pipe, bool(container.spec.get("stdinOnce")))
        elif stdin:
            _thread(_discard, stdin)
        for chunk in follow(worker, container, instance, path, offset):
            for record in chunk.splitlines():
                parts = record.split(b" ", 3)
                if len(parts) < 4:
                    continue
                send = stdout if parts[1] == b"stdout" else stderr
                if send:
                    send(parts[3] + (b"\n" if parts[2] == b"F" else b""))
        return 0
    return run


def dial(worker, port: int) -> socket.socket:
    """A connection to the pod's listener; OSError with the kubelet's message when there is none."""
    try:   # where the pod listens: a Choerodon image's port below 1024 is 8000 higher without root
        conn = socket.create_connection((worker.ip, worker.node.world.bind_port(port)), timeout=3)
        conn.settimeout(None)
        return conn
    except OSError as exc:
        raise OSError(f"error forwarding port {port} to pod {worker.name}_{worker.namespace}, uid {worker.uid}: "
                      f"failed to connect to localhost:{port} inside the pod: {exc.strerror or exc}") from None


def _thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=f"exec {target.__name__}", daemon=True)
    thread.start()
    return thread


def _copy_out(pipe, send) -> None:
    try:
        while data := pipe.read1(CHUNK):
            if send:
                send(data)
    except (OSError, spdy.Closed, websocket.Closed):
        pass  # the client went away: the command keeps running, as in a container
    finally:
        pipe.close()


def _copy_in(read, pipe, close: bool) -> None:
    """The client's bytes to the process; the client's end of stdin closes it when `close`."""
    try:
        while chunk := read():
            pipe.write(chunk)
            pipe.flush()
        if close:
            pipe.close()
    except (OSError, ValueError):
        pass


def _discard(read) -> None:
    while read():
        pass
