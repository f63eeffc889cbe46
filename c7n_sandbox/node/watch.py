"""A list-then-watch loop through the official client, as client-go's reflector does: list, watch
from the list's resourceVersion, list again when the watch expires (410) or fails."""
from __future__ import annotations

import json
import threading

from kubernetes.watch.watch import iter_resp_lines


def watch(list_call, on_list, on_event, stop: threading.Event, log, what: str, **params) -> None:
    """Until `stop`: on_list(items) after each list, on_event(type, obj) for each ADDED/MODIFIED/DELETED."""
    while not stop.is_set():
        try:
            listed = json.loads(list_call(_preload_content=False, _request_timeout=30, **params).data)
            version = listed["metadata"]["resourceVersion"]
            on_list(listed["items"])
            while not stop.is_set():
                response = list_call(watch=True, resource_version=version, timeout_seconds=5,
                                     allow_watch_bookmarks=True, _preload_content=False, _request_timeout=15, **params)
                expired = False
                for line in iter_resp_lines(response):
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # 410 Gone: list again
                        expired = True
                        break
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        on_event(event["type"], event["object"])
                response.release_conn()
                if expired:
                    break
        except Exception as exc:  # noqa: BLE001 - the API server restarting, a timeout: list again
            if not stop.is_set():
                log(f"node: watching {what}: {exc!r}")
                stop.wait(1)


def start_thread(target, name: str, threads: list) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    threads.append(thread)
    return thread
