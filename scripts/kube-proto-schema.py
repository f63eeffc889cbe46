#!/usr/bin/env python3
"""Write or check c7n_upgrade/sandbox/kubeproto/schema.json: the protobuf messages the sandbox's API
server decodes (Kubernetes objects) and encodes (the OpenAPI v2 document kubectl 1.20 asks for).

The field numbers and types are facts of the Kubernetes API (k8s.io/api, k8s.io/apimachinery
generated.proto) and of gnostic's OpenAPIv2.proto. Rather than copy them by hand, this script reads
them from a Go binary that compiles them in: client-go and gnostic register each .proto file's
FileDescriptorProto, gzipped, in the binary. kubectl 1.32 carries the Kubernetes messages, kubectl 1.20
the gnostic ones.

    kube-proto-schema.py write --k8s /usr/bin/kubectl --gnostic .tools/kubectl-1.20/usr/bin/kubectl
    kube-proto-schema.py check --binary PATH    # every message/field we keep agrees with PATH's

Only the messages reachable from the kinds below are kept. A field's "ptr" flag says the Go field is a
pointer (gogoproto nullable, the default): its presence matters even when its value is zero.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import zlib
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "c7n_upgrade" / "sandbox" / "kubeproto" / "schema.json"

# apiVersion/Kind -> message: what kubectl 1.32 and Helm 3.17 send as protobuf, and the kinds the
# sandbox serves.
KINDS = {
    "v1/Pod": "k8s.io.api.core.v1.Pod",
    "v1/Service": "k8s.io.api.core.v1.Service",
    "v1/Secret": "k8s.io.api.core.v1.Secret",
    "v1/ConfigMap": "k8s.io.api.core.v1.ConfigMap",
    "v1/Namespace": "k8s.io.api.core.v1.Namespace",
    "v1/Event": "k8s.io.api.core.v1.Event",
    "v1/ServiceAccount": "k8s.io.api.core.v1.ServiceAccount",
    "v1/Endpoints": "k8s.io.api.core.v1.Endpoints",
    "v1/ReplicationController": "k8s.io.api.core.v1.ReplicationController",
    "v1/Node": "k8s.io.api.core.v1.Node",
    "apps/v1/Deployment": "k8s.io.api.apps.v1.Deployment",
    "apps/v1/ReplicaSet": "k8s.io.api.apps.v1.ReplicaSet",
    "apps/v1/StatefulSet": "k8s.io.api.apps.v1.StatefulSet",
    "apps/v1/DaemonSet": "k8s.io.api.apps.v1.DaemonSet",
    "batch/v1/Job": "k8s.io.api.batch.v1.Job",
    "batch/v1/CronJob": "k8s.io.api.batch.v1.CronJob",
    "coordination.k8s.io/v1/Lease": "k8s.io.api.coordination.v1.Lease",
    "rbac.authorization.k8s.io/v1/Role": "k8s.io.api.rbac.v1.Role",
    "rbac.authorization.k8s.io/v1/RoleBinding": "k8s.io.api.rbac.v1.RoleBinding",
    "rbac.authorization.k8s.io/v1/ClusterRole": "k8s.io.api.rbac.v1.ClusterRole",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "k8s.io.api.rbac.v1.ClusterRoleBinding",
    "autoscaling/v1/Scale": "k8s.io.api.autoscaling.v1.Scale",
    "meta.k8s.io/v1/DeleteOptions": "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "v1/DeleteOptions": "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
}
ENVELOPE = "k8s.io.apimachinery.pkg.runtime.Unknown"
OPENAPI_ROOT = "openapi.v2.Document"

SCALARS = {getattr(descriptor_pb2.FieldDescriptorProto, "TYPE_" + n.upper()): n for n in (
    "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string", "bytes",
    "uint32", "sfixed32", "sfixed64", "sint32", "sint64")}
NULLABLE_FALSE = b"\xc8\xde\x1f\x00"  # gogoproto.nullable (65001) = false, kept as an unknown option
GZIP = re.compile(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")


def embedded_files(binary: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Every gzipped FileDescriptorProto compiled into a Go binary, by the package-relative name."""
    data = binary.read_bytes()
    files = {}
    for match in GZIP.finditer(data):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[match.start():match.start() + 4_000_000])
            fd = descriptor_pb2.FileDescriptorProto()
            fd.ParseFromString(raw)
        except Exception:  # noqa: BLE001 - most gzip headers in a binary are something else
            continue
        if fd.name.endswith(".proto") and fd.package:
            files[re.sub(r"^.*/vendor/", "", fd.name)] = fd
    return files


def messages_of(files) -> dict[str, tuple[descriptor_pb2.DescriptorProto, str]]:
    """Full name (no leading dot) -> (message, syntax) for every top-level and nested message."""
    out = {}

    def add(prefix, msg, syntax):
        name = f"{prefix}.{msg.name}"
        out[name] = (msg, syntax)
        for nested in msg.nested_type:
            add(name, nested, syntax)

    for fd in files.values():
        for msg in fd.message_type:
            add(fd.package, msg, fd.syntax or "proto2")
    return out


def field_entry(field, index, msg) -> list:
    """[name, number, type, flags]: type is a scalar name, a message name or map<K,V>."""
    flags = []
    if field.type == field.TYPE_MESSAGE:
        target = field.type_name.lstrip(".")
        entry = index.get(target)
        if entry and entry[0].options.map_entry:
            key, value = entry[0].field
            vtype = SCALARS.get(value.type) or value.type_name.lstrip(".")
            return [field.name, field.number, f"map<{SCALARS[key.type]},{vtype}>", ""]
        ftype = target
    elif field.type == field.TYPE_ENUM:
        ftype = "int32"  # no enum in the messages we keep; kept as its wire type
    else:
        ftype = SCALARS[field.type]
    if field.label == field.LABEL_REPEATED:
        flags.append("repeated")
    elif NULLABLE_FALSE not in field.options.SerializeToString():
        flags.append("ptr")
    if field.HasField("oneof_index"):
        flags.append("oneof:" + msg.oneof_decl[field.oneof_index].name)
    return [field.name, field.number, ftype, ",".join(flags)]


def closure(roots, index) -> list[str]:
    seen, todo = [], list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in index:
            continue
        seen.append(name)
        for field in index[name][0].field:
            if field.type == field.TYPE_MESSAGE:
                target = field.type_name.lstrip(".")
                entry = index.get(target)
                if entry and entry[0].options.map_entry:
                    value = entry[0].field[1]
                    if value.type == value.TYPE_MESSAGE:
                        todo.append(value.type_name.lstrip("."))
                else:
                    todo.append(target)
    missing = [r for r in roots if r not in index]
    if missing:
        raise SystemExit(f"not in the binary: {', '.join(missing)}")
    return sorted(seen)


def schema_from(k8s_files, gnostic_files) -> dict:
    k8s = messages_of(k8s_files)
    gnostic = messages_of(gnostic_files)
    out = {"kinds": KINDS, "envelope": ENVELOPE, "openapi": OPENAPI_ROOT, "syntax": {}, "messages": {}}
    for index, roots in ((k8s, list(KINDS.values()) + [ENVELOPE]), (gnostic, [OPENAPI_ROOT])):
        for name in closure(roots, index):
            msg, syntax = index[name]
            out["messages"][name] = [field_entry(f, index, msg) for f in msg.field]
            out["syntax"][name.rsplit(".", 1)[0]] = syntax
    return out


def wire(entry: list) -> tuple:
    """What decoding depends on: name, number, scalar type or "message" (messages were renamed
    across releases, e.g. Handler -> LifecycleHandler, with the same fields)."""
    name, number, ftype, flags = entry
    kind = ftype if ftype in SCALARS.values() or ftype.startswith("map<") else "message"
    return name, number, re.sub(r",[\w.]*\.[\w.]+>", ",message>", kind), "repeated" in flags


def check(binary: Path, schema_path: Path = SCHEMA) -> tuple[int, list[str]]:
    """(messages compared, problems): a kept message or field the binary defines differently."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    index = messages_of(embedded_files(binary))
    problems, compared = [], 0
    for name, fields in schema["messages"].items():
        if name not in index:
            continue  # e.g. gnostic in kubectl 1.32, or a kind newer than this binary
        compared += 1
        theirs = {f.name: field_entry(f, index, index[name][0]) for f in index[name][0].field}
        for entry in fields:
            other = theirs.get(entry[0])
            if other is None:
                continue  # a field newer than this binary
            if wire(other) != wire(entry):
                problems.append(f"{name}.{entry[0]}: we say {entry[1:3]}, {binary.name} says {other[1:3]}")
    return compared, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write")
    write.add_argument("--k8s", type=Path, required=True, help="a kubectl whose client-go has the kinds (1.32)")
    write.add_argument("--gnostic", type=Path, required=True, help="a kubectl with gnostic's OpenAPIv2 (1.20)")
    chk = sub.add_parser("check")
    chk.add_argument("--binary", type=Path, required=True)
    chk.add_argument("--schema", type=Path, default=SCHEMA)
    args = parser.parse_args(argv)
    if args.command == "write":
        schema = schema_from(embedded_files(args.k8s), embedded_files(args.gnostic))
        lines = ['{', f' "kinds": {json.dumps(schema["kinds"], sort_keys=True)},',
                 f' "envelope": {json.dumps(schema["envelope"])},', f' "openapi": {json.dumps(schema["openapi"])},',
                 f' "syntax": {json.dumps(schema["syntax"], sort_keys=True)},', ' "messages": {']
        names = sorted(schema["messages"])
        for i, name in enumerate(names):
            sep = "," if i < len(names) - 1 else ""
            lines.append(f'  {json.dumps(name)}: {json.dumps(schema["messages"][name])}{sep}')
        lines += [' }', '}']
        SCHEMA.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{SCHEMA}: {len(names)} messages")
        return 0
    compared, problems = check(args.binary, args.schema)
    for line in problems:
        print(line)
    print(f"{compared} messages compared with {args.binary}, {len(problems)} problem(s)")
    return 1 if problems or not compared else 0


if __name__ == "__main__":
    sys.exit(main())
