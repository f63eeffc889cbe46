"""Protobuf request bodies -> the JSON objects the store keeps.

The JSON form follows the Go types' JSON tags: a pointer field (gogoproto nullable) that is present
is kept even when zero (`replicas: 0`, `emptyDir: {}`, `runAsUser: 0`); a value field that is zero is
left out, as `omitempty` does. Kubernetes' own wrapper messages get their JSON forms: Time and
MicroTime as RFC 3339, IntOrString as a number or a string, Quantity as its string, FieldsV1 as the
JSON it carries.
"""
from __future__ import annotations

import base64
import datetime
import json

from google.protobuf.message import DecodeError

from .messages import fields_of, message_class, schema

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"
META = "k8s.io.apimachinery.pkg.apis.meta.v1"


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf object the sandbox knows; the message says why."""


def kinds() -> dict[str, str]:
    """"apiVersion/Kind" -> message name, for every kind a protobuf body may carry."""
    return dict(schema()["kinds"])


def decode_object(body: bytes) -> dict:
    """A `k8s\\0` + runtime.Unknown body -> the object as JSON (apiVersion and kind first)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic k8s\\0")
    envelope = _parse(schema()["envelope"], body[len(MAGIC):])
    type_meta = envelope.typeMeta
    if envelope.contentEncoding:
        raise ProtobufError(f"content encoding {envelope.contentEncoding!r} is not supported")
    api_version, kind = type_meta.apiVersion, type_meta.kind
    name = kinds().get(f"{api_version}/{kind}")
    if name is None and kind == "DeleteOptions":  # registered in every group version
        name = f"{META}.DeleteOptions"
    if name is None:
        raise ProtobufError(f"no protobuf message for {api_version or '?'}/{kind or '?'} in the sandbox")
    obj = {"apiVersion": api_version, "kind": kind}
    obj.update(to_json(_parse(name, envelope.raw)))
    return obj


def _parse(name: str, data: bytes):
    message = message_class(name)()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ProtobufError(f"the body is not a valid {name.rsplit('.', 1)[1]} message: {exc}") from None
    return message


def to_json(message) -> dict:
    full_name = message.DESCRIPTOR.full_name
    fields = fields_of(full_name)
    out = {}
    for descriptor, value in message.ListFields():
        spec = fields[descriptor.name]
        if spec.is_map:
            converted = {k: _value(spec.map_types()[1], v, True) for k, v in value.items()}
        elif spec.repeated:
            converted = [_value(spec.type, v, True) for v in value]
        else:
            converted = _value(spec.type, value, spec.pointer)
        if converted is _OMIT or (not spec.pointer and _is_zero(converted)):
            continue
        out[descriptor.name] = converted
    return out


_OMIT = object()


def _is_zero(value) -> bool:
    return value is None or value is False or value == 0 and not isinstance(value, bool) or value in ("", {}, [])


def _value(ftype: str, value, pointer: bool):
    if ftype == "bytes":
        return base64.b64encode(value).decode("ascii")
    if not hasattr(value, "DESCRIPTOR"):
        return value
    special = _SPECIAL.get(ftype)
    if special is not None:
        return special(value, pointer)
    return to_json(value)


def _time(value, pointer, micro=False):
    if not pointer and value.seconds == 0 and value.nanos == 0:
        return _OMIT  # a zero metav1.Time marshals as null
    moment = datetime.datetime.fromtimestamp(value.seconds, datetime.timezone.utc)
    if micro:
        moment = moment.replace(microsecond=value.nanos // 1000)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(value, _pointer):
    return value.strVal if value.type == 1 else value.intVal


def _raw_json(attribute):
    def convert(value, _pointer):
        raw = getattr(value, attribute)
        if not raw:
            return _OMIT
        try:
            return json.loads(raw)
        except ValueError:
            raise ProtobufError(f"{value.DESCRIPTOR.name}.{attribute} holds no JSON") from None
    return convert


_SPECIAL = {
    f"{META}.Time": _time,
    f"{META}.MicroTime": lambda v, p: _time(v, p, micro=True),
    f"{META}.FieldsV1": _raw_json("Raw"),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda v, p: v.string,
}
