"""Kubernetes REST API over the sandbox Store, on loopback, plus a kubeconfig writer.

Serves what the official `kubernetes` Python client and kubectl 1.32 use: /version, legacy
discovery (plain JSON; kubectl falls back from aggregated discovery), CRUD with Status errors,
status subresource, Table output for `kubectl get`, watch streams, pod logs, pod/service proxy,
and a small /openapi/v3 so that `kubectl apply` works with its default validation.
"""
from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import queue
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from .store import CRD_KEY, BUILTIN_TYPES, StoreError, parse_field_selector, \
    parse_label_selector, fields_match, labels_match

ALL_CATEGORY = {"pods", "services", "deployments", "replicasets", "jobs"}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "log": ["get"],
                     "proxy": ["create", "delete", "get", "patch", "update"]}
SUBRESOURCE_KINDS = {"log": "Pod", "proxy": None}   # proxy kind: <Kind>ProxyOptions
PATCH_TYPES = {"application/merge-patch+json": "merge", "application/strategic-merge-patch+json": "strategic",
               "application/json-patch+json": "json"}
BUILTIN_KEYS = {t.key for t in BUILTIN_TYPES}
WATCH_DEFAULT_TIMEOUT = 300


class HttpError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def status_object(code, reason, message, details=None) -> dict:
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details:
        obj["details"] = details
    return obj


class _Stream:
    """A chunked response body (watch)."""
    def __init__(self, chunks):
        self.chunks = chunks


class ApiServer:
    def __init__(self, store, host="127.0.0.1", port=0, kube_minor=15, log_path=None, log_provider=None):
        self.store = store
        self.host, self.port = host, port
        self.kube_minor = kube_minor
        self.log_path = log_path
        self.log_provider = log_provider      # (namespace, name, tail_lines) -> str
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
        """Returns (status, headers dict, bytes | _Stream)."""
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
            return self._json(200, self.version())
        if parts[:1] == ["openapi"]:
            return self._openapi(parts[1:], raw_query)
        if parts == ["api"]:
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("//", 1)[1]}]})
        if parts == ["apis"]:
            return self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": self.api_groups()})
        if parts[:1] == ["apis"] and len(parts) == 2:
            group = next((g for g in self.api_groups() if g["name"] == parts[1]), None)
            if group is None:
                raise HttpError(404, "NotFound", "the server could not find the requested resource")
            return self._json(200, {"kind": "APIGroup", "apiVersion": "v1", **group})
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return self._discovery_resources(group, version)
        return self._resource_request(method, group, version, rest, query, raw_query, headers, body)

    # ------------------------------------------------------------ discovery

    def version(self) -> dict:
        minor = str(self.kube_minor)
        return {"major": "1", "minor": minor, "gitVersion": f"v1.{minor}.12",
                "gitCommit": "e2a822d9f3c2fdb5c9bfbe64313cf9f657f0a725", "gitTreeState": "clean",
                "buildDate": "2020-05-06T05:09:48Z", "goVersion": "go1.12.17", "compiler": "gc",
                "platform": "linux/amd64"}

    def served_types(self, group, version):
        return [t for t in self.store.resource_types()
                if t.group == group and version in t.served_versions(self.kube_minor)]

    def api_groups(self) -> list[dict]:
        groups: dict[str, list[str]] = {}
        for t in self.store.resource_types():
            if t.group:
                for v in t.served_versions(self.kube_minor):
                    if v not in groups.setdefault(t.group, []):
                        groups[t.group].append(v)
        result = []
        for name, versions in groups.items():
            if not versions:
                continue
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
            result.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return result

    def _discovery_resources(self, group, version):
        types = self.served_types(group, version)
        if not types and not (group == "" and version == "v1"):
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for t in types:
            entry = {"name": t.plural, "singularName": t.singular or t.kind.lower(), "namespaced": t.namespaced,
                     "kind": t.kind, "verbs": VERBS}
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            if t.plural in ALL_CATEGORY and t.key in BUILTIN_KEYS:
                entry["categories"] = ["all"]
            resources.append(entry)
            for sub in t.subresources:
                kind = SUBRESOURCE_KINDS.get(sub, t.kind) or f"{t.kind}ProxyOptions"
                resources.append({"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced,
                                  "kind": kind, "verbs": SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"])})
        gv = f"{group}/{version}" if group else version
        return self._json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                                "resources": resources})

    # ------------------------------------------------------------ resources

    def _resource_request(self, method, group, version, rest, query, raw_query, headers, body):
        types = {t.plural: t for t in self.served_types(group, version)}
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in types and types[rest[2]].namespaced:
            namespace, rest = rest[1], rest[2:]
        rtype = types.get(rest[0])
        if rtype is None:
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        if rtype.namespaced and namespace is None and len(rest) > 1:
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        gv = rtype.api_version(version)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and sub not in rtype.subresources:
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        if sub == "proxy":
            return self._proxy(rtype, namespace, name, "/" + "/".join(rest[3:]), method, raw_query, headers, body)
        if len(rest) > 3 or (sub is None and len(rest) > 2):
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        key = rtype.key
        dry_run = bool(query.get("dryRun"))
        if name is None:
            return self._collection(method, rtype, gv, version, namespace, query, headers, body, dry_run)
        if sub == "log":
            if method != "GET":
                raise HttpError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")
            self.store.get(key, namespace, name)
            tail = int(query["tailLines"]) if query.get("tailLines") else None
            text = self.log_provider(namespace, name, tail) if self.log_provider else ""
            return 200, {"Content-Type": "text/plain"}, text.encode()
        if method == "GET":
            obj = self.store.get(key, namespace, name)
            return self._object_response(200, rtype, version, obj, headers)
        if method == "DELETE":
            obj = self.store.delete(key, namespace, name, dry_run=dry_run)
            return self._json(200, self.present(rtype, version, obj))
        if method in ("PUT", "PATCH") and not body:
            raise HttpError(400, "BadRequest", "the request body is empty")
        if method == "PUT":
            obj = self._parse_body(body)
            if sub == "status":
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                result = self.store.update_status(key, namespace, name, obj.get("status") or {},
                                                  resource_version=rv, dry_run=dry_run)
            else:
                self._check_name(obj, name)
                result = self.store.replace(key, self._stamp(rtype, gv, obj), namespace, dry_run=dry_run)
            return self._json(200, self.present(rtype, version, result))
        if method == "PATCH":
            ctype = headers.get("Content-Type", "").split(";")[0].strip()
            patch_type = PATCH_TYPES.get(ctype)
            if patch_type is None or (patch_type == "strategic" and key not in BUILTIN_KEYS):
                raise HttpError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                                f"accepted media types include: {', '.join(PATCH_TYPES)}")
            patch = self._parse_body(body)
            result = self.store.patch(key, namespace, name, patch, patch_type, subresource=sub, dry_run=dry_run)
            return self._json(200, self.present(rtype, version, result))
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _collection(self, method, rtype, gv, version, namespace, query, headers, body, dry_run=False):
        key = rtype.key
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                return self._watch(rtype, version, namespace, query)
            items = self.store.list(key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
            if _wants_table(headers):
                return self._json(200, self.table(rtype, items))
            return self._json(200, {
                "kind": f"{rtype.kind}List", "apiVersion": gv,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": [self.present(rtype, version, o) for o in items]})
        if method == "POST":
            obj = self._parse_body(body)
            if obj.get("kind") and obj["kind"] != rtype.kind:
                raise HttpError(400, "BadRequest", f"the kind {obj['kind']!r} does not match the URL ({rtype.kind})")
            created = self.store.create(key, self._stamp(rtype, gv, obj), namespace, dry_run=dry_run)
            return self._json(201, self.present(rtype, version, created))
        if method == "DELETE":
            items = self.store.list(key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
            deleted = [self.store.delete(key, o["metadata"].get("namespace"), o["metadata"]["name"], dry_run=dry_run)
                       for o in items]
            return self._json(200, {"kind": f"{rtype.kind}List", "apiVersion": gv,
                                    "metadata": {"resourceVersion": self.store.resource_version},
                                    "items": [self.present(rtype, version, o) for o in deleted]})
        raise HttpError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _object_response(self, code, rtype, version, obj, headers):
        if _wants_table(headers):
            return self._json(code, self.table(rtype, [obj]))
        return self._json(code, self.present(rtype, version, obj))

    @staticmethod
    def _parse_body(body):
        try:
            return json.loads(body) if body.lstrip()[:1] in (b"{", b"[") else yaml.safe_load(body)
        except (ValueError, yaml.YAMLError) as exc:
            raise HttpError(400, "BadRequest", f"the request body could not be decoded: {exc}") from None

    @staticmethod
    def _check_name(obj, name):
        given = (obj.get("metadata") or {}).get("name")
        if given != name:
            raise HttpError(400, "BadRequest",
                            f"the name of the object ({given}) does not match the name on the URL ({name})")

    @staticmethod
    def _stamp(rtype, gv, obj):
        if not isinstance(obj, dict):
            raise HttpError(400, "BadRequest", "the request body must be a JSON object")
        obj.setdefault("kind", rtype.kind)
        obj.setdefault("apiVersion", gv)
        return obj

    def present(self, rtype, version, obj) -> dict:
        """The object as served at `version` (apiVersion set; CRDs converted between v1beta1 and v1)."""
        obj["apiVersion"] = rtype.api_version(version)
        obj["kind"] = rtype.kind
        if rtype.key == CRD_KEY and version == "v1":
            spec = obj.get("spec", {})
            spec.pop("version", None)
            validation = spec.pop("validation", None)
            subresources = spec.pop("subresources", None)
            columns = spec.pop("additionalPrinterColumns", None)
            for v in spec.get("versions", []):
                if validation and "schema" not in v:
                    v["schema"] = validation
                if subresources and "subresources" not in v:
                    v["subresources"] = subresources
                if columns and "additionalPrinterColumns" not in v:
                    v["additionalPrinterColumns"] = columns
            if not any("schema" in v for v in spec.get("versions", [])):
                spec.setdefault("preserveUnknownFields", True)
        return obj

    # ------------------------------------------------------------ tables (kubectl get)

    def table(self, rtype, items) -> dict:
        columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        if rtype.key == "pods":
            columns += [{"name": n, "type": t, "format": "", "description": n, "priority": p}
                        for n, t, p in (("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "integer", 0))]
        columns.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
        if rtype.key == "pods":
            columns.append({"name": "IP", "type": "string", "format": "", "description": "IP", "priority": 1})
        rows = []
        for obj in items:
            meta = obj.get("metadata", {})
            cells = [meta.get("name")]
            status = obj.get("status") or {}
            if rtype.key == "pods":
                statuses = status.get("containerStatuses") or []
                total = len((obj.get("spec") or {}).get("containers") or []) or len(statuses)
                ready = sum(1 for s in statuses if s.get("ready"))
                cells += [f"{ready}/{total}", status.get("phase", "Pending"),
                          sum(s.get("restartCount", 0) for s in statuses)]
            cells.append(_age(meta.get("creationTimestamp")))
            if rtype.key == "pods":
                cells.append(status.get("podIP", "<none>"))
            rows.append({"cells": cells, "object": obj})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": self.store.resource_version},
                "columnDefinitions": columns, "rows": rows}

    # ------------------------------------------------------------ watch

    def _watch(self, rtype, version, namespace, query):
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
        timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
        events = queue.Queue()

        def matches(obj):
            return ((namespace is None or obj["metadata"].get("namespace") == namespace)
                    and labels_match(obj["metadata"].get("labels"), labels) and fields_match(obj, fields))

        def on_change(event, resource, obj):
            if resource == rtype.key and matches(obj):
                events.put((event, obj))

        self.store.subscribe(on_change)
        initial = []
        if query.get("resourceVersion", "0") in ("", "0"):
            initial = self.store.list(rtype.key, namespace, query.get("labelSelector"), query.get("fieldSelector"))

        def chunks():
            try:
                for obj in initial:
                    yield self._event_line("ADDED", rtype, version, obj)
                deadline = time.monotonic() + timeout
                while not self._stopping.is_set() and time.monotonic() < deadline:
                    try:
                        event, obj = events.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    yield self._event_line(event, rtype, version, obj)
            finally:
                self.store.unsubscribe(on_change)

        return 200, {"Content-Type": "application/json"}, _Stream(chunks())

    def _event_line(self, event, rtype, version, obj):
        return json.dumps({"type": event, "object": self.present(rtype, version, obj)}).encode() + b"\n"

    # ------------------------------------------------------------ proxy

    def _proxy(self, rtype, namespace, name_port, path, method, raw_query, headers, body):
        name, _, port = name_port.partition(":")
        if port.count(":"):                       # scheme:name:port
            name, _, port = port.partition(":")
        obj = self.store.get(rtype.key, namespace, name)
        if rtype.key == "pods":
            host = (obj.get("status") or {}).get("podIP")
            ports = [p for c in obj.get("spec", {}).get("containers", []) for p in c.get("ports", [])]
            number_key = "containerPort"
        else:
            host = (obj.get("spec") or {}).get("clusterIP")
            ports = obj.get("spec", {}).get("ports", [])
            number_key = "port"
        if port:
            named = next((p[number_key] for p in ports if p.get("name") == port), None)
            target_port = named or (int(port) if port.isdigit() else None)
        else:
            target_port = ports[0][number_key] if ports else 80
        if not host or host == "None" or target_port is None:
            raise HttpError(503, "ServiceUnavailable", f"no endpoints available for {rtype.plural[:-1]} {name!r}")
        upstream_path = path + ("?" + raw_query if raw_query else "")     # still percent-encoded
        forward = {k: v for k, v in headers.items()
                   if k.lower() in ("content-type", "accept", "authorization-upstream")}
        try:
            conn = http.client.HTTPConnection(host, int(target_port), timeout=30)
            conn.request(method, upstream_path, body=body or None, headers=forward)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except OSError as exc:
            raise HttpError(503, "ServiceUnavailable",
                            f"error trying to reach {rtype.plural[:-1]}: dial tcp {host}:{target_port}: {exc}") from None
        out = {"Content-Type": resp.getheader("Content-Type", "application/octet-stream")}
        return resp.status, out, data

    # ------------------------------------------------------------ openapi

    def _openapi(self, parts, raw_query):
        if parts == ["v3"]:
            paths = {}
            for gv_path in self._openapi_gv_paths():
                digest = hashlib.sha256(json.dumps(self._openapi_document(gv_path)).encode()).hexdigest()[:32].upper()
                paths[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={digest}"}
            return self._json(200, {"paths": paths})
        if parts[:1] == ["v3"]:
            gv_path = "/".join(parts[1:])
            if gv_path in self._openapi_gv_paths():
                return self._json(200, self._openapi_document(gv_path))
        raise HttpError(404, "NotFound", "the server could not find the requested resource")

    def _openapi_gv_paths(self):
        result = ["api/v1"]
        for g in self.api_groups():
            result += [f"apis/{v['groupVersion']}" for v in g["versions"]]
        return result

    def _openapi_document(self, gv_path) -> dict:
        """Minimal OpenAPI v3 for one group-version: a schema per kind, and per resource the
        create/patch operations tagged with x-kubernetes-group-version-kind. PATCH advertises the
        `fieldValidation` query parameter, so kubectl leaves validation to the server and never
        needs the (protobuf) /openapi/v2; strategic merge is not advertised, so kubectl computes
        strategic patches from its compiled-in types."""
        parts = gv_path.split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        schemas, paths = {}, {}
        prefix = f"/{gv_path}"
        for t in self.served_types(group, version):
            gvk = {"group": group, "version": version, "kind": t.kind}
            schema_name = f"io.k8s.sandbox.{(group or 'core').replace('.', '_')}.{version}.{t.kind}"
            schemas[schema_name] = {
                "type": "object", "description": f"{t.kind} (sandbox schema: any fields accepted)",
                "x-kubernetes-group-version-kind": [gvk],
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
            ref = {"$ref": f"#/components/schemas/{schema_name}"}
            content = {"application/json": {"schema": ref}}
            ok = {"200": {"description": "OK", "content": content}}
            params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                      {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}]
            base = f"{prefix}/namespaces/{{namespace}}/{t.plural}" if t.namespaced else f"{prefix}/{t.plural}"
            paths[base] = {
                "get": {"operationId": f"list{t.kind}", "responses": ok, "x-kubernetes-action": "list",
                        "x-kubernetes-group-version-kind": gvk},
                "post": {"operationId": f"create{t.kind}", "parameters": params, "x-kubernetes-action": "post",
                         "x-kubernetes-group-version-kind": gvk,
                         "requestBody": {"content": content}, "responses": {**ok, "201": ok["200"]}}}
            patch_content = {ct: {"schema": {"type": "object"}} for ct in PATCH_TYPES if ct != STRATEGIC}
            paths[base + "/{name}"] = {
                "get": {"operationId": f"read{t.kind}", "responses": ok, "x-kubernetes-action": "get",
                        "x-kubernetes-group-version-kind": gvk},
                "put": {"operationId": f"replace{t.kind}", "parameters": params, "x-kubernetes-action": "put",
                        "x-kubernetes-group-version-kind": gvk, "requestBody": {"content": content},
                        "responses": ok},
                "patch": {"operationId": f"patch{t.kind}", "parameters": params, "x-kubernetes-action": "patch",
                          "x-kubernetes-group-version-kind": gvk, "requestBody": {"content": patch_content},
                          "responses": ok}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes (sandbox)", "version": f"v1.{self.kube_minor}"},
                "paths": paths, "components": {"schemas": schemas}}


STRATEGIC = "application/strategic-merge-patch+json"


def _wants_table(headers) -> bool:
    return "as=Table" in headers.get("Accept", "")


def _age(timestamp) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    seconds = max(0, int((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


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
        if isinstance(payload, _Stream):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in payload.chunks:
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

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


def write_kubeconfig(path, server_url, namespace, context="sandbox") -> None:
    """Kubeconfig for the sandbox API server: plain http, a dummy token (not a secret), mode 0600."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": server_url}}],
        "users": [{"name": context, "user": {"token": "sandbox-dummy-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, default_flow_style=False, sort_keys=False)
    os.chmod(path, 0o600)
