"""Watch streams (?watch=true), as the real server's watch cache serves them:

- no resourceVersion or "0": the current objects as ADDED, then every change;
- resourceVersion=RV: every change after RV, in order, from the store's history; older than the
  history: one ERROR event with a 410 Expired Status (clients re-list);
- an object that starts or stops matching the selectors arrives as ADDED or DELETED;
- allowWatchBookmarks=true: BOOKMARK events (2 s before the timeout, then every bookmark interval);
  sendInitialEvents=true: the initial-events-end bookmark after the current objects;
- the stream ends at timeoutSeconds, when the client leaves, or when the server stops.
"""
from __future__ import annotations

import copy
import json
import random
import threading
import time
from typing import Callable

from .errors import BadRequest, Expired, status_object
from .resources import present
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector

IDLE_TICK = 0.25                 # how often an idle stream looks at the clock, the client and the server
DEFAULT_TIMEOUT = (1800, 3600)   # like --min-request-timeout: a random time in this range
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class Stream:
    """A chunked response body: an iterator of chunks, closed when the response ends."""

    def __init__(self, chunks):
        self.chunks = chunks


def watch(store, rtype, version, namespace, query, stopping: threading.Event,
          client_gone: Callable[[], bool] = lambda: False, bookmark_interval: float = 60.0,
          render: Callable[[dict], dict] | None = None) -> Stream:
    """render(obj) -> what an event carries (a one-row Table for `kubectl get -w`); default the object."""
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"), rtype)
    try:             # 0 or none: the server's own (a random time, as --min-request-timeout gives)
        timeout = float(query.get("timeoutSeconds") or 0) or random.uniform(*DEFAULT_TIMEOUT)
    except ValueError:
        raise BadRequest(f"invalid timeoutSeconds: {query.get('timeoutSeconds')!r}") from None
    since = _since(query.get("resourceVersion"), query.get("sendInitialEvents"))
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    try:
        start, watcher = store.watch(rtype.key, since)
    except Expired as exc:
        return Stream(iter([_line("ERROR", status_object(exc.code, exc.reason, exc.message))]))

    def matches(obj):
        return obj is not None and ((namespace is None or obj["metadata"].get("namespace") == namespace)
                                    and labels_match(obj["metadata"].get("labels"), labels)
                                    and fields_match(obj, fields))

    def event(change):
        """The event this watch sends for a change (None: nothing to send)."""
        now, before = matches(change.obj), change.old is not None and matches(change.old)
        if change.type == "DELETED":
            kind = "DELETED" if before else None
        elif change.type == "ADDED" or (now and not before):
            kind = "ADDED" if now else None
        else:
            kind = "MODIFIED" if now else "DELETED" if before else None
        if kind is None:
            return None
        obj = copy.deepcopy(change.obj)                                           # leaving: its new state
        return _line(kind, render(obj) if render else present(rtype, version, obj))

    def bookmark(rv, annotations=None):
        meta = {"resourceVersion": rv, **({"annotations": annotations} if annotations else {})}
        return _line("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version(version), "metadata": meta})

    def chunks():
        try:
            delivered = since or 0
            for change in start:
                line = event(change)
                delivered = max(delivered, change.rv)
                if line:
                    yield line
            if since is None and query.get("sendInitialEvents") in ("true", "1"):
                yield bookmark(store.quiet_resource_version(watcher) or str(delivered), {INITIAL_EVENTS_END: "true"})
            began = time.monotonic()
            deadline = began + timeout
            next_bookmark = max(began, min(began + bookmark_interval, deadline - 2))
            while not stopping.is_set() and not watcher.overflowed and time.monotonic() < deadline:
                change = watcher.get(IDLE_TICK)
                if change is not None:
                    if change.rv > delivered:
                        delivered = change.rv
                        line = event(change)
                        if line:
                            yield line
                    continue
                if client_gone():
                    return
                if bookmarks and time.monotonic() >= next_bookmark:
                    rv = store.quiet_resource_version(watcher)
                    if rv is not None:
                        yield bookmark(rv)
                        next_bookmark = time.monotonic() + bookmark_interval
        finally:
            store.unwatch(watcher)

    return Stream(chunks())


def _since(resource_version, send_initial_events):
    """None: start from the current objects; else the resourceVersion to resume after."""
    if send_initial_events in ("true", "1") or resource_version in (None, "", "0"):
        return None
    try:
        rv = int(resource_version)
    except ValueError:
        raise BadRequest(f'resourceVersion: Invalid value: "{resource_version}": '
                         f'strconv.ParseUint: parsing "{resource_version}": invalid syntax') from None
    if rv < 0:
        raise BadRequest(f'resourceVersion: Invalid value: "{resource_version}": must be non-negative')
    return rv


def _line(event_type: str, obj: dict) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
