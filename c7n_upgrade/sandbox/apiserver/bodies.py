"""Request bodies: how a POST, PUT or PATCH body is decoded (JSON, YAML as kubectl may send, or
Kubernetes protobuf as kubectl 1.32 `create` and Helm 3's release storage send), and which PATCH
content types mean which patch."""
from __future__ import annotations

import json

import yaml

from .. import kubeproto
from .errors import HttpError

PATCH_TYPES = {"application/merge-patch+json": "merge", "application/strategic-merge-patch+json": "strategic",
               "application/json-patch+json": "json"}
STRATEGIC = "application/strategic-merge-patch+json"


def decode_body(body: bytes, headers=None):
    """The request body as a Python object; 400 BadRequest when it cannot be decoded, 415 when it is
    protobuf of a kind the sandbox has no message for."""
    if (headers or {}).get("Content-Type", "").split(";")[0].strip() == kubeproto.PROTOBUF:
        try:
            return kubeproto.decode_object(body)
        except kubeproto.ProtobufError as exc:
            raise HttpError(415, "UnsupportedMediaType", f"the body of the request could not be decoded: {exc}") \
                from None
    try:
        return json.loads(body) if body.lstrip()[:1] in (b"{", b"[") else yaml.safe_load(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise HttpError(400, "BadRequest", f"the request body could not be decoded: {exc}") from None


def patch_type(headers) -> str | None:
    """merge / strategic / json from the Content-Type, None when it is no patch type."""
    return PATCH_TYPES.get(headers.get("Content-Type", "").split(";")[0].strip())
