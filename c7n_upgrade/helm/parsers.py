"""Pure parsers of helm's output (both dialects), testable on golden files."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from .results import HelmParseError


@dataclass(frozen=True)
class ChartVersion:
    name: str  # repo/chart
    version: str
    app_version: str = ""
    description: str = ""


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str  # helm 3 vocabulary, lower case: deployed, failed, pending-upgrade, ...
    chart: str  # name-version
    chart_name: str
    chart_version: str
    app_version: str = ""
    updated: str = ""


#: Helm 2's words where Helm 3 says something else.
_V2_WORDS = {"deleted": "uninstalled", "deleting": "uninstalling"}


def normalize_status(status: Any) -> str:
    """A helm 2 (``DEPLOYED``, ``PENDING_INSTALL``) or helm 3 status as a lower-case helm 3 word."""
    if status is None or status == "":
        return "unknown"
    word = str(status).strip().lower().replace("_", "-")
    return _V2_WORDS.get(word, word)


_SEMVER_RE = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.\-]+)?(?:\+[0-9A-Za-z.\-]+)?$")


def split_chart(chart: str) -> tuple[str, str]:
    """``go-register-server-0.9.0`` -> (``go-register-server``, ``0.9.0``).

    The split is at the first ``-`` whose remainder is a full semantic version (so
    ``foo-0.1.0-beta.1`` keeps its pre-release), else at the last ``-`` followed by a digit.
    """
    positions = [m.start() for m in re.finditer(r"-(?=\d|v\d)", chart)]
    for pos in positions:
        if _SEMVER_RE.match(chart[pos + 1:]):
            return chart[:pos], chart[pos + 1:]
    if positions:
        pos = positions[-1]
        return chart[:pos], chart[pos + 1:]
    return chart, ""


def _load_json(text: str, what: str) -> Any:
    """helm's JSON answer; None when helm printed nothing or ``null`` (no result)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HelmParseError(f"helm {what}: expected JSON, got {text[:200]!r} ({exc})") from None


def parse_version(text: str) -> tuple[int, str]:
    """``Client: v2.17.0+ga690bad`` / ``v3.19.5+g...`` / ``version.BuildInfo{Version:"v3.19"...}``
    -> (major, full version string)."""
    m = re.search(r"\bv(\d+)\.[0-9A-Za-z.+\-]*", text or "")
    if not m:
        raise HelmParseError(f"cannot find a helm version in {text.strip()[:200]!r}")
    return int(m.group(1)), m.group(0)


def parse_list_json(text: str, dialect: int) -> list[Release]:
    """``helm list`` JSON (v3: an array; v2: {"Releases": [...]}, or nothing at all)."""
    data = _load_json(text, "list")
    if data is None:
        return []
    text = text.strip()
    if dialect >= 3:
        if not isinstance(data, list):
            raise HelmParseError(f"helm list: expected a JSON array, got {text[:200]!r}")
        items, keys = data, ("name", "namespace", "revision", "status", "chart", "app_version", "updated")
    else:
        if not isinstance(data, dict):
            raise HelmParseError(f"helm list: expected a JSON object with Releases, got {text[:200]!r}")
        items = data.get("Releases") or []
        keys = ("Name", "Namespace", "Revision", "Status", "Chart", "AppVersion", "Updated")  # Helm 2 capitalises
    out: list[Release] = []
    for item in items:
        name_k, ns_k, rev_k, status_k, chart_k, app_k, updated_k = keys
        chart = str(item.get(chart_k, ""))
        chart_name, chart_version = split_chart(chart)
        out.append(Release(
            name=item[name_k], namespace=item.get(ns_k, ""), revision=int(item.get(rev_k) or 0),
            status=normalize_status(item.get(status_k)), chart=chart, chart_name=chart_name,
            chart_version=chart_version, app_version=str(item.get(app_k) or ""),
            updated=str(item.get(updated_k) or ""),
        ))
    return out


def parse_repo_list(text: str, dialect: int) -> dict[str, str]:
    """`helm repo list`: v3 `-o json` ([{"name","url"}]) or the v2 table (NAME  URL)."""
    if dialect >= 3:
        return {r["name"]: r["url"] for r in (json.loads(text) if text.strip() else [])}
    repos = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            repos[parts[0]] = parts[1]
    return repos


def parse_search_json(text: str, dialect: int) -> list[ChartVersion]:
    """``helm search`` JSON (v3 lower-case keys; v2 capitalised keys, ``null`` for no result)."""
    data = _load_json(text, "search")
    if data is None:
        return []
    if not isinstance(data, list):
        raise HelmParseError(f"helm search: expected a JSON array, got {text.strip()[:200]!r}")
    keys = ("name", "version", "app_version", "description") if dialect >= 3 else \
        ("Name", "Version", "AppVersion", "Description")  # Helm 2 capitalises
    name_k, version_k, app_k, desc_k = keys
    return [ChartVersion(name=item[name_k], version=str(item.get(version_k, "")),
                         app_version=str(item.get(app_k) or ""), description=str(item.get(desc_k) or ""))
            for item in data]


_VALUES_HEADERS = ("USER-SUPPLIED VALUES:", "COMPUTED VALUES:")


def parse_values(text: str) -> dict:
    """``helm get values`` output as a dict: JSON or YAML; ``null``, ``{}`` and nothing -> {}.

    The table form's header line (``USER-SUPPLIED VALUES:``) is tolerated, though the client never
    asks for that form.
    """
    text = (text or "").strip()
    lines = text.splitlines()
    if lines and lines[0].strip() in _VALUES_HEADERS:
        text = "\n".join(lines[1:]).strip()
    if not text or text == "null":
        return {}
    # the messages never quote the output: it holds the release's secrets, not yet known to the redactor
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise HelmParseError(f"helm get values: its output ({len(lines)} line(s)) is neither JSON nor "
                                 f"YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HelmParseError(f"helm get values: expected a mapping, got {type(data).__name__}")
    return data
