"""Watch streams (?watch=true): the current objects as ADDED when the watch starts from resourceVersion
0 or none, then every change as a JSON line, until timeoutSeconds or the server stops."""
from __future__ import annotations

import json
import queue
import threading
import time

from .resources import present
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector

WATCH_DEFAULT_TIMEOUT = 300


class Stream:
    """A chunked response body."""

    def __init__(self, chunks):
        self.chunks = chunks


def watch(store, rtype, version, namespace, query, stopping: threading.Event, render=None) -> Stream:
    """render(obj) -> what an event carries (a Table row for `kubectl get -w`); default the object."""
    labels = parse_label_selector(query.get("labelSelector"))
    fields = parse_field_selector(query.get("fieldSelector"))
    timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT)
    events = queue.Queue()

    def matches(obj):
        return ((namespace is None or obj["metadata"].get("namespace") == namespace)
                and labels_match(obj["metadata"].get("labels"), labels) and fields_match(obj, fields))

    def on_change(event, resource, obj):
        if resource == rtype.key and matches(obj):
            events.put((event, obj))

    store.subscribe(on_change)
    initial = []
    since = query.get("resourceVersion", "0")
    if since in ("", "0"):
        initial = store.list(rtype.key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
    elif since.isdigit():
        # catch up (until issue 12's event history): objects changed after `since` (list, then watch,
        # must not lose a change made in between; deletions in between are still lost)
        changed = [o for o in store.list(rtype.key, namespace, query.get("labelSelector"), query.get("fieldSelector"))
                   if int(o["metadata"].get("resourceVersion", 0)) > int(since)]
        initial = sorted(changed, key=lambda o: int(o["metadata"]["resourceVersion"]))
    caught_up = {o["metadata"].get("uid"): int(o["metadata"]["resourceVersion"]) for o in initial}

    def line(event, obj):
        shown = render(obj) if render else present(rtype, version, obj)
        return json.dumps({"type": event, "object": shown}).encode() + b"\n"

    def chunks():
        try:
            for obj in initial:
                yield line("ADDED" if since in ("", "0") else "MODIFIED", obj)
            deadline = time.monotonic() + timeout
            while not stopping.is_set() and time.monotonic() < deadline:
                try:
                    event, obj = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                if int(obj["metadata"].get("resourceVersion") or 0) <= caught_up.get(obj["metadata"].get("uid"), 0) \
                        and event != "DELETED":
                    continue   # already sent by the catch-up
                yield line(event, obj)
        finally:
            store.unsubscribe(on_change)

    return Stream(chunks())
