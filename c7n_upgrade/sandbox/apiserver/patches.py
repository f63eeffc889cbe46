"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (by merge key), JSON patch (RFC 6902)."""
from __future__ import annotations

import copy

from .errors import BadRequest, Invalid


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
    "imagePullSecrets": "name", "volumeMounts": "mountPath", "ports": None,  # ports: see below
}


def _merge_key(field_name, items):
    if field_name == "ports":   # container ports by containerPort, service ports by port
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field_name)


def strategic_merge_patch(target, patch):
    """Merge patch, except lists of containers/ports/env/volumes... merge by their key.

    Supports the `$patch: replace|delete` directive; other `$` directives
    (`$setElementOrder/...`, `$retainKeys`) are dropped.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if not k.startswith("$")}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in _MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, _merge_key(key, result[key] + value))
        elif isinstance(value, list):
            result[key] = [_strip_directives(v) for v in value if not _is_delete(v)]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _is_delete(item):
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _strip_directives(value):
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _merge_list(current, patch_items, key):
    merged = copy.deepcopy(current)
    for item in patch_items:
        if not isinstance(item, dict) or key not in item:
            merged.append(_strip_directives(item))
            continue
        index = next((i for i, c in enumerate(merged) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if _is_delete(item):
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(_strip_directives(item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target, operations):
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    doc = copy.deepcopy(target)
    if not isinstance(operations, list):
        raise BadRequest("json patch must be a list of operations")

    def parent_of(parts):
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def get(parts):
        node = doc
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def remove(parts):
        parent = parent_of(parts)
        if isinstance(parent, list):
            return parent.pop(int(parts[-1]))
        return parent.pop(parts[-1])

    def add(parts, value):
        nonlocal doc
        if not parts:
            doc = value
            return
        parent = parent_of(parts)
        if isinstance(parent, list):
            idx = len(parent) if parts[-1] == "-" else int(parts[-1])
            parent.insert(idx, value)
        else:
            parent[parts[-1]] = value

    for op in operations:
        try:
            kind, parts = op["op"], _pointer(op["path"])
            if kind == "add":
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(parts)
            elif kind == "replace":
                get(parts)  # must exist
                remove(parts) if parts else None
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "move":
                add(parts, remove(_pointer(op["from"])))
            elif kind == "copy":
                add(parts, copy.deepcopy(get(_pointer(op["from"]))))
            elif kind == "test":
                if get(parts) != op["value"]:
                    raise Invalid(f"test operation failed at {op['path']}")
            else:
                raise BadRequest(f"unknown json patch op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise Invalid(f"json patch {op!r} failed: {exc!r}") from None
    return doc


PATCH_FUNCTIONS = {"merge": merge_patch, "strategic": strategic_merge_patch, "json": json_patch}
