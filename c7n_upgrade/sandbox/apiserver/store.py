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
import functools
import itertools
import logging
import random
import threading
import uuid

from .defaults import apply_defaults
from .errors import AlreadyExists, BadRequest, Conflict, Invalid, NotFound
from .patches import PATCH_FUNCTIONS
from .resources import BUILTIN_TYPES, CRD_KEY, ResourceType, custom_resource_type, default_crd, now_rfc3339
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector

log = logging.getLogger(__name__)


DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "choerodon-devops-prod")


def _writes(method):
    """Run a write under the caller's arguments, then deliver its events outside the lock."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            self._dispatch()
    return wrapper


def _keep_status(rtype, obj, current) -> None:
    """A write to the main resource never changes the status of a resource with a status subresource."""
    if "status" in rtype.subresources:
        obj.pop("status", None)
        if "status" in current:
            obj["status"] = copy.deepcopy(current["status"])


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

    def get_or_none(self, resource, namespace, name) -> dict | None:
        """Like get(), but None when the object (or its resource type) does not exist."""
        try:
            return self.get(resource, namespace, name)
        except NotFound:
            return None

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
            _keep_status(rtype, obj, current)
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
            else:
                _keep_status(rtype, patched, current)
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
        apply_defaults(resource, obj)
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
        rtype = custom_resource_type(crd)
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
