"""The API server: HTTP on loopback, routing, and the verbs on resources and their subresources.

The parts it calls: discovery.py (what is served), bodies.py (request bodies), tables.py
(`kubectl get` tables), watch.py, proxy.py, openapi.py, resources.present (the object as served).
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
from .bodies import PATCH_TYPES, decode_body, patch_type
from .discovery import BUILTIN_KEYS, Discovery
from .errors import HttpError, StoreError, not_found, status_object
from .logs import pod_log
from .openapi import openapi, openapi_v2
from .proxy import proxy
from .resources import present
from .scale import scale
from .tables import table, wants_table
from .watch import Stream, watch


class ApiServer:
    def __init__(self, store, host="127.0.0.1", port=0, kube_minor=15, log_path=None, log_provider=None):
        self.store = store
        self.host, self.port = host, port
        self.kube_minor = kube_minor
        self.discovery = Discovery(store, kube_minor)
        self.log_path = log_path
        self.log_provider = log_provider      # (namespace, name, tail_lines, follow=False) -> str / chunks (logs.py)
        self._mounts: list[tuple[str, object]] = []
        self._httpd = None
        self._thread = None
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self.url = None

    # ------------------------------------------------------------ lifecycle

    def mount(self, prefix: str, handler):
        """handler(method, path, query, headers, body) -> (status, headers, bytes) for paths under prefix."""
        self._mounts.append((prefix, handler))

    def start(self) -> str:
        server = self
        self._stopping.clear()

        class Handler(_Handler):
            api = server

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sandbox-apiserver", daemon=True)
        self._thread.start()
        return self.url

    def stop(self):
        self._stopping.set()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
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

    def handle(self, method, raw_path, headers, body):
        """Returns (status, headers dict, bytes | Stream)."""
        parsed = urllib.parse.urlsplit(raw_path)
        path = parsed.path
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        for prefix, handler in self._mounts:
            if path.startswith(prefix):
                return handler(method, path, query, headers, body)
        try:
            return self._route(method, path, parsed.query, query, headers, body)
        except StoreError as exc:
            details = {"name": exc.name, "kind": (exc.resource or "").split(".")[0]} if exc.name else None
            if exc.resource and "." in exc.resource and details:
                details["group"] = exc.resource.split(".", 1)[1]
            return self._json(exc.code, status_object(exc.code, exc.reason, exc.message, details))
        except HttpError as exc:
            return self._json(exc.code, status_object(exc.code, exc.reason, exc.message, exc.details))

    @staticmethod
    def _json(code, obj, content_type="application/json"):
        return code, {"Content-Type": content_type}, json.dumps(obj).encode()

    def _route(self, method, path, raw_query, query, headers, body):
        parts = [p for p in path.split("/") if p]
        path = "/" + "/".join(parts)
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if path == "/version":
            return self._json(200, self.discovery.version())
        if parts == ["openapi", "v2"] and "protobuf" in headers.get("Accept", ""):
            # kube-openapi answers the gnostic protobuf as octet-stream (its media type has an '@' Go rejects)
            document = kubeproto.encode_document(openapi_v2(self.discovery))
            return 200, {"Content-Type": "application/octet-stream"}, document
        if parts[:1] == ["openapi"]:
            return self._json(200, openapi(self.discovery, parts[1:]))
        if parts == ["api"]:
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("//", 1)[1]}]})
        if parts == ["apis"]:
            return self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": self.discovery.api_groups()})
        if parts[:1] == ["apis"] and len(parts) == 2:
            return self._json(200, self.discovery.api_group(parts[1]))
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found()
        if not rest:
            return self._json(200, self.discovery.resource_list(group, version))
        return self._resource_request(method, group, version, rest, query, raw_query, headers, body)

    # ------------------------------------------------------------ resources

    def _resource_request(self, method, group, version, rest, query, raw_query, headers, body):
        types = {t.plural: t for t in self.discovery.served_types(group, version)}
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in types and types[rest[2]].namespaced:
            namespace, rest = rest[1], rest[2:]
        rtype = types.get(rest[0])
        if rtype is None:
            raise not_found()
        if rtype.namespaced and namespace is None and len(rest) > 1:
            raise not_found()
        gv = rtype.api_version(version)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and sub not in rtype.subresources:
            raise not_found()
        if sub == "proxy":
            return proxy(self.store, rtype, namespace, name, "/" + "/".join(rest[3:]), method, raw_query, headers, body)
        if len(rest) > 3 or (sub is None and len(rest) > 2):
            raise not_found()
        key = rtype.key
        dry_run = bool(query.get("dryRun"))
        if name is None:
            return self._collection(method, rtype, gv, version, namespace, query, headers, body, dry_run)
        if sub == "log":
            if method != "GET":
                raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return pod_log(self.store, self.log_provider, namespace, name, query)
        if sub == "scale":
            return self._scale(method, rtype, namespace, name, headers, body, dry_run)
        if method == "GET":
            obj = self.store.get(key, namespace, name)
            if wants_table(headers):
                return self._json(200, table(rtype, [obj], self.store.resource_version, _included(query)))
            return self._json(200, present(rtype, version, obj))
        if method == "DELETE":
            obj = self.store.delete(key, namespace, name, dry_run=dry_run)
            return self._json(200, present(rtype, version, obj))
        if method in ("PUT", "PATCH") and not body:
            raise HttpError(400, "BadRequest", "the request body is empty")
        if method == "PUT":
            obj = decode_body(body, headers)
            if sub == "status":
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                result = self.store.update_status(key, namespace, name, obj.get("status") or {},
                                                  resource_version=rv, dry_run=dry_run)
            else:
                _check_name(obj, name)
                result = self.store.replace(key, _stamp(rtype, gv, obj), namespace, dry_run=dry_run)
            return self._json(200, present(rtype, version, result))
        if method == "PATCH":
            kind = patch_type(headers)
            if kind is None or (kind == "strategic" and key not in BUILTIN_KEYS):
                raise HttpError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                f"accepted media types include: {', '.join(PATCH_TYPES)}")
            result = self.store.patch(key, namespace, name, decode_body(body, headers), kind, subresource=sub,
                                      dry_run=dry_run)
            return self._json(200, present(rtype, version, result))
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _scale(self, method, rtype, namespace, name, headers, body, dry_run):
        kind = None
        if method == "PATCH":
            kind = patch_type(headers)
            if kind is None:
                raise HttpError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                f"accepted media types include: {', '.join(PATCH_TYPES)}")
        if method in ("PUT", "PATCH") and not body:
            raise HttpError(400, "BadRequest", "the request body is empty")
        decoded = decode_body(body, headers) if method in ("PUT", "PATCH") else None
        return self._json(200, scale(self.store, rtype, namespace, name, method, decoded, kind, dry_run))

    def _collection(self, method, rtype, gv, version, namespace, query, headers, body, dry_run=False):
        key = rtype.key
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                render = None
                if wants_table(headers):   # `kubectl get -w`: each event a one-row Table
                    render = (lambda obj: table(rtype, [obj], obj["metadata"].get("resourceVersion", ""),
                                                _included(query)))
                return 200, {"Content-Type": "application/json"}, watch(self.store, rtype, version, namespace,
                                                                        query, self._stopping, render)
            items = self.store.list(key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
            if wants_table(headers):
                return self._json(200, table(rtype, items, self.store.resource_version, _included(query)))
            return self._json(200, {
                "kind": f"{rtype.kind}List", "apiVersion": gv,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": [present(rtype, version, o) for o in items]})
        if method == "POST":
            obj = decode_body(body, headers)
            if obj.get("kind") and obj["kind"] != rtype.kind:
                raise HttpError(400, "BadRequest", f"the kind {obj['kind']!r} does not match the URL ({rtype.kind})")
            created = self.store.create(key, _stamp(rtype, gv, obj), namespace, dry_run=dry_run)
            return self._json(201, present(rtype, version, created))
        if method == "DELETE":
            items = self.store.list(key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
            deleted = [self.store.delete(key, o["metadata"].get("namespace"), o["metadata"]["name"], dry_run=dry_run)
                       for o in items]
            return self._json(200, {"kind": f"{rtype.kind}List", "apiVersion": gv,
                                    "metadata": {"resourceVersion": self.store.resource_version},
                                    "items": [present(rtype, version, o) for o in deleted]})
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def _included(query) -> str:
    """What a Table row's `object` holds: None, Metadata (the default) or Object."""
    return query.get("includeObject") or "Metadata"


def _check_name(obj, name):
    given = (obj.get("metadata") or {}).get("name")
    if given != name:
        raise HttpError(400, "BadRequest", f"the name of the object ({given}) does not match the name on the URL ({name})")


def _stamp(rtype, gv, obj):
    if not isinstance(obj, dict):
        raise HttpError(400, "BadRequest", "the request body must be a JSON object")
    obj.setdefault("kind", rtype.kind)
    obj.setdefault("apiVersion", gv)
    return obj


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive answers otherwise wait ~40 ms for the delayed ACK
    api: ApiServer = None

    def log_message(self, format, *args):      # quiet stderr; lines go to log_path
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            code, headers, payload = self.api.handle(self.command, self.path, self.headers, body)
        except Exception as exc:   # never let a bug kill the connection silently
            code, headers = 500, {"Content-Type": "application/json"}
            payload = json.dumps(status_object(500, "InternalError", f"sandbox apiserver error: {exc!r}")).encode()
        self.api.log_request_line(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.command} {self.path} {code}")
        self.send_response(code)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        if isinstance(payload, Stream):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in payload.chunks:
                    if chunk is None:        # nothing new yet: stop if the client left or the server stops
                        if self.api._stopping.is_set() or self._client_gone():
                            break
                        continue
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            finally:
                payload.chunks.close()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _client_gone(self) -> bool:
        """The client closed its end (a streaming answer's client sends nothing more)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
