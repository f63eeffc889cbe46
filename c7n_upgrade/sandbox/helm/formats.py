"""Helm's encodings: time formats, YAML and JSON output, uitable tables."""
from __future__ import annotations

import calendar
import json
import time
from typing import Any

import yaml

from c7n_upgrade.sandbox import charts as chartlib


def ansic(ts: float) -> str:
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(ts))


def go_time_string(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_rfc3339(text: str) -> float:
    if not text:
        return 0.0
    return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))


def go_layout(layout: str) -> str:
    """Translate the common parts of a Go time layout to strftime."""
    for go, py in (("2006", "%Y"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("04", "%M"), ("05", "%S"),
                   ("Jan", "%b"), ("Mon", "%a"), ("MST", "UTC"), ("-0700", "+0000")):
        layout = layout.replace(go, py)
    return layout


def to_yaml(data: Any) -> str:
    if data is None or data == {}:
        return "{}\n"
    return yaml.dump(data, Dumper=chartlib._Dumper, default_flow_style=False, sort_keys=True,
                     allow_unicode=True, width=1 << 30)


def to_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


def table(rows: list[list[str]], max_col_width: int = 0) -> str:
    """gosuri/uitable as helm uses it: every cell padded to its column width, tab-separated."""
    def cell(text: str) -> str:
        if max_col_width and len(text) > max_col_width:
            return text[: max_col_width - 3] + "..."
        return text
    rows = [[cell(str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join("\t".join(c.ljust(w) for c, w in zip(row, widths)) + "\n" for row in rows)
