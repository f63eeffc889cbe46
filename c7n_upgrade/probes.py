"""What the guide checks after each step, as pure parsers plus thin HTTP helpers.

* Spring Boot 1.5 ``/health`` on the management port: a flat body ``{"status":"UP",...}``, HTTP 503
  when DOWN or OUT_OF_SERVICE (shared/reference/choerodon-facts.md).
* go-register-server's ``/eureka/apps``: ``{"applications":{"application":[{"name","instance":[...]}]}}``
  (always JSON); the guide shows one element of ``application``; a Netflix Eureka answers XML unless
  asked for JSON, and its XML->JSON mapping turns one-element lists into single objects. All of
  these are parsed. What counts is ``metadata.VERSION`` (the pod's ``choerodon.io/version`` label).
* The front end's ``index.html`` (the guide's exact page is the reference).

``Health.up`` is the suite's one health verdict: status UP *and* a 2xx answer (a rollout, the
pre-flight and the post-upgrade proof all use it).

Parsers never raise for a bad health answer (they return status ``INVALID`` with the reason);
the Eureka parser raises :class:`ProbeError` for a body that is no registry listing at all.

XML safety: ``xml.etree.ElementTree`` never fetches external entities (no XXE), and the expat it
uses limits entity expansion; on top of that a body with a ``<!DOCTYPE``/``<!ENTITY`` is refused,
as a registry never sends one. (defusedxml is not a dependency.)
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Iterable, Mapping, Optional

import requests

from .errors import C7nError

HEALTH_WORDS = ("UP", "DOWN", "OUT_OF_SERVICE", "UNKNOWN")


class ProbeError(C7nError):
    """An answer that cannot be understood at all."""


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8", "replace")
    return str(body)


def _excerpt(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


# --------------------------------------------------------------------------------------------
# health


@dataclass
class Health:
    status: str  # UP, DOWN, OUT_OF_SERVICE, UNKNOWN; INVALID (unparseable); UNREACHABLE (no answer)
    code: Optional[int] = None
    body: Optional[dict] = None
    error: Optional[str] = None
    text: str = ""  # the raw body, for the report

    @property
    def up(self) -> bool:
        return self.status == "UP" and (self.code is None or 200 <= self.code < 300)



def parse_health(status_code: Optional[int], body_text: Any) -> Health:
    """A Spring Boot 1.5 ``/health`` answer. Never raises: unusable answers give status INVALID."""
    text = _text(body_text)
    if not text.strip():
        return Health("INVALID", status_code, None, f"empty body (HTTP {status_code})", text)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return Health("INVALID", status_code, None,
                      f"body is not JSON (HTTP {status_code}): {_excerpt(text)}", text)
    if not isinstance(data, dict):
        return Health("INVALID", status_code, None,
                      f"body is not a JSON object (HTTP {status_code}): {_excerpt(text)}", text)
    if "status" not in data:
        return Health("INVALID", status_code, data,
                      f"body has no 'status' field (HTTP {status_code}): {_excerpt(text)}", text)
    status = data["status"]
    if not isinstance(status, str):
        # e.g. Spring's error page {"timestamp":...,"status":404,"error":"Not Found","path":"/health"}
        return Health("INVALID", status_code, data,
                      f"'status' is {status!r}, not a health state (an error page? HTTP {status_code}):"
                      f" {_excerpt(text)}", text)
    status = status.strip().upper()
    error = None
    if status == "UP" and status_code is not None and not 200 <= status_code < 300:
        error = f"status UP but HTTP {status_code}"
    elif status not in HEALTH_WORDS:
        error = f"unknown health state {status!r}"
    return Health(status, status_code, data, error, text)


def down_components(body: Any, limit: int = 160) -> list[str]:
    """The components of a health tree that are not UP, deepest first: ``path STATUS: error`` (Spring
    Boot 1.5 puts components at the top level, Boot 2 under ``components``/``details``). The error is
    its first line, cut at ``limit`` characters."""
    out: list[str] = []

    def walk(node: dict, path: str) -> bool:
        found = False
        for key, child in node.items():
            if not isinstance(child, dict):
                continue
            inner = f"{path}.{key}" if path and key not in ("components", "details") else (path or key)
            if key in ("components", "details"):
                found = walk(child, path) or found
                continue
            status = child.get("status")
            if isinstance(status, str) and status.strip().upper() != "UP":
                if not walk(child, inner):  # a DOWN component whose own parts say nothing more
                    out.append(f"{inner} {status.strip().upper()}" + _error_of(child, limit))
                found = True
        return found

    if isinstance(body, dict):
        walk(body, "")
    return out


def _error_of(component: dict, limit: int) -> str:
    details = component.get("details") if isinstance(component.get("details"), dict) else {}
    error = component.get("error") or details.get("error") or component.get("message") or details.get("message")
    if not error:
        return ""
    line = " ".join(str(error).split("\n", 1)[0].split())
    return ": " + (line[:limit] + "…" if len(line) > limit else line)


def health_cause(health: Health) -> str:
    """Why an answer is not UP, in one line: its DOWN components with their errors, else its status
    and error (no answer, not JSON, ...)."""
    parts = down_components(health.body) if health.body else []
    if parts:
        return f"{health.status} ({'; '.join(parts[:4])}{'; …' if len(parts) > 4 else ''})"
    return f"{health.status}" + (f" [{health.error}]" if health.error else "")


# --------------------------------------------------------------------------------------------
# eureka


@dataclass(frozen=True)
class EurekaInstance:
    app: str
    instance_id: str
    ip: str
    port: Optional[int]
    status: str
    version: Optional[str]  # metadata.VERSION

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}" if self.port is not None else self.ip


def _as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


def _port(value: Any) -> Optional[int]:
    if isinstance(value, dict):
        value = value.get("$", value.get("port"))
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _instance_from_json(item: Any, app_name: str) -> EurekaInstance:
    if not isinstance(item, dict):
        raise ProbeError(f"eureka: an instance is not a JSON object: {_excerpt(json.dumps(item))}")
    metadata = item.get("metadata") or {}
    version = metadata.get("VERSION") if isinstance(metadata, dict) else None
    ip = str(item.get("ipAddr") or item.get("hostName") or "")
    port = _port(item.get("port"))
    app = str(item.get("app") or app_name or "")
    instance_id = str(item.get("instanceId") or f"{ip}:{app}:{port if port is not None else ''}")
    return EurekaInstance(app=app, instance_id=instance_id, ip=ip, port=port,
                          status=str(item.get("status") or "UNKNOWN"),
                          version=None if version is None else str(version))


def _apps_from_json(data: Any) -> list[dict]:
    if not isinstance(data, dict):
        raise ProbeError("not a JSON object")
    if "applications" in data:
        apps = data["applications"]
        if apps in (None, ""):
            return []
        if not isinstance(apps, dict):
            raise ProbeError("'applications' is not an object")
        return _as_list(apps.get("application"))
    if "application" in data:  # GET /eureka/apps/NAME
        return _as_list(data["application"])
    if "instance" in data or "name" in data:  # the guide's single-app shape
        return [data]
    raise ProbeError("no 'applications', 'application' or 'instance' key")


def _parse_eureka_json(text: str) -> list[EurekaInstance]:
    data = json.loads(text)
    out = []
    for app in _apps_from_json(data):
        if not isinstance(app, dict):
            raise ProbeError("an application is not an object")
        name = str(app.get("name") or "")
        for item in _as_list(app.get("instance")):
            out.append(_instance_from_json(item, name))
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element, name: str) -> Optional[ET.Element]:
    for child in elem:
        if _local(child.tag) == name:
            return child
    return None


def _child_text(elem: ET.Element, name: str) -> str:
    child = _child(elem, name)
    return (child.text or "").strip() if child is not None else ""


def _parse_eureka_xml(text: str) -> list[EurekaInstance]:
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise ProbeError("XML with a DOCTYPE/ENTITY declaration is refused")
    root = ET.fromstring(text)
    tag = _local(root.tag)
    if tag == "applications":
        apps = [c for c in root if _local(c.tag) == "application"]
    elif tag == "application":
        apps = [root]
    else:
        raise ProbeError(f"unexpected XML root <{tag}>")
    out = []
    for app in apps:
        name = _child_text(app, "name")
        for inst in (c for c in app if _local(c.tag) == "instance"):
            metadata = _child(inst, "metadata")
            version = _child_text(metadata, "VERSION") if metadata is not None else ""
            ip = _child_text(inst, "ipAddr") or _child_text(inst, "hostName")
            port = _port(_child_text(inst, "port"))
            iname = _child_text(inst, "app") or name
            out.append(EurekaInstance(
                app=iname,
                instance_id=_child_text(inst, "instanceId") or f"{ip}:{iname}:{port if port is not None else ''}",
                ip=ip, port=port,
                status=_child_text(inst, "status") or "UNKNOWN",
                version=version or None,
            ))
    return out


def parse_eureka(body: Any, content_type: Optional[str] = None) -> list[EurekaInstance]:
    """Every instance in a ``/eureka/apps`` answer (JSON, either shape, or XML)."""
    text = _text(body).lstrip("\ufeff")
    stripped = text.strip()
    if not stripped:
        raise ProbeError("eureka: empty answer")
    is_xml = bool(content_type and "xml" in content_type.lower()) or stripped.startswith("<")
    try:
        if is_xml:
            return _parse_eureka_xml(stripped)
        return _parse_eureka_json(stripped)
    except ProbeError as exc:
        raise ProbeError(f"eureka: {exc}; the answer begins with {_excerpt(stripped)}") from None
    except (json.JSONDecodeError, ET.ParseError, ValueError, AttributeError, TypeError) as exc:
        kind = "XML" if is_xml else "JSON"
        raise ProbeError(f"eureka: not a registry listing ({kind}: {exc}); the answer begins with"
                         f" {_excerpt(stripped)}") from None


def eureka_version_problems(instances: Iterable[EurekaInstance], expected: Mapping[str, str]) -> list[str]:
    """Problems with the expected ``{app: VERSION}``: app missing, wrong version, old instance left.

    App names compare case-insensitively (Netflix Eureka upper-cases them)."""
    by_app: dict[str, list[EurekaInstance]] = {}
    for inst in instances:
        by_app.setdefault(inst.app.lower(), []).append(inst)
    problems = []
    for app, version in expected.items():
        found = by_app.get(app.lower(), [])
        if not found:
            known = ", ".join(sorted({i.app for insts in by_app.values() for i in insts})) or "none"
            problems.append(f"{app}: not registered in Eureka (registered apps: {known})")
            continue
        on_target = [i for i in found if i.version == str(version)]
        others = [i for i in found if i.version != str(version)]
        if not on_target:
            seen = ", ".join(sorted({str(i.version) for i in found}))
            problems.append(f"{app}: VERSION is {seen}, expected {version}"
                            f" ({len(found)} instance(s): {', '.join(i.address for i in found)})")
        elif others:
            olds = ", ".join(f"{i.address} VERSION {i.version}" for i in others)
            problems.append(f"{app}: {len(others)} instance(s) not on {version} still registered: {olds}")
        for inst in found:
            if inst.status.upper() != "UP":
                problems.append(f"{app}: instance {inst.address} has status {inst.status}")
    return problems


# --------------------------------------------------------------------------------------------
# front page


class _FrontParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.titles: list[str] = []
        self._in_title = False
        self.app_divs = 0
        self.app_div_children = 0
        self._app_depth = 0
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs_d = {k.lower(): (v or "") for k, v in attrs}
        if self._app_depth:
            self.app_div_children += 1
            if tag == "div":
                self._app_depth += 1
        if tag == "title":
            self._in_title = True
            self.titles.append("")
        elif tag == "div" and attrs_d.get("id") == "app" and not self._app_depth:
            self.app_divs += 1
            self._app_depth = 1
        elif tag == "script" and attrs_d.get("src"):
            self.scripts.append(attrs_d["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "div" and self._app_depth:
            self._app_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title and self.titles:
            self.titles[-1] += data


def check_front_html(status_code: Optional[int], html: Any) -> list[str]:
    """Problems with the front end's index page; [] when it is the guide's page (or like it)."""
    problems = []
    if status_code != 200:
        problems.append(f"HTTP {status_code}, expected 200")
    text = _text(html)
    if not text.strip():
        problems.append("empty page")
        return problems
    parser = _FrontParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser is lenient; this is a safety net
        problems.append(f"cannot parse the HTML: {exc}")
        return problems
    titles = [t.strip() for t in parser.titles]
    if "Choerodon" not in titles:
        got = f"title {titles[0]!r}" if titles else "no <title>"
        problems.append(f"missing <title>Choerodon</title> ({got})")
    if not parser.app_divs:
        problems.append('missing <div id="app"></div> (the mount point of the front end)')
    js = [s for s in parser.scripts if re.search(r"\.js(\?.*)?$", s)]
    if not js:
        problems.append("no <script src=...js> (the front end's bundle is not referenced)")
    return problems


# --------------------------------------------------------------------------------------------
# HTTP


def parse_info_version(status_code: Optional[int], body_text: Any) -> Optional[str]:
    """The version a Spring Boot 1.5 ``/info`` states (``build.version``, or ``app.version``); None
    when the service states none (no build info, 404, not JSON): nothing to compare then."""
    if status_code is None or not 200 <= status_code < 300:
        return None
    try:
        data = json.loads(_text(body_text))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for section in ("build", "app"):
        part = data.get(section)
        if isinstance(part, dict) and isinstance(part.get("version"), (str, int, float)) and str(part["version"]):
            return str(part["version"])
    return None


def get_health(url: str, timeout: float = 10.0) -> Health:
    """GET a ``/health`` URL. No answer gives status UNREACHABLE (never an exception)."""
    try:
        resp = requests.get(url, timeout=timeout, headers={"Accept": "application/json"}, allow_redirects=False)
    except requests.RequestException as exc:
        return Health("UNREACHABLE", None, None, f"GET {url}: {type(exc).__name__}: {exc}", "")
    return parse_health(resp.status_code, resp.text)
