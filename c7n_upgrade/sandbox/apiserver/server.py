"""The API server: HTTP on loopback, its connections, and the routing.

Resources and their subresources are verbs.py; the other paths: discovery.py (what is served),
openapi.py; answers are JSON as the real server encodes it (errors.go_json), chunked streams
(watch.py) or websockets (streams.py). Connections are bounded (429 beyond `max_connections`), and
stop() ends every one of them, streams included.
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .. import kubeproto
from .discovery import Discovery
from .errors import HttpError, StoreError, go_json, not_found, status_object
from .openapi import openapi, openapi_v2
from .request import Request
from .verbs import resource_request
from .watch import Stream
from ..streaming.websocket import Upgrade

MAX_CONNECTIONS = 128        # like --max-requests-inflight: beyond it, 429 and Retry-After
IDLE_TIMEOUT = 120.0         # an idle keep-alive connection is closed after this many seconds
STREAM_IDLE_TIMEOUT = 600.0  # a websocket with no traffic for this long is closed
CONNECTION_THREAD = "sandbox-apiserver-conn"   # the name of each connection's thread


class ApiServer:
    """pods: the runtime for exec and port-forward (exec_in_pod, pod_address); the launcher sets it."""

    def __init__(self, store, host="127.0.0.1", port=0, kube_minor=15, log_path=None, log_provider=None,
                 pods=None, bookmark_interval=60.0, max_connections=MAX_CONNECTIONS):
        self.store = store
        self.host, self.port = host, port
        self.kube_minor = kube_minor
        self.discovery = Discovery(store, kube_minor)
        self.log_path = log_path
        self.log_provider = log_provider      # (namespace, name, tail_lines, follow=False) -> str / chunks (logs.py)
        self.pods = pods
        self.bookmark_interval = bookmark_interval
        self.max_connections = max_connections
        self.stopping = threading.Event()
        self._mounts: list[tuple[str, object]] = []
        self._httpd = None
        self._thread = None
        self._log_lock = threading.Lock()
        self.url = None

    # ------------------------------------------------------------ lifecycle

    def mount(self, prefix: str, handler):
        """handler(method, path, query, headers, body) -> (status, headers, bytes) for paths under prefix."""
        self._mounts.append((prefix, handler))

    def start(self) -> str:
        server = self
        self.stopping.clear()

        class Handler(_Handler):
            api = server

        self._httpd = _Server((self.host, self.port), Handler, self.max_connections)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sandbox-apiserver", daemon=True)
        self._thread.start()
        return self.url

    def stop(self):
        """Stop accepting, end every connection (watches and websockets too) and wait for their threads."""
        self.stopping.set()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.end_connections(timeout=5)
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def log_request_line(self, line):
        if not self.log_path:
            return
        with self._log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    # ------------------------------------------------------------ routing

    def handle(self, method, raw_path, headers, body, client_gone=lambda: False, connection=None):
        """Returns (status, headers dict, bytes | Stream | Upgrade)."""
        parsed = urllib.parse.urlsplit(raw_path)
        for prefix, handler in self._mounts:
            if parsed.path.startswith(prefix):
                query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
                return handler(method, parsed.path, query, headers, body)
        req = Request(method, parsed.path, parsed.query, headers, body, client_gone, connection)
        try:
            return self._route(req)
        except StoreError as exc:
            return self.json(exc.code, status_object(exc.code, exc.reason, exc.message, exc.details()), req)
        except HttpError as exc:
            return self.json(exc.code, status_object(exc.code, exc.reason, exc.message, exc.details), req)

    @staticmethod
    def json(code, obj, req: Request | None = None):
        """A JSON answer as the real server encodes it (indented for curl and ?pretty=true)."""
        if req is not None and req.pretty:
            return code, {"Content-Type": "application/json"}, json.dumps(obj, indent=2).encode() + b"\n"
        return code, {"Content-Type": "application/json"}, go_json(obj)

    def _route(self, req: Request):
        parts = req.parts
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if parts == ["version"]:
            return self.json(200, self.discovery.version(), req)
        if parts == ["openapi", "v2"] and "protobuf" in req.headers.get("Accept", ""):
            # kube-openapi answers the gnostic protobuf as octet-stream (its media type has an '@' Go rejects)
            document = kubeproto.encode_document(openapi_v2(self.discovery))
            return 200, {"Content-Type": "application/octet-stream"}, document
        if parts[:1] == ["openapi"]:
            return self.json(200, openapi(self.discovery, parts[1:]), req)
        if parts == ["api"]:
            return self.json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("//", 1)[1]}]}, req)
        if parts == ["apis"]:
            return self.json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                   "groups": self.discovery.api_groups()}, req)
        if parts[:1] == ["apis"] and len(parts) == 2:
            return self.json(200, self.discovery.api_group(parts[1]), req)
        if parts == ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] and req.method == "POST":
            return self.json(201, self_access_review(req.body), req)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found()
        if not rest:
            return self.json(200, self.discovery.resource_list(group, version), req)
        return resource_request(self, req, group, version, rest)


def self_access_review(body: bytes) -> dict:
    """A SelfSubjectAccessReview answered as this server authorizes: everything is allowed."""
    review = json.loads(body or b"{}")
    review.update(apiVersion="authorization.k8s.io/v1", kind="SelfSubjectAccessReview")
    review["status"] = {"allowed": True, "reason": "the sandbox API server authorizes every request"}
    return review


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most `limit` of them; the open connections are kept so that
    stop() can end them."""
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, limit: int):
        super().__init__(address, handler)
        self.limit = limit
        self._open: dict[socket.socket, threading.Thread | None] = {}
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            busy = len(self._open) >= self.limit
            if not busy:
                self._open[request] = None
        if busy:
            _refuse(request)
            return
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=CONNECTION_THREAD, daemon=True)
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def end_connections(self, timeout: float) -> None:
        with self._open_lock:
            open_now = dict(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in open_now.values():
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


def _refuse(sock: socket.socket) -> None:
    """429 TooManyRequests with Retry-After, as the real server answers beyond max-requests-inflight."""
    body = go_json(status_object(429, "TooManyRequests", "Too many requests, please try again later.",
                                 {"retryAfterSeconds": 1}))
    try:
        sock.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive answers otherwise wait ~40 ms for the delayed ACK
    timeout = IDLE_TIMEOUT
    api: ApiServer = None

    def log_message(self, format, *args):      # quiet stderr; lines go to log_path
        pass

    def client_gone(self) -> bool:
        """The client closed its end (readable, and nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            code, headers, payload = self.api.handle(self.command, self.path, self.headers, body,
                                                     self.client_gone, self.connection)
        except Exception as exc:   # never let a bug kill the connection silently
            code, headers = 500, {"Content-Type": "application/json"}
            payload = go_json(status_object(500, "InternalError", f"sandbox apiserver error: {exc!r}"))
        self.api.log_request_line(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.command} {self.path} {code}")
        if isinstance(payload, Upgrade):
            return self._upgrade(payload)
        self.send_response(code)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        if isinstance(payload, Stream):
            return self._stream(payload)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _stream(self, payload: Stream):
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in payload.chunks:
                if chunk is None:            # nothing new yet (logs -f): stop if the client left or the server stops
                    if self.api.stopping.is_set() or self.client_gone():
                        break
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            close = getattr(payload.chunks, "close", None)
            if close:
                close()
        self.close_connection = True

    def _upgrade(self, upgrade: Upgrade):
        """101 Switching Protocols, then the stream owns the connection (websocket or SPDY)."""
        self.send_response(101)
        for k, v in upgrade.headers.items():
            if v:
                self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        self.connection.settimeout(STREAM_IDLE_TIMEOUT)
        try:
            upgrade.run(self.connection, self.rfile)
        except Exception:
            pass          # the stream's own error handling has told the client what it could
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
