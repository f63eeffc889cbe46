"""/openapi/v2 (kubectl 1.20 validates `apply`/`diff` with it, in gnostic protobuf) and a small
/openapi/v3 (what kubectl 1.32 reads first).

v2: the definitions of every kind the sandbox has a protobuf message for, and a PATCH path with
`dryRun` for every served resource (what `kubectl diff` 1.20 checks); see kubeproto.openapi.

v3: per group-version, a schema per kind, and per resource the create/patch operations tagged with
x-kubernetes-group-version-kind. PATCH advertises the `fieldValidation` query parameter, so kubectl
1.32 leaves validation to the server and does not fall back to v2; strategic merge is not advertised,
so kubectl computes strategic patches from its compiled-in types."""
from __future__ import annotations

import hashlib
import json

from .. import kubeproto
from .bodies import PATCH_TYPES, STRATEGIC
from .discovery import Discovery
from .errors import not_found


def openapi_v2(discovery: Discovery) -> dict:
    served = tuple(kubeproto.Served(t.group, v, t.kind, t.plural, t.namespaced)
                   for t in discovery.store.resource_types() for v in t.served_versions(discovery.kube_minor))
    return kubeproto.openapi_v2(discovery.version()["gitVersion"], served)


def openapi(discovery: Discovery, parts: list[str]) -> dict:
    """The answer to GET /openapi/PARTS... (v2 as swagger JSON; protobuf is asked for separately)"""
    if parts == ["v2"]:
        return openapi_v2(discovery)
    if parts == ["v3"]:
        paths = {}
        for gv_path in _gv_paths(discovery):
            digest = hashlib.sha256(json.dumps(_document(discovery, gv_path)).encode()).hexdigest()[:32].upper()
            paths[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={digest}"}
        return {"paths": paths}
    if parts[:1] == ["v3"]:
        gv_path = "/".join(parts[1:])
        if gv_path in _gv_paths(discovery):
            return _document(discovery, gv_path)
    raise not_found()


def _gv_paths(discovery: Discovery) -> list[str]:
    result = ["api/v1"]
    for g in discovery.api_groups():
        result += [f"apis/{v['groupVersion']}" for v in g["versions"]]
    return result


def _document(discovery: Discovery, gv_path: str) -> dict:
    parts = gv_path.split("/")
    group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
    schemas, paths = {}, {}
    prefix = f"/{gv_path}"
    for t in discovery.served_types(group, version):
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
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (sandbox)", "version": f"v1.{discovery.kube_minor}"},
            "paths": paths, "components": {"schemas": schemas}}
