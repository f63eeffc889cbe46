"""Kubernetes protobuf for the sandbox's API server: request bodies in, the OpenAPI v2 document out.

kubectl 1.32 (`create secret|configmap|deployment|job`) and Helm 3's release storage send
`application/vnd.kubernetes.protobuf`: the magic `k8s\\0`, then a `runtime.Unknown` whose `raw` is the
object's own message. kubectl 1.20 validates `apply`/`diff` against `/openapi/v2`, asked for as a
gnostic `openapi_v2.Document` in protobuf.

The messages come from `schema.json` (field numbers read from the descriptors compiled into kubectl;
see scripts/kube-proto-schema.py), loaded into a private descriptor pool of the `protobuf` package.
"""
from __future__ import annotations

from .codec import MAGIC, PROTOBUF, ProtobufError, decode_object, kinds
from .openapi import Served, encode_document, openapi_v2

__all__ = ["MAGIC", "PROTOBUF", "ProtobufError", "decode_object", "kinds", "Served", "encode_document", "openapi_v2"]
