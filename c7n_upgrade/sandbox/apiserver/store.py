"""In-memory Kubernetes object store for the sandbox (thread-safe, watchable).

Resources are keyed by plural and group: "pods", "deployments.apps", "jobs.batch",
"customresourcedefinitions.apiextensions.k8s.io", ... A CRD adds its custom resource
("<plural>.<group>") to the known resource types while it exists.

Semantics kept from the real API server:
- server-set metadata: uid, resourceVersion (one global increasing counter, shared by lists and
  watches), creationTimestamp (RFC 3339, 'Z'), namespace, generation (bumped on spec change);
- a bounded history of changes (history.py): watches resume from a resourceVersion, continue tokens
  page through the list as it was; older than the history -> 410 Expired;
- preconditions: a uid (or resourceVersion) that does not match the stored object -> 409 Conflict;
- objects live in a namespace that must exist (the defaults exist from the start);
- replace/patch of the main resource never changes `status` of a resource that has a
  status subresource; update_status changes only `status`;
- Secrets: `stringData` is folded into base64 `data` on write;
- Services get `spec.clusterIP` from 127.10.0.0/16 when not set, and `status.loadBalancer: {}`.
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

from typing import NamedTuple, Optional

from .defaults import apply_defaults, default_pod
from .errors import AlreadyExists, BadRequest, Conflict, Invalid, NotFound
from .history import Change, History, Watcher
from .pagination import decode_continue, encode_continue
from .patches import PATCH_FUNCTIONS
from .resources import BUILTIN_TYPES, CRD_KEY, ResourceType, custom_resource_type, default_crd, now_rfc3339
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector

log = logging.getLogger(__name__)


DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "choerodon-devops-prod")
HISTORY_SIZE = 5000     # changes kept for watches and continue tokens (the real watch cache keeps minutes)


class Page(NamedTuple):
    """One answer to a list: the items, the list's resourceVersion, and where the next page starts."""
    items: list
    resource_version: str
    continue_token: str = ""
    remaining: Optional[int] = None


def sort_key(key: tuple) -> str:
    """The order of a list: by the storage key, namespace/name (as etcd sorts its keys)."""
    ns, name = key
    return f"{ns}/{name}" if ns else name


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
    def __init__(self, namespaces=DEFAULT_NAMESPACES, history_size: int = HISTORY_SIZE):
        self._lock = threading.RLock()
        self._history = History(history_size)
        self._watchers: list[Watcher] = []
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
        return self.list_page(resource, namespace, label_selector, field_selector).items

    def list_page(self, resource, namespace=None, label_selector=None, field_selector=None,
                  limit: int = 0, continue_token: str = "") -> Page:
        """A list (of at most `limit` items when > 0), from where `continue_token` says, as the
        objects were at the token's resourceVersion. 410 Expired when that is older than the history."""
        rtype = self.resource_type(resource)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rtype)
        start = ""
        with self._lock:
            if continue_token:
                rv, start = decode_continue(continue_token)
                objects = self._history.state_at(rv, resource, self._objects[resource])
            else:
                rv, objects = self._last_rv, self._objects[resource]
            keys = sorted((k for k in objects if sort_key(k) >= start), key=sort_key)
            matched = [objects[k] for k in keys
                       if (namespace is None or not rtype.namespaced or k[0] == namespace)
                       and labels_match(objects[k]["metadata"].get("labels"), labels)
                       and fields_match(objects[k], fields)]
            items = copy.deepcopy(matched[:limit] if limit > 0 else matched)
        if not (0 < limit < len(matched)):
            return Page(items, str(rv))
        last = items[-1]["metadata"]
        token = encode_continue(rv, sort_key((last.get("namespace", ""), last["name"])) + "\x00")
        remaining = None if labels or fields else len(matched) - limit
        return Page(items, str(rv), token, remaining)

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
    def update_status(self, resource, namespace, name, status, resource_version=None, uid=None,
                      dry_run=False) -> dict:
        """Replace only `status`; Conflict if resource_version or uid is given and does not match."""
        rtype = self.resource_type(resource)
        with self._lock:
            current = self._current(resource, self._ns(rtype, namespace), name)
            obj = copy.deepcopy(current)
            obj["status"] = copy.deepcopy(status)
            if resource_version:
                obj["metadata"]["resourceVersion"] = resource_version
            if uid:
                obj["metadata"]["uid"] = uid
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
    def delete(self, resource, namespace, name, dry_run=False, preconditions: Optional[dict] = None) -> dict:
        """preconditions: DeleteOptions.preconditions ({uid, resourceVersion}); 409 when one does not hold."""
        rtype = self.resource_type(resource)
        with self._lock:
            ns = self._ns(rtype, namespace)
            obj = self._current(resource, ns, name)
            _check_delete_preconditions(rtype, obj, preconditions or {})
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

    def watch(self, resource, since: Optional[int]) -> tuple[list, Watcher]:
        """Start watching `resource`, atomically with what the watch starts from: the current objects
        (as ADDED changes) when `since` is None, else the changes after resourceVersion `since`
        (410 Expired when the history no longer reaches back to it). Close with unwatch()."""
        self.resource_type(resource)
        with self._lock:
            if since is None:
                start = [Change(int(o["metadata"]["resourceVersion"]), "ADDED", resource, k, o, None)
                         for k, o in sorted(self._objects[resource].items(), key=lambda item: sort_key(item[0]))]
            else:
                start = self._history.since(since, resource)
            watcher = Watcher(resource)
            self._watchers.append(watcher)
            return start, watcher

    def unwatch(self, watcher: Watcher) -> None:
        with self._lock:
            watcher.closed = True
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def quiet_resource_version(self, watcher: Watcher) -> Optional[str]:
        """The current resourceVersion when `watcher` has nothing pending (what a bookmark may carry)."""
        with self._lock:
            return str(self._last_rv) if watcher.idle() else None

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
        if meta.get("uid") and meta["uid"] != cur_meta["uid"]:
            raise Conflict(f'Operation cannot be fulfilled on {resource} "{name}": StorageError: invalid object, '
                           f"Code: 4, Key: {_storage_key(rtype, cur_meta)}, ResourceVersion: 0, AdditionalErrorMsg: "
                           f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: "
                           f"{cur_meta['uid']}", resource, name)
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
            if not obj.get("status"):
                obj["status"] = {"loadBalancer": {}}
        elif resource == "pods":
            default_pod(obj, created=current is None)
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
        old = self._objects[resource].get(key)
        self._objects[resource][key] = obj
        if resource == CRD_KEY:
            self._register_crd(obj)
        self._record(Change(rv, event, resource, key, obj, old))

    def _remove(self, resource, key):
        old = self._objects[resource].pop(key)
        rv = next(self._rv)
        self._last_rv = rv
        if resource == CRD_KEY:
            self._unregister_crd(old)
        last = copy.deepcopy(old)             # a DELETED event carries the deletion's resourceVersion
        last["metadata"]["resourceVersion"] = str(rv)
        self._record(Change(rv, "DELETED", resource, key, last, old))

    def _record(self, change: Change):
        """Under the lock: into the history, to the resource's watchers, and queued for subscribers."""
        self._history.append(change)
        for watcher in self._watchers:
            if watcher.resource == change.resource:
                watcher.push(change)
        self._watchers = [w for w in self._watchers if not w.overflowed]
        self._events.append((change.type, change.resource, copy.deepcopy(change.obj)))

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


def _check_delete_preconditions(rtype, obj, preconditions: dict) -> None:
    """What rest.BeforeDelete answers: 409 on the object's kind when a precondition does not hold."""
    meta, qualified = obj["metadata"], f"{rtype.kind}.{rtype.group}" if rtype.group else rtype.kind
    uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid is not None and uid != meta.get("uid"):
        raise Conflict(f'Operation cannot be fulfilled on {qualified} "{meta["name"]}": the UID in the precondition '
                       f"({uid}) does not match the UID in record ({meta.get('uid')}). The object might have been "
                       "deleted and then recreated", qualified, meta["name"])
    if rv is not None and rv != meta.get("resourceVersion"):
        raise Conflict(f'Operation cannot be fulfilled on {qualified} "{meta["name"]}": the ResourceVersion in the '
                       f"precondition ({rv}) does not match the ResourceVersion in record "
                       f"({meta.get('resourceVersion')}). The object might have been modified", qualified, meta["name"])


def _storage_key(rtype, meta) -> str:
    """The object's etcd key, as storage errors name it."""
    prefix = {"services": "services/specs", "endpoints": "services/endpoints"}.get(rtype.key, rtype.plural)
    if rtype.group and rtype.key not in {t.key for t in BUILTIN_TYPES}:
        prefix = f"{rtype.group}/{rtype.plural}"
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"/registry/{prefix}/{ns}{meta['name']}"
