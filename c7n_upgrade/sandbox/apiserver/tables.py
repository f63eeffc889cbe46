"""Server-side printing for `kubectl get` (Accept: ...;as=Table): the columns and cells per kind."""
from __future__ import annotations

import datetime


def wants_table(headers) -> bool:
    return "as=Table" in headers.get("Accept", "")


def age(timestamp) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    seconds = max(0, int((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(rtype, items, resource_version: str) -> dict:
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    if rtype.key == "pods":
        columns += [{"name": n, "type": t, "format": "", "description": n, "priority": p}
                    for n, t, p in (("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "integer", 0))]
    columns.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    if rtype.key == "pods":
        columns.append({"name": "IP", "type": "string", "format": "", "description": "IP", "priority": 1})
    rows = []
    for obj in items:
        meta = obj.get("metadata", {})
        cells = [meta.get("name")]
        status = obj.get("status") or {}
        if rtype.key == "pods":
            statuses = status.get("containerStatuses") or []
            total = len((obj.get("spec") or {}).get("containers") or []) or len(statuses)
            ready = sum(1 for s in statuses if s.get("ready"))
            cells += [f"{ready}/{total}", status.get("phase", "Pending"),
                      sum(s.get("restartCount", 0) for s in statuses)]
        cells.append(age(meta.get("creationTimestamp")))
        if rtype.key == "pods":
            cells.append(status.get("podIP", "<none>"))
        rows.append({"cells": cells, "object": obj})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}
