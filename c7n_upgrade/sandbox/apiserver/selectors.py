"""Label selectors (equality and set-based) and field selectors."""
from __future__ import annotations

import re

from .errors import BadRequest


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


# the field labels each kind supports (k8s.io/kubernetes pkg/apis/*/v1 conversion.go), with the path a
# label reads and its value when the field is missing; every other kind: metadata.name and .namespace
_META = {"metadata.name": ("metadata.name", ""), "metadata.namespace": ("metadata.namespace", "")}
FIELD_LABELS = {
    "pods": {**_META, **{f: (f, "") for f in ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                               "spec.serviceAccountName", "status.phase", "status.podIP",
                                               "status.nominatedNodeName")},
             "spec.hostNetwork": ("spec.hostNetwork", "false"), "status.podIPs": ("status.podIP", ""),
             "spec.host": ("spec.nodeName", "")},
    "nodes": {"metadata.name": ("metadata.name", ""), "spec.unschedulable": ("spec.unschedulable", "false")},
    "namespaces": {"metadata.name": ("metadata.name", ""), "status.phase": ("status.phase", "")},
    "secrets": {**_META, "type": ("type", "")},
    "services": {**_META, "spec.clusterIP": ("spec.clusterIP", ""), "spec.type": ("spec.type", "")},
    "events": {**_META, **{f: (f, "") for f in (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "type")}, "source": ("source.component", "")},
    "replicationcontrollers": {**_META, "status.replicas": ("status.replicas", "0")},
    "replicasets.apps": {**_META, "status.replicas": ("status.replicas", "0")},
    "jobs.batch": {**_META, "status.successful": ("status.succeeded", "0")},
}


def parse_field_selector(selector, rtype=None) -> list[tuple]:
    """Parse `a.b=c,d!=e` into (path, op, value, default) terms. With the resource type, a label the
    kind does not support is a 400 BadRequest, as the real server answers it."""
    if not selector:
        return []
    if isinstance(selector, dict):
        return [(k, "=", str(v), "") for k, v in selector.items()]
    labels = None
    if rtype is not None:
        labels = FIELD_LABELS.get(rtype.key, _META if rtype.namespaced else {"metadata.name": ("metadata.name", "")})
    parsed = []
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        m = re.match(r"^([\w.]+)\s*(==|!=|=)\s*(.*)$", term)
        if not m:
            raise BadRequest(f"invalid selector: '{selector}'; can't understand '{term}'")
        label = m.group(1)
        if labels is not None and label not in labels:
            raise BadRequest(f"field label not supported: {label}")
        path, default = labels[label] if labels is not None else (label, "")
        parsed.append((path, "!=" if m.group(2) == "!=" else "=", m.group(3), default))
    return parsed


def fields_match(obj: dict, terms: list[tuple]) -> bool:
    for path, op, value, default in terms:
        current = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        actual = default if current is None else str(current).lower() if isinstance(current, bool) else str(current)
        if (actual == value) != (op == "="):
            return False
    return True
