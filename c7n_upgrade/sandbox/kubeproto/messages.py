"""schema.json -> protobuf message classes in a private descriptor pool."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

SCHEMA = Path(__file__).with_name("schema.json")
FDP = descriptor_pb2.FieldDescriptorProto
SCALAR_TYPES = {name: getattr(FDP, "TYPE_" + name.upper()) for name in (
    "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string", "bytes",
    "uint32", "sfixed32", "sfixed64", "sint32", "sint64")}
WELL_KNOWN = {"google.protobuf.Any": any_pb2.DESCRIPTOR}


@dataclass(frozen=True)
class Field:
    name: str
    number: int
    type: str          # a scalar name, a message's full name, or map<K,V>
    repeated: bool
    pointer: bool      # the Go field is a pointer: present-but-zero is meaningful
    oneof: str = ""

    @property
    def is_map(self) -> bool:
        return self.type.startswith("map<")

    def map_types(self) -> tuple[str, str]:
        key, value = self.type[4:-1].split(",", 1)
        return key, value


def _field(entry: list) -> Field:
    name, number, ftype, flags = entry
    flags = flags.split(",") if flags else []
    oneof = next((f.split(":", 1)[1] for f in flags if f.startswith("oneof:")), "")
    return Field(name, number, ftype, "repeated" in flags, "ptr" in flags, oneof)


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    raw = json.loads(SCHEMA.read_text(encoding="utf-8"))
    raw["fields"] = {name: [_field(e) for e in entries] for name, entries in raw["messages"].items()}
    return raw


def package_of(full_name: str) -> str:
    packages = sorted(schema()["syntax"], key=len, reverse=True)
    return next(p for p in packages if full_name.startswith(p + "."))


def _referenced(fields: list[Field]) -> set[str]:
    out = set()
    for f in fields:
        target = f.map_types()[1] if f.is_map else f.type
        if target not in SCALAR_TYPES:
            out.add(target)
    return out


def _package_order() -> list[str]:
    """Packages with the packages they use before them."""
    s = schema()
    deps = {p: set() for p in s["syntax"]}
    for name, fields in s["fields"].items():
        mine = package_of(name)
        for target in _referenced(fields):
            if target not in WELL_KNOWN and package_of(target) != mine:
                deps[mine].add(package_of(target))
    order: list[str] = []

    def visit(p):
        if p not in order:
            for d in sorted(deps[p]):
                visit(d)
            order.append(p)

    for p in sorted(deps):
        visit(p)
    return order


def _message_proto(name: str, fields: list[Field]) -> descriptor_pb2.DescriptorProto:
    msg = descriptor_pb2.DescriptorProto(name=name.rsplit(".", 1)[1])
    oneofs: list[str] = []
    for f in fields:
        fd = msg.field.add(name=f.name, number=f.number, json_name=f.name,
                           label=FDP.LABEL_REPEATED if (f.repeated or f.is_map) else FDP.LABEL_OPTIONAL)
        if f.is_map:
            key, value = f.map_types()
            entry = msg.nested_type.add(name=f.name[:1].upper() + f.name[1:] + "Entry")
            entry.options.map_entry = True
            for number, (fname, ftype) in enumerate((("key", key), ("value", value)), start=1):
                efd = entry.field.add(name=fname, number=number, json_name=fname, label=FDP.LABEL_OPTIONAL)
                _set_type(efd, ftype)
            fd.type, fd.type_name = FDP.TYPE_MESSAGE, f".{name}.{entry.name}"
        else:
            _set_type(fd, f.type)
        if f.oneof:
            if f.oneof not in oneofs:
                oneofs.append(f.oneof)
                msg.oneof_decl.add(name=f.oneof)
            fd.oneof_index = oneofs.index(f.oneof)
    return msg


def _set_type(fd: descriptor_pb2.FieldDescriptorProto, ftype: str) -> None:
    if ftype in SCALAR_TYPES:
        fd.type = SCALAR_TYPES[ftype]
    else:
        fd.type, fd.type_name = FDP.TYPE_MESSAGE, "." + ftype


@functools.lru_cache(maxsize=1)
def pool() -> descriptor_pool.DescriptorPool:
    s = schema()
    p = descriptor_pool.DescriptorPool()
    files = []
    for descriptor in WELL_KNOWN.values():
        fdp = descriptor_pb2.FileDescriptorProto()
        descriptor.CopyToProto(fdp)
        p.Add(fdp)
        files.append(fdp.name)
    for package in _package_order():
        fdp = descriptor_pb2.FileDescriptorProto(name=package.replace(".", "/") + "/sandbox.proto",
                                                 package=package, syntax=s["syntax"][package])
        fdp.dependency.extend(files)
        for name in sorted(n for n in s["fields"] if package_of(n) == package):
            fdp.message_type.append(_message_proto(name, s["fields"][name]))
        p.Add(fdp)
        files.append(fdp.name)
    return p


@functools.lru_cache(maxsize=None)
def message_class(full_name: str):
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


@functools.lru_cache(maxsize=None)
def fields_of(full_name: str) -> dict[str, Field]:
    return {f.name: f for f in schema()["fields"][full_name]}
