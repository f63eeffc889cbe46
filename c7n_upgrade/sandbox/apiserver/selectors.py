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
