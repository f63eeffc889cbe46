"""The kubelet API the API server calls, over HTTPS (a self-signed certificate for the node's address:
the sandbox's API server has no --kubelet-certificate-authority, so it does not verify it, and this
server does not ask who calls):
- `kubectl logs`: GET /containerLogs/{ns}/{pod}/{container} with follow, previous, tailLines,
  limitBytes, timestamps, sinceSeconds and sinceTime;
- `exec` (and `cp`, an exec of tar), `attach`, `port-forward`: GET or POST /exec/{ns}/{pod}/{container}
  (command, input, output, error, tty), /attach/{ns}/{pod}/{container}, /portForward/{ns}/{pod}
  (port), upgraded to SPDY/3.1 or a websocket (streams.py runs them, ..streaming speaks them)."""
from __future__ import annotations

import http.server
import re
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from ..streaming import portforward, remotecommand, spdy
from ..streaming.websocket import Refused, WebSocket, is_websocket, negotiate
from . import streams

FOLLOW_POLL_S = 0.2
FOLLOW_MAX_S = 3600  # a follow ends at the latest after this long


HANDSHAKE_TIMEOUT_S = 10


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], OSError):   # a failed or silent TLS handshake: just closed
            super().handle_error(request, client_address)


class KubeletServer:
    def __init__(self, node, pki: Path):
        self.node = node
        self.pki = Path(pki)
        self.httpd: _Server | None = None

    def start(self) -> int:
        self.pki.mkdir(parents=True, exist_ok=True)
        cert, key = self.pki / "kubelet.crt", self.pki / "kubelet.key"
        if not cert.exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                            "-out", str(cert), "-days", "365", "-subj", f"/CN={self.node.name}",
                            "-addext", f"subjectAltName=IP:{self.node.address}"],
                           check=True, capture_output=True, timeout=60)
        node = self.node

        class Handler(_Handler):
            pass
        Handler.node = node
        self.httpd = _Server((node.address, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        # the handshake in the request's thread (_Handler.setup), bounded: in accept() one silent
        # client would stall every other call and stop()
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                         name="kubelet API", daemon=True).start()
        return self.httpd.server_address[1]

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    node = None
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes (a follow has no length)

    def log_message(self, *args) -> None:
        pass

    def setup(self) -> None:
        self.request.settimeout(HANDSHAKE_TIMEOUT_S)
        self.request.do_handshake()
        self.request.settimeout(None)
        super().setup()

    def _text(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        values = parse_qs(url.query)
        query = {k: v[-1] for k, v in values.items()}
        try:
            if parts == ["healthz"] and self.command == "GET":
                return self._text(200, "ok")
            if len(parts) == 4 and parts[0] == "containerLogs" and self.command == "GET":
                return self._logs(*parts[1:], query)
            if (len(parts) == 4 and parts[0] in ("exec", "attach")) or (len(parts) == 3 and parts[0] == "portForward"):
                return self._stream(parts[0], parts[1:], values)
            return self._text(404, "404 page not found\n")
        except Refused as exc:
            return self._text(exc.code, exc.message)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    do_POST = do_GET

    def _stream(self, kind: str, parts: list[str], values: dict) -> None:
        namespace, name = parts[:2]
        worker = self.node.find(namespace, name)
        if worker is None:
            return self._text(404, "pod does not exist")  # the kubelet's answers, this one and the next
        if kind == "portForward":
            def dial(port: int):
                return streams.dial(worker, port)
            if is_websocket(self.headers):  # the ports in the query (SPDY names one per stream)
                wanted = portforward.ports(values.get("port", []) + values.get("ports", []))
                headers = negotiate(self.headers, portforward.PROTOCOLS)
                return self._switch(headers, lambda sock, rfile: portforward.serve_websocket(
                    WebSocket(sock, rfile, headers.get("Sec-WebSocket-Protocol", "")), wanted, dial))
            headers = remotecommand.spdy_headers(self.headers, (portforward.SPDY_PROTOCOL,))
            return self._switch(headers, lambda sock, rfile: portforward.serve_spdy(
                spdy.Session(spdy.socket_reader(rfile), sock.sendall), dial))
        container = streams.running(worker, parts[2])
        if container is None:  # not running (a crash loop's back-off, say): the runtime has none
            return self._text(500, f'container not found ("{parts[2]}")')
        flags = {k: (values.get(param) or [""])[-1] in ("1", "true")
                 for k, param in (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty"))}
        command = values.get("command", [])
        if kind == "exec" and not command:
            return self._text(400, "you must specify at least 1 command")
        run = (streams.exec_run(worker, container, command, flags["tty"]) if kind == "exec"
               else streams.attach_run(worker, container))
        if is_websocket(self.headers):
            headers = negotiate(self.headers, ("v4.channel.k8s.io",))
            return self._switch(headers, lambda sock, rfile: remotecommand.serve_websocket(
                WebSocket(sock, rfile, headers["Sec-WebSocket-Protocol"]), run, flags, command))
        headers = remotecommand.spdy_headers(self.headers)
        return self._switch(headers, lambda sock, rfile: remotecommand.serve_spdy(
            spdy.Session(spdy.socket_reader(rfile), sock.sendall), sock, run, flags, command))

    def _switch(self, headers: dict, serve) -> None:
        """101 Switching Protocols; then the stream owns the connection until it ends."""
        lines = ["HTTP/1.1 101 Switching Protocols", *(f"{k}: {v}" for k, v in headers.items() if v), "", ""]
        self.wfile.write("\r\n".join(lines).encode("latin-1"))
        self.wfile.flush()
        self.connection.settimeout(None)
        try:
            serve(self.connection, self.rfile)
        except (OSError, spdy.Closed):
            pass
        self.close_connection = True

    def _logs(self, namespace: str, name: str, container_name: str, query: dict) -> None:
        worker = self.node.find(namespace, name)
        if worker is None:
            return self._text(404, f'pod "{name}" in namespace "{namespace}" not found')
        container = next((c for c in [*worker.init, *worker.containers] if c.name == container_name), None)
        if container is None:
            return self._text(400, f'container "{container_name}" in pod "{name}" is not available')
        previous = query.get("previous") in ("true", "1")
        if previous:
            if not container.last_state:
                return self._text(400, f'previous terminated container "{container_name}" in pod "{name}" not found')
            instance = container.restart_count - 1 if container.phase != "crash_backoff" else container.restart_count
        else:
            if not container.container_id:
                reason = container.state.get("waiting", {}).get("reason", "ContainerCreating")
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    reason = "trying and failing to pull image"
                return self._text(400, f'container "{container_name}" in pod "{name}" is waiting to start: {reason}')
            instance = container.restart_count
        path = worker.log_path(container_name, instance)
        view = LogView(query)
        data, offset = b"", 0
        if path.exists():
            raw = path.read_bytes()
            offset = raw.rfind(b"\n") + 1  # a record still being written is left to the follow
            data = view.render(raw[:offset], tail=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(view.limit(data))
        self.wfile.flush()
        if query.get("follow") not in ("true", "1") or previous or view.exhausted:
            return
        for chunk in follow(worker, container, instance, path, offset):  # what it writes next, until it ends
            self.wfile.write(view.limit(view.render(chunk)))
            self.wfile.flush()
            if view.exhausted:
                return


def follow(worker, container, instance: int, path: Path, offset: int):
    """The complete log records one container instance writes after `offset`, until it ends (and
    its last records are read), the pod stops, or FOLLOW_MAX_S."""
    deadline = time.monotonic() + FOLLOW_MAX_S
    while time.monotonic() < deadline:
        running = (container.phase == "running" and container.restart_count == instance
                   and not worker._stop.is_set())
        size = path.stat().st_size if path.exists() else 0
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            chunk = chunk[:chunk.rfind(b"\n") + 1]
            offset += len(chunk)
            yield chunk
        elif not running:
            return
        time.sleep(FOLLOW_POLL_S)


class LogView:
    """Renders CRI log records as the kubelet serves them, with the request's options."""

    def __init__(self, query: dict):
        self.timestamps = query.get("timestamps") in ("true", "1")
        tail = query.get("tailLines", "")
        self.tail = int(tail) if tail.lstrip("-").isdigit() else None
        limit = query.get("limitBytes", "")
        self.remaining = int(limit) if limit.isdigit() else None
        self.since = None
        if query.get("sinceSeconds", "").isdigit():
            self.since = datetime.now(timezone.utc) - timedelta(seconds=int(query["sinceSeconds"]))
        elif query.get("sinceTime"):
            self.since = _time(query["sinceTime"].encode())

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def render(self, raw: bytes, tail: bool = False) -> bytes:
        records = []
        for line in raw.splitlines():
            parts = line.split(b" ", 3)
            if len(parts) < 4:
                continue
            stamp, _stream, tag, content = parts
            if self.since is not None and (_time(stamp) or self.since) < self.since:
                continue
            records.append((stamp + b" " if self.timestamps else b"") + content + (b"\n" if tag == b"F" else b""))
        if tail and self.tail is not None:
            records = records[-self.tail:] if self.tail > 0 else []
        return b"".join(records)

    def limit(self, data: bytes) -> bytes:
        if self.remaining is None:
            return data
        data = data[:max(self.remaining, 0)]
        self.remaining -= len(data)
        return data


def _time(stamp: bytes) -> datetime | None:
    try:
        text = re.sub(r"(\.\d{6})\d+", r"\1", stamp.decode())  # Python reads microseconds, Go writes nanoseconds
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
