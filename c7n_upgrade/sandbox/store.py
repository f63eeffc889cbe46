"""In-memory Kubernetes object store for the sandbox (thread-safe, watchable).

Resources are keyed by plural and group: "pods", "deployments.apps", "jobs.batch",
"customresourcedefinitions.apiextensions.k8s.io", ... A CRD adds its custom resource
("<plural>.<group>") to the known resource types while it exists.

Semantics kept from the real API server:
- server-set metadata: uid, resourceVersion (one global increasing counter),
  creationTimestamp (RFC 3339, 'Z'), namespace, generation (bumped on spec change);
- objects live in a namespace that must exist (the defaults exist from the start);
- replace/patch of the main resource never changes `status` of a resource that has a
  status subresource; update_status changes only `status`;
- Secrets: `stringData` is folded into base64 `data` on write;
- Services get `spec.clusterIP` from 127.10.0.0/16 when not set.
"""
from __future__ import annotations

import base64
import collections
import copy
import datetime
import functools
import itertools
import logging
import re
import random
import threading
import uuid
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "choerodon-devops-prod")
ALL_VERSIONS = (0, 999)


class StoreError(Exception):
    """Base error; `code` and `reason` follow the Kubernetes Status object."""
    code = 500
    reason = "InternalError"

    def __init__(self, message, resource=None, name=None):
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.name = name


class NotFound(StoreError):
    code, reason = 404, "NotFound"


class Conflict(StoreError):
    code, reason = 409, "Conflict"


class AlreadyExists(Conflict):
    reason = "AlreadyExists"


class Invalid(StoreError):
    code, reason = 422, "Invalid"


class BadRequest(Invalid):
    code, reason = 400, "BadRequest"


@dataclass(frozen=True)
class ResourceType:
    plural: str
    group: str
    kind: str
    namespaced: bool
    # (version, first served minor, last served minor), preferred first
    versions: tuple = (("v1", *ALL_VERSIONS),)
    short_names: tuple = ()
    subresources: tuple = ()          # e.g. ("status", "log", "proxy")
    generation: bool = False          # metadata.generation kept
    singular: str = ""

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def served_versions(self, kube_minor: int) -> list[str]:
        return [v for v, lo, hi in self.versions if lo <= kube_minor <= hi]


BUILTIN_TYPES = (
    ResourceType("pods", "", "Pod", True, short_names=("po",), subresources=("status", "log", "proxy")),
    ResourceType("services", "", "Service", True, short_names=("svc",), subresources=("status", "proxy")),
    ResourceType("namespaces", "", "Namespace", False, short_names=("ns",), subresources=("status",)),
    ResourceType("events", "", "Event", True, short_names=("ev",)),
    ResourceType("configmaps", "", "ConfigMap", True, short_names=("cm",)),
    ResourceType("secrets", "", "Secret", True),
    ResourceType("deployments", "apps", "Deployment", True,
                 versions=(("v1", 9, 999), ("v1beta2", 8, 15), ("v1beta1", 0, 15)),
                 short_names=("deploy",), subresources=("status",), generation=True),
    ResourceType("replicasets", "apps", "ReplicaSet", True,
                 versions=(("v1", 9, 999), ("v1beta2", 8, 15)),
                 short_names=("rs",), subresources=("status",), generation=True),
    ResourceType("jobs", "batch", "Job", True, subresources=("status",), generation=True),
    ResourceType("leases", "coordination.k8s.io", "Lease", True,
                 versions=(("v1", 14, 999), ("v1beta1", 0, 21))),
    ResourceType("customresourcedefinitions", "apiextensions.k8s.io", "CustomResourceDefinition", False,
                 versions=(("v1", 16, 999), ("v1beta1", 0, 21)),
                 short_names=("crd", "crds"), subresources=("status",), generation=True),
)
CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- selectors

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def parse_label_selector(selector) -> list[tuple]:
    """Parse a label selector string (or a dict of equalities) into (key, op, values) terms."""
    if not selector:
        return []
    if isinstance(selector, dict):
        return [(k, "=", {str(v)}) for k, v in selector.items()]
    terms, depth, current = [], 0, ""
    for ch in selector:          # split on commas outside parentheses
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    parsed = []
    for term in (t.strip() for t in terms):
        if not term:
            continue
        m = _SET_RE.match(term)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            parsed.append((m.group(1), m.group(2), values))
            continue
        m = re.match(r"^([^\s!=]+)\s*(==|!=|=)\s*([^\s,]*)$", term)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            parsed.append((m.group(1), op, {m.group(3)}))
        elif re.match(r"^![^\s!=()]+$", term):
            parsed.append((term[1:], "!", set()))
        elif re.match(r"^[^\s!=()]+$", term):
            parsed.append((term, "exists", set()))
        else:
            raise BadRequest(f"unable to parse requirement: {term!r}")
    return parsed


def labels_match(labels: dict, terms: list[tuple]) -> bool:
    labels = labels or {}
    for key, op, values in terms:
        present = key in labels
        if op in ("=", "in") and not (present and labels[key] in values):
            return False
        if op in ("!=", "notin") and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(selector) -> list[tuple]:
    """Parse `a.b=c,d!=e` into (path, op, value) terms. Any dotted path is accepted."""
    if not selector:
        return []
    if isinstance(selector, dict):
        return [(k, "=", str(v)) for k, v in selector.items()]
    parsed = []
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        m = re.match(r"^([\w.]+)\s*(==|!=|=)\s*(.*)$", term)
        if not m:
            raise BadRequest(f"invalid field selector: {term!r}")
        parsed.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return parsed


def fields_match(obj: dict, terms: list[tuple]) -> bool:
    for path, op, value in terms:
        current = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        actual = "" if current is None else str(current)
        if (actual == value) != (op == "="):
            return False
    return True


# ---------------------------------------------------------------- patches

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


# list field -> merge key (strategic merge patch); other lists are replaced
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


# ---------------------------------------------------------------- store

def _writes(method):
    """Run a write under the caller's arguments, then deliver its events outside the lock."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            self._dispatch()
    return wrapper


class Store:
    def __init__(self, namespaces=DEFAULT_NAMESPACES):
        self._lock = threading.RLock()
        self._dispatch_lock = threading.Lock()
        self._events = collections.deque()
        self._subscribers = []
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._objects: dict[str, dict] = {t.key: {} for t in BUILTIN_TYPES}
        self._types: dict[str, ResourceType] = {t.key: t for t in BUILTIN_TYPES}
        # a random start, so sandboxes running side by side rarely hand out the same clusterIP
        self._next_cluster_ip = 1 + random.randrange(0, 200) * 256
        for ns in namespaces:
            self.create("namespaces", {"metadata": {"name": ns}})

    # -- resource types

    def resource_types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def resource_type(self, resource) -> ResourceType:
        with self._lock:
            if resource not in self._types:
                raise NotFound(f"the server could not find the requested resource ({resource})", resource)
            return self._types[resource]

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._last_rv)

    # -- reads

    def get(self, resource, namespace, name) -> dict:
        rtype = self.resource_type(resource)
        with self._lock:
            obj = self._objects[resource].get(self._key(rtype, namespace, name))
            if obj is None:
                raise NotFound(f'{resource} "{name}" not found', resource, name)
            return copy.deepcopy(obj)

    def list(self, resource, namespace=None, label_selector=None, field_selector=None) -> list[dict]:
        rtype = self.resource_type(resource)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        with self._lock:
            items = [o for (ns, _), o in sorted(self._objects[resource].items())
                     if (namespace is None or not rtype.namespaced or ns == namespace)
                     and labels_match(o["metadata"].get("labels"), labels)
                     and fields_match(o, fields)]
            return copy.deepcopy(items)

    # -- writes

    @_writes
    def create(self, resource, obj, namespace=None, dry_run=False) -> dict:
        rtype = self.resource_type(resource)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise Invalid(f"{resource} is invalid: metadata.name: Required value: name or generateName is required",
                          resource)
        ns = self._namespace_for(rtype, obj, namespace)
        obj.setdefault("kind", rtype.kind)
        obj.setdefault("apiVersion", rtype.api_version(rtype.versions[0][0]))
        with self._lock:
            if rtype.namespaced and ("", ns) not in self._objects["namespaces"]:
                raise NotFound(f'namespaces "{ns}" not found', "namespaces", ns)
            key = (ns, name)
            if key in self._objects[resource]:
                raise AlreadyExists(f'{resource} "{name}" already exists', resource, name)
            for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "selfLink"):
                meta.pop(k, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rtype.generation:
                meta["generation"] = 1
            self._prepare(resource, obj, None)
            self._commit(resource, key, obj, "ADDED", dry_run)
            return copy.deepcopy(obj)

    @_writes
    def replace(self, resource, obj, namespace=None, dry_run=False) -> dict:
        rtype = self.resource_type(resource)
        obj = copy.deepcopy(obj)
        name = obj.get("metadata", {}).get("name")
        ns = self._namespace_for(rtype, obj, namespace)
        with self._lock:
            current = self._current(resource, ns, name)
            if "status" in rtype.subresources:
                obj.pop("status", None)
                if "status" in current:
                    obj["status"] = copy.deepcopy(current["status"])
            return self._update(resource, rtype, current, obj, dry_run)

    @_writes
    def update_status(self, resource, namespace, name, status, resource_version=None, dry_run=False) -> dict:
        """Replace only `status`; Conflict if resource_version is given and stale."""
        rtype = self.resource_type(resource)
        with self._lock:
            current = self._current(resource, self._ns(rtype, namespace), name)
            obj = copy.deepcopy(current)
            obj["status"] = copy.deepcopy(status)
            if resource_version:
                obj["metadata"]["resourceVersion"] = resource_version
            return self._update(resource, rtype, current, obj, dry_run)

    @_writes
    def patch(self, resource, namespace, name, patch, patch_type, subresource=None, dry_run=False) -> dict:
        """patch_type: "merge", "strategic" or "json". subresource="status" patches only status."""
        rtype = self.resource_type(resource)
        if patch_type not in PATCH_FUNCTIONS:
            raise BadRequest(f"unknown patch type {patch_type!r}")
        with self._lock:
            current = self._current(resource, self._ns(rtype, namespace), name)
            patched = PATCH_FUNCTIONS[patch_type](current, patch)
            if not isinstance(patched, dict):
                raise Invalid("patch result is not an object", resource, name)
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            if not wanted_rv:
                patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            if subresource == "status":
                obj = copy.deepcopy(current)
                obj["status"] = patched.get("status", {})
                obj["metadata"]["resourceVersion"] = patched["metadata"].get("resourceVersion")
                patched = obj
            elif "status" in rtype.subresources:
                patched.pop("status", None)
                if "status" in current:
                    patched["status"] = copy.deepcopy(current["status"])
            return self._update(resource, rtype, current, patched, dry_run)

    @_writes
    def delete(self, resource, namespace, name, dry_run=False) -> dict:
        rtype = self.resource_type(resource)
        with self._lock:
            ns = self._ns(rtype, namespace)
            obj = self._current(resource, ns, name)
            if dry_run:
                return copy.deepcopy(obj)
            if resource == "namespaces":     # cascade: everything in the namespace goes too
                for key, objects in self._objects.items():
                    if self._types[key].namespaced:
                        for ons, oname in [k for k in objects if k[0] == name]:
                            self._remove(key, (ons, oname))
            self._remove(resource, (ns, name))
            return copy.deepcopy(obj)

    # -- watching

    def subscribe(self, callback):
        """callback(event_type, resource, obj) after each change, outside the store lock, in order."""
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback):
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    # -- internals

    @staticmethod
    def _ns(rtype, namespace):
        return (namespace or "default") if rtype.namespaced else ""

    def _namespace_for(self, rtype, obj, namespace):
        meta = obj.setdefault("metadata", {})
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return ""
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace or given or "default"
        return meta["namespace"]

    @staticmethod
    def _key(rtype, namespace, name):
        return (Store._ns(rtype, namespace), name)

    def _current(self, resource, ns, name):
        obj = self._objects[resource].get((ns, name))
        if obj is None:
            raise NotFound(f'{resource} "{name}" not found', resource, name)
        return obj

    def _update(self, resource, rtype, current, obj, dry_run=False):
        meta = obj.setdefault("metadata", {})
        cur_meta = current["metadata"]
        name = cur_meta["name"]
        if meta.get("name") != name:
            raise BadRequest(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        rv = meta.get("resourceVersion")
        if rv and rv != cur_meta["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
                           "please apply your changes to the latest version and try again", resource, name)
        for k in ("uid", "creationTimestamp", "namespace"):
            if k in cur_meta:
                meta[k] = cur_meta[k]
        obj.setdefault("kind", rtype.kind)
        if rtype.generation:
            changed = obj.get("spec") != current.get("spec")
            meta["generation"] = cur_meta.get("generation", 1) + (1 if changed else 0)
        self._prepare(resource, obj, current)
        self._commit(resource, (meta.get("namespace", ""), name), obj, "MODIFIED", dry_run)
        return copy.deepcopy(obj)

    def _prepare(self, resource, obj, current):
        """Resource-specific defaulting, done under the lock."""
        if resource == "secrets" and "stringData" in obj:
            data = obj.setdefault("data", {}) or {}
            for k, v in (obj.pop("stringData") or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        elif resource == "services":
            spec = obj.setdefault("spec", {})
            if current is not None and not spec.get("clusterIP"):
                spec["clusterIP"] = current.get("spec", {}).get("clusterIP")
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self._allocate_cluster_ip()
            spec.setdefault("type", "ClusterIP")
        elif resource == "namespaces":
            obj.setdefault("status", {"phase": "Active"})
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        elif resource == CRD_KEY:
            default_crd(obj)

    def _allocate_cluster_ip(self):
        n = self._next_cluster_ip
        while n % 256 in (0, 255):          # no .0 or .255 host parts
            n += 1
        if n >= 256 * 256:
            raise Invalid("service cluster IP range 127.10.0.0/16 is exhausted", "services")
        self._next_cluster_ip = n + 1
        return f"127.10.{n // 256}.{n % 256}"

    def _commit(self, resource, key, obj, event, dry_run=False):
        if dry_run:     # everything checked, nothing stored (?dryRun=All)
            return
        rv = next(self._rv)
        self._last_rv = rv
        obj["metadata"]["resourceVersion"] = str(rv)
        self._objects[resource][key] = obj
        if resource == CRD_KEY:
            self._register_crd(obj)
        self._events.append((event, resource, copy.deepcopy(obj)))

    def _remove(self, resource, key):
        obj = self._objects[resource].pop(key)
        rv = next(self._rv)
        self._last_rv = rv
        if resource == CRD_KEY:
            self._unregister_crd(obj)
        self._events.append(("DELETED", resource, copy.deepcopy(obj)))

    def _register_crd(self, crd):
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        versions = tuple((v["name"], *ALL_VERSIONS) for v in spec.get("versions", []) if v.get("served", True))
        rtype = ResourceType(
            names.get("plural", ""), spec.get("group", ""), names.get("kind", ""),
            spec.get("scope", "Namespaced") == "Namespaced", versions=versions,
            short_names=tuple(names.get("shortNames", [])), generation=True,
            subresources=tuple(spec.get("subresources", {}) or {}), singular=names.get("singular", ""))
        self._types[rtype.key] = rtype
        self._objects.setdefault(rtype.key, {})

    def _unregister_crd(self, crd):
        key = crd["metadata"]["name"]
        self._types.pop(key, None)
        self._objects.pop(key, None)

    def _dispatch(self):
        """Deliver queued events in order, outside the store lock; re-entrant writes are queued."""
        while True:
            if not self._dispatch_lock.acquire(blocking=False):
                return
            try:
                while True:
                    with self._lock:
                        if not self._events:
                            break
                        event = self._events.popleft()
                        subscribers = list(self._subscribers)
                    for callback in subscribers:
                        try:
                            callback(*event)
                        except Exception:  # a broken subscriber must not break writers
                            log.exception("store subscriber failed")
            finally:
                self._dispatch_lock.release()
            with self._lock:
                if not self._events:
                    return


def default_crd(crd: dict) -> None:
    """Defaults the API server applies to a CRD (both v1beta1 and v1 shapes kept in one object)."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    if not spec.get("versions") and spec.get("version"):
        spec["versions"] = [{"name": spec["version"], "served": True, "storage": True}]
    for v in spec.get("versions", []):
        v.setdefault("served", True)
        v.setdefault("storage", True)
    if spec.get("versions") and spec.get("version") not in [v.get("name") for v in spec["versions"]]:
        spec["version"] = spec["versions"][0]["name"]
    spec.setdefault("scope", "Namespaced")
    status = crd.get("status") or {}
    if status.get("conditions"):        # already established: refresh the derived fields only
        status["acceptedNames"] = copy.deepcopy(names)
        status["storedVersions"] = sorted({*status.get("storedVersions", []),
                                           *(v["name"] for v in spec.get("versions", []) if v.get("storage"))})
        crd["status"] = status
        return
    now = now_rfc3339()
    crd["status"] = {
        "acceptedNames": copy.deepcopy(names),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }
