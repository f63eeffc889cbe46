"""Server-side printing for `kubectl get` (Accept: ...;as=Table): per kind, the columns and cells of
the Kubernetes printers (pkg/printers/internalversion/printers.go); other kinds get NAME and AGE.
Priority-1 columns are the ones `-o wide` adds."""
from __future__ import annotations

import datetime

WIDE = 1


def wants_table(headers) -> bool:
    return "as=Table" in headers.get("Accept", "")


def _seconds_since(timestamp) -> int | None:
    if not timestamp:
        return None
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return max(0, int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()))


def human_duration(seconds: int) -> str:
    """apimachinery's duration.HumanDuration: 45s, 3m20s, 25m, 5h7m, 2d3h, 120d."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days < 365 * 8 else f"{days // 365}y"


def age(timestamp) -> str:
    seconds = _seconds_since(timestamp)
    return "<unknown>" if seconds is None else human_duration(seconds)


def selector_string(selector) -> str:
    """A label selector as kubectl prints it: a map (ReplicationController) or matchLabels/matchExpressions."""
    if not selector:
        return "<none>"
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            terms.append(f"{key} {op.lower()} ({','.join(sorted(values))})")
        else:
            terms.append(key if op == "Exists" else f"!{key}")
    return ",".join(terms) or "<none>"


# -- cells per kind --------------------------------------------------------------------------
def _spec(obj):
    return obj.get("spec") or {}


def _status(obj):
    return obj.get("status") or {}


def _containers_images(obj):
    containers = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _replicas(obj):
    value = _spec(obj).get("replicas")
    return 1 if value is None else value


def _pod_status(pod):
    status = _status(pod)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            reason = state["terminated"].get("reason") or f"ExitCode:{state['terminated'].get('exitCode', 0)}"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_cells(pod):
    statuses = _status(pod).get("containerStatuses") or []
    total = len(_spec(pod).get("containers") or []) or len(statuses)
    ready = sum(1 for s in statuses if s.get("ready"))
    return [f"{ready}/{total}", _pod_status(pod), sum(s.get("restartCount", 0) for s in statuses),
            age(pod["metadata"].get("creationTimestamp")), _status(pod).get("podIP") or "<none>",
            _spec(pod).get("nodeName") or "<none>", _status(pod).get("nominatedNodeName") or "<none>",
            "<none>"]


def _service_ports(svc):
    ports = []
    for p in _spec(svc).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        ports.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


def _external_ip(svc):
    spec, kind = _spec(svc), _spec(svc).get("type", "ClusterIP")
    external = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = (_status(svc).get("loadBalancer") or {}).get("ingress") or []
        external += [i.get("ip") or i.get("hostname") for i in ingress]
        return ",".join(external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "<none>")
    return ",".join(external) or "<none>"


def _job_completions(job):
    spec, succeeded = _spec(job), _status(job).get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism", 1)
    return f"{succeeded}/1 of {parallelism}" if parallelism and parallelism > 1 else f"{succeeded}/1"


def _job_duration(job):
    start = _seconds_since(_status(job).get("startTime"))
    end = _seconds_since(_status(job).get("completionTime"))
    if start is None:
        return ""
    return human_duration(start - (end or 0))


def _event_cells(ev):
    ref = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    count = ev.get("count") or 1
    last_seen = age(last) if count <= 1 else f"{age(last)} (x{count} over {age(first)})"
    source = ev.get("source") or {}
    source_text = ", ".join(v for v in (source.get("component"), source.get("host")) if v) or "<none>"
    return [last_seen, ev.get("type", ""), ev.get("reason", ""), f"{ref.get('kind', '').lower()}/{ref.get('name', '')}",
            ref.get("fieldPath", ""), source_text, ev.get("message", ""), age(first), count,
            ev["metadata"].get("name")]


def _col(name, type_="string", priority=0, fmt=""):
    return (name, type_, priority, fmt)


AGE = _col("Age")
WORKLOAD_WIDE = (_col("Containers", priority=WIDE), _col("Images", priority=WIDE), _col("Selector", priority=WIDE))

# resource key -> (columns after Name, cells(obj) after the name); None columns: Name is not first
PRINTERS = {
    "pods": ((_col("Ready"), _col("Status"), _col("Restarts", "integer"), AGE, _col("IP", priority=WIDE),
              _col("Node", priority=WIDE), _col("Nominated Node", priority=WIDE),
              _col("Readiness Gates", priority=WIDE)), _pod_cells),
    "deployments.apps": ((_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
                          *WORKLOAD_WIDE),
                         lambda o: [f"{_status(o).get('readyReplicas', 0)}/{_replicas(o)}",
                                    _status(o).get("updatedReplicas", 0), _status(o).get("availableReplicas", 0),
                                    age(o["metadata"].get("creationTimestamp")), *_containers_images(o),
                                    selector_string(_spec(o).get("selector"))]),
    "replicasets.apps": ((_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"), AGE,
                          *WORKLOAD_WIDE),
                         lambda o: [_replicas(o), _status(o).get("replicas", 0), _status(o).get("readyReplicas", 0),
                                    age(o["metadata"].get("creationTimestamp")), *_containers_images(o),
                                    selector_string(_spec(o).get("selector"))]),
    "replicationcontrollers": ((_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                                AGE, *WORKLOAD_WIDE),
                               lambda o: [_replicas(o), _status(o).get("replicas", 0),
                                          _status(o).get("readyReplicas", 0),
                                          age(o["metadata"].get("creationTimestamp")), *_containers_images(o),
                                          selector_string(_spec(o).get("selector"))]),
    "statefulsets.apps": ((_col("Ready"), AGE, _col("Containers", priority=WIDE), _col("Images", priority=WIDE)),
                          lambda o: [f"{_status(o).get('readyReplicas', 0)}/{_replicas(o)}",
                                     age(o["metadata"].get("creationTimestamp")), *_containers_images(o)]),
    "daemonsets.apps": ((_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                         _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"), AGE,
                         *WORKLOAD_WIDE),
                        lambda o: [_status(o).get("desiredNumberScheduled", 0),
                                   _status(o).get("currentNumberScheduled", 0), _status(o).get("numberReady", 0),
                                   _status(o).get("updatedNumberScheduled", 0), _status(o).get("numberAvailable", 0),
                                   selector_string(((_spec(o).get("template") or {}).get("spec") or {})
                                                   .get("nodeSelector")),
                                   age(o["metadata"].get("creationTimestamp")), *_containers_images(o),
                                   selector_string(_spec(o).get("selector"))]),
    "services": ((_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                  _col("Selector", priority=WIDE)),
                 lambda o: [_spec(o).get("type", "ClusterIP"), _spec(o).get("clusterIP") or "<none>", _external_ip(o),
                            _service_ports(o), age(o["metadata"].get("creationTimestamp")),
                            selector_string(_spec(o).get("selector"))]),
    "secrets": ((_col("Type"), _col("Data", "integer"), AGE),
                lambda o: [o.get("type", "Opaque"), len(o.get("data") or {}),
                           age(o["metadata"].get("creationTimestamp"))]),
    "configmaps": ((_col("Data", "integer"), AGE),
                   lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                              age(o["metadata"].get("creationTimestamp"))]),
    "jobs.batch": ((_col("Completions"), _col("Duration"), AGE, *WORKLOAD_WIDE),
                   lambda o: [_job_completions(o), _job_duration(o), age(o["metadata"].get("creationTimestamp")),
                              *_containers_images(o), selector_string(_spec(o).get("selector"))]),
    "namespaces": ((_col("Status"), AGE),
                   lambda o: [_status(o).get("phase", "Active"), age(o["metadata"].get("creationTimestamp"))]),
    "customresourcedefinitions.apiextensions.k8s.io": (
        (_col("Created At", "date", fmt="date-time"),), lambda o: [o["metadata"].get("creationTimestamp")]),
    "endpoints": ((_col("Endpoints"), AGE),
                  lambda o: [",".join(f"{a.get('ip')}:{p.get('port')}" for s in o.get("subsets") or []
                                      for a in s.get("addresses") or [] for p in s.get("ports") or []) or "<none>",
                             age(o["metadata"].get("creationTimestamp"))]),
    "leases.coordination.k8s.io": ((_col("Holder"), AGE),
                                   lambda o: [_spec(o).get("holderIdentity", ""),
                                              age(o["metadata"].get("creationTimestamp"))]),
}
# events put LAST SEEN first and their name last (-o wide)
EVENT_COLUMNS = (_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", priority=WIDE),
                 _col("Source", priority=WIDE), _col("Message"), _col("First Seen", priority=WIDE),
                 _col("Count", "integer", WIDE), _col("Name", priority=WIDE, fmt="name"))


def _definitions(columns) -> list[dict]:
    return [{"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}
            for name, type_, priority, fmt in columns]


def _row_object(obj: dict, include: str):
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(rtype, items, resource_version: str, include_object: str = "Metadata") -> dict:
    """A meta.k8s.io/v1 Table of `items`; include_object: None | Metadata (the default) | Object."""
    if rtype.key == "events":
        columns, cells_of = EVENT_COLUMNS, _event_cells
    else:
        extra, cells = PRINTERS.get(rtype.key, ((AGE,), lambda o: [age(o["metadata"].get("creationTimestamp"))]))
        columns = (_col("Name", fmt="name"), *extra)
        cells_of = (lambda o, cells=cells: [o["metadata"].get("name"), *cells(o)])
    rows = []
    for obj in items:
        row = {"cells": cells_of(obj)}
        included = _row_object(obj, include_object)
        if included is not None:
            row["object"] = included
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": _definitions(columns), "rows": rows}
