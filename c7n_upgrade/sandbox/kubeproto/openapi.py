"""The OpenAPI v2 document (`/openapi/v2`) of the kinds the sandbox decodes, as swagger JSON and as
the gnostic protobuf kubectl 1.20 asks for (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).

Definitions are named and shaped as a real API server's: `io.k8s.api.apps.v1.Deployment` with
`x-kubernetes-group-version-kind`, fields as `$ref`s, Time as a date-time string, IntOrString as
`int-or-string`. The properties come from the same messages the protobuf decoder uses, so kubectl
validates against exactly what the sandbox understands.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import yaml

from .messages import SCALAR_TYPES, fields_of, message_class, schema

GNOSTIC = "openapi.v2"
PRIMITIVES = {
    "string": {"type": "string"}, "bytes": {"type": "string", "format": "byte"},
    "bool": {"type": "boolean"}, "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
}
WRAPPERS = {  # Kubernetes' wrapper messages, as the real document defines them
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": {"type": "string", "format": "date-time"},
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": {"type": "string", "format": "date-time"},
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": {"type": "object"},
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "k8s.io.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}


def definition_name(full_name: str) -> str:
    return "io.k8s." + full_name.removeprefix("k8s.io.")


def _property(ftype: str) -> dict:
    if ftype in SCALAR_TYPES:
        if ftype.startswith(("int", "uint", "sint", "fixed", "sfixed")):
            return {"type": "integer", "format": "int64" if "64" in ftype else "int32"}
        return dict(PRIMITIVES[ftype])
    return {"$ref": f"#/definitions/{definition_name(ftype)}"}


def _definition(full_name: str) -> dict:
    if full_name in WRAPPERS:
        return dict(WRAPPERS[full_name])
    properties = {}
    for f in fields_of(full_name).values():
        if f.is_map:
            properties[f.name] = {"type": "object", "additionalProperties": _property(f.map_types()[1])}
        elif f.repeated:
            properties[f.name] = {"type": "array", "items": _property(f.type)}
        else:
            properties[f.name] = _property(f.type)
    return {"type": "object", "properties": properties}


@dataclass(frozen=True)
class Served:
    """A resource the API server serves, as the document's paths name it."""
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def path(self) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        scope = "/namespaces/{namespace}" if self.namespaced else ""
        return f"{root}{scope}/{self.plural}/{{name}}"


def _patch_operation(served: Served) -> dict:
    """What `kubectl diff` (1.20) looks for: the kind's PATCH takes `dryRun`."""
    return {"patch": {
        "operationId": f"patch{served.kind}", "responses": {"200": {"description": "OK"}},
        "parameters": [{"name": "dryRun", "in": "query", "type": "string", "uniqueItems": True},
                       {"name": "fieldManager", "in": "query", "type": "string", "uniqueItems": True}],
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": served.group, "kind": served.kind, "version": served.version},
    }}


@functools.lru_cache(maxsize=None)
def openapi_v2(kube_version: str, served: tuple[Served, ...]) -> dict:
    """The swagger document: a PATCH path per served resource, and a definition for every message
    reachable from the kinds with a protobuf schema."""
    s = schema()
    definitions = {}
    for name in s["fields"]:
        if name.startswith("k8s.io.") and not name.startswith("k8s.io.apimachinery.pkg.runtime."):
            definitions[definition_name(name)] = _definition(name)
    for key, name in s["kinds"].items():
        *group_version, kind = key.split("/")
        group, version = (group_version[0], group_version[1]) if len(group_version) == 2 else ("", group_version[0])
        if kind == "DeleteOptions":
            continue
        d = definitions[definition_name(name)]
        d["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, **d["properties"]}
        d.setdefault("x-kubernetes-group-version-kind", []).append(
            {"group": group, "kind": kind, "version": version})
    paths = {r.path: _patch_operation(r) for r in sorted(served, key=lambda r: r.path)}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": kube_version},
            "paths": paths, "definitions": dict(sorted(definitions.items()))}


def encode_document(document: dict) -> bytes:
    """A swagger dict -> gnostic openapi_v2.Document bytes."""
    doc = message_class(f"{GNOSTIC}.Document")()
    doc.swagger = document["swagger"]
    doc.info.title = document["info"]["title"]
    doc.info.version = document["info"]["version"]
    doc.paths.SetInParent()
    for path, item in document["paths"].items():
        named = doc.paths.path.add(name=path)
        for method, operation in item.items():
            _operation(getattr(named.value, method), operation)
    for name, body in document["definitions"].items():
        named = doc.definitions.additional_properties.add(name=name)
        _schema(named.value, body)
    return doc.SerializeToString()


def _operation(target, operation: dict) -> None:
    target.operation_id = operation["operationId"]
    for code, response in operation["responses"].items():
        target.responses.response_code.add(name=code).value.response.description = response["description"]
    for parameter in operation["parameters"]:
        query = target.parameters.add().parameter.non_body_parameter.query_parameter_sub_schema
        query.name, query.type, query.unique_items = parameter["name"], parameter["type"], parameter["uniqueItems"]
        setattr(query, "in", parameter["in"])
    for key, value in operation.items():
        if key.startswith("x-"):
            _extension(target, key, value)


def _extension(target, key: str, value) -> None:
    target.vendor_extension.add(name=key).value.yaml = yaml.safe_dump(value, default_flow_style=False)


def _schema(target, body: dict) -> None:
    for key, value in body.items():
        if key == "$ref":
            target._ref = value
        elif key == "type":
            target.type.value.append(value)
        elif key in ("format", "description"):
            setattr(target, key, value)
        elif key == "items":
            _schema(target.items.schema.add(), value)
        elif key == "properties":
            target.properties.SetInParent()
            for pname, pbody in value.items():
                _schema(target.properties.additional_properties.add(name=pname).value, pbody)
        elif key == "additionalProperties":
            if isinstance(value, bool):
                target.additional_properties.boolean = value
            else:
                _schema(target.additional_properties.schema, value)
        elif key == "required":
            target.required.extend(value)
        elif key.startswith("x-"):
            _extension(target, key, value)
        else:
            raise ValueError(f"no gnostic field for the schema key {key!r}")
