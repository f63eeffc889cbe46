"""The sandbox's c7n chart repository: a catalogue built from the plan, index.yaml, .tgz
archives, and render() which turns a chart + values into Kubernetes objects.

PyYAML and the standard library only.
The plan may be a `plan.Plan` model or the plain dict of the plan YAML.
"""
from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from .chart_templates import (DBTOOL_IMAGE, HOOK_ANNOTATION, HOOK_VALUES, IMAGE_REGISTRY, PROBE_TIMING, hook_template,
                              templates)

try:  # the C dumper/loader is much faster; fall back silently
    from yaml import CSafeDumper as _Dumper, CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _Dumper, SafeLoader as _Loader

# when a plan's chart version was published (index.yaml `created`), by major.minor
_CREATED = {"0.8": "2018-07-20T10:00:00.000000000Z", "0.9": "2018-08-24T10:00:00.000000000Z"}
_DEFAULT_CREATED = "2018-08-24T10:00:00.000000000Z"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    service_port: int
    health_port: Optional[int] = None
    hooks: tuple[str, ...] = ()
    description: str = ""

    @property
    def app_version(self) -> str:
        return self.version

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    @property
    def created(self) -> str:
        return _CREATED.get(".".join(self.version.split(".")[:2]), _DEFAULT_CREATED)

    def chart_yaml(self) -> dict:
        return {"apiVersion": "v1", "appVersion": self.app_version,
                "description": self.description or f"Choerodon {self.name}",
                "name": self.name, "version": self.version}

    def values(self) -> dict:
        return default_values(self)

    def templates(self) -> dict[str, str]:
        """{path: Go template text}: what a real helm renders (chart_templates.py)."""
        return templates(self.name, self.service_port, self.health_port, self.hooks)


# -- helpers ---------------------------------------------------------------------------------
def version_key(version: str) -> tuple:
    """Sort key for chart versions: numeric parts compared as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version))


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True)


def load_yaml(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_Loader)


def _field(obj: Any, key: str, default=None):
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def plan_steps(plan: Any) -> list:
    """The steps of a plan model, a plan dict, or a path to a plan YAML."""
    if isinstance(plan, (str, Path)):
        plan = load_yaml(Path(plan).read_text(encoding="utf-8"))
    return list(_field(plan, "steps", []) or [])


# -- catalogue -------------------------------------------------------------------------------
def catalogue(plan: Any) -> list[Chart]:
    """Every chart of the plan at from_version (if any) and at version, newest first per name."""
    charts: dict[tuple[str, str], Chart] = {}
    for step in plan_steps(plan):
        name = _field(step, "chart")
        for version in (_field(step, "from_version"), _field(step, "version")):
            if version:
                charts[(name, str(version))] = Chart(
                    name=name, version=str(version), service_port=int(_field(step, "service_port")),
                    health_port=_field(step, "health_port"), hooks=tuple(_field(step, "hooks") or ()),
                    description=f"Choerodon {name}")
    newest_first = sorted(charts.values(), key=lambda c: version_key(c.version), reverse=True)
    return sorted(newest_first, key=lambda c: c.name)


def default_values(chart: Chart) -> dict:
    """values.yaml of a chart, in the shape of the Choerodon 0.8/0.9 charts."""
    db_name = chart.name.replace("-", "_")
    values: dict[str, Any] = {
        "replicaCount": 1,
        "image": {"repository": f"{IMAGE_REGISTRY}/{chart.name}", "tag": chart.version, "pullPolicy": "Always"},
        "service": {"enabled": True, "name": chart.name, "port": chart.service_port, "type": "ClusterIP"},
        "deployment": {"managementPort": chart.health_port or chart.service_port},
        "env": {"open": {}},
        "logs": {"parser": "spring-boot" if chart.health_port else "nginx"},
        "metrics": {"path": "/prometheus", "group": "spring-boot"},
        "resources": {"limits": {"memory": "2Gi"}, "requests": {"memory": "1Gi"}},
    }
    if chart.health_port:
        values["env"]["open"] = {
            "EUREKA_CLIENT_SERVICEURL_DEFAULTZONE": "http://register-server.io-choerodon:8000/eureka/",
            "SPRING_CLOUD_CONFIG_ENABLED": True,
            "SPRING_CLOUD_CONFIG_URI": "http://config-server.framework:8010/",
            "JAVA_OPTS": "-Xms1024m -Xmx1536m",
        }
    else:  # the front end (nginx)
        values["env"]["open"] = {"PRO_API_HOST": "api.example.choerodon.io", "PRO_CLIENT_ID": "choerodon"}
    if chart.hooks:
        mysql = {"host": "localhost", "port": 3306, "username": "choerodon", "database": db_name}
        values["preJob"] = {"timeout": 300, "image": DBTOOL_IMAGE,
                            "preConfig": {"mysql": dict(mysql, database="manager_service")},
                            "preInitDB": {"mysql": mysql}}
    return values


def deep_merge(base: dict, override: dict, keep_nulls: bool = False) -> dict:
    """Helm's coalescing: maps merge recursively, anything else in `override` wins.

    A null in `override` deletes the key (chart defaults + user values), unless keep_nulls
    (layering user value files, where the null must survive to reach the chart defaults).
    """
    result = copy.deepcopy(base)
    for key, value in override.items():
        if value is None and not keep_nulls:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value, keep_nulls)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- repository ------------------------------------------------------------------------------
def chart_tgz(chart: Chart) -> bytes:
    """A real, deterministic chart archive: <name>/Chart.yaml, values.yaml and the Go templates."""
    files = {"Chart.yaml": dump_yaml(chart.chart_yaml()), "values.yaml": dump_yaml(default_values(chart)),
             **chart.templates()}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{chart.name}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1534406400
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def read_chart_tgz(data: bytes) -> tuple[dict, dict]:
    """(Chart.yaml, values.yaml) of a chart archive."""
    chart_yaml = values = None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] in ("Chart.yaml", "values.yaml"):
                content = load_yaml(tar.extractfile(member).read()) or {}
                if parts[1] == "Chart.yaml":
                    chart_yaml = content
                else:
                    values = content
    if chart_yaml is None:
        raise ValueError("chart archive has no Chart.yaml")
    return chart_yaml, values or {}


def index_yaml(charts: Sequence[Chart], base_url: str) -> str:
    """A helm repository index (apiVersion v1), entries newest first."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    entries: dict[str, list] = {}
    for chart in sorted(charts, key=lambda c: version_key(c.version), reverse=True):
        entry = dict(chart.chart_yaml(), created=chart.created,
                     digest=hashlib.sha256(chart_tgz(chart)).hexdigest(), urls=[base + chart.filename])
        entries.setdefault(chart.name, []).append(entry)
    return dump_yaml({"apiVersion": "v1", "entries": dict(sorted(entries.items())),
                      "generated": _DEFAULT_CREATED})


def repo_handler(charts: Sequence[Chart], base_url: Optional[str] = None):
    """The chart repository's handler (ChartRepoServer) serving index.yaml and the .tgz archives.

    Without `base_url`, chart URLs are built from the Host header and the request path.
    """
    archives = {c.filename: c for c in charts}

    def handler(method, path, query, headers, body):
        name = path.rstrip("/").rsplit("/", 1)[-1] or "index.yaml"
        if method not in ("GET", "HEAD"):
            return 405, {"Content-Type": "text/plain"}, b"method not allowed\n"
        if name == "index.yaml" or path.endswith("/"):
            base = base_url
            if base is None:
                host = next((v for k, v in (headers or {}).items() if k.lower() == "host"), "127.0.0.1")
                prefix = path[: len(path) - len("index.yaml")] if path.endswith("index.yaml") else path
                base = f"http://{host}{prefix if prefix.startswith('/') else '/' + prefix}"
            data = index_yaml(charts, base).encode()
            return 200, {"Content-Type": "application/x-yaml"}, data
        if name in archives:
            return 200, {"Content-Type": "application/x-tar"}, chart_tgz(archives[name])
        return 404, {"Content-Type": "text/plain"}, b"404 page not found\n"

    return handler


# -- render ----------------------------------------------------------------------------------
def env_string(value: Any) -> str:
    """How a value ends up in a container env var (the templates' "service.envValue": `quote`, or
    `toJson | quote` for maps and lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # as Go escapes
    return str(value)


def render(release: str, chart_name: str, chart_version: str, values: dict, namespace: str,
           health_port: Optional[int], service_port: int, hooks: Sequence[str] = ()) -> list[dict]:
    """Deployment + Service + one hook Job per hook, as the chart's templates render
    (chart_templates.py; tests/sandbox/test_chart_templates.py compares the two)."""
    metrics_port = (values.get("deployment") or {}).get("managementPort") or health_port or service_port
    image = values.get("image") or {}
    repo = image.get("repository") or f"{IMAGE_REGISTRY}/{chart_name}"
    tag = image.get("tag") or chart_version
    labels = {"choerodon.io/release": release, "choerodon.io/service": chart_name,
              "choerodon.io/version": str(chart_version), "choerodon.io/metrics-port": str(metrics_port)}
    env_open = ((values.get("env") or {}).get("open")) or {}
    ports = [{"name": "http", "containerPort": service_port, "protocol": "TCP"}]
    if health_port and health_port != service_port:
        ports.append({"name": "management", "containerPort": health_port, "protocol": "TCP"})
    container = {
        "name": release,
        "image": f"{repo}:{tag}",
        "imagePullPolicy": image.get("pullPolicy") or "Always",
        "ports": ports,
        "env": [{"name": k, "value": env_string(v)} for k, v in sorted(env_open.items())],  # Go ranges sorted
        "resources": copy.deepcopy(values.get("resources") or {}),
    }
    if health_port:
        container["readinessProbe"] = {"httpGet": {"path": "/health", "port": health_port}, **PROBE_TIMING}
    metrics = values.get("metrics") or {}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": release, "namespace": namespace,
                     "labels": dict(labels), "annotations": {"choerodon.io/logs-parser": str((values.get("logs") or {}).get("parser", ""))}},
        "spec": {
            "replicas": int(values.get("replicaCount", 1)),
            "selector": {"matchLabels": {"choerodon.io/release": release}},
            "template": {
                "metadata": {"labels": dict(labels),
                             "annotations": {"choerodon.io/metrics-group": str(metrics.get("group", "")),
                                             "choerodon.io/metrics-path": str(metrics.get("path", ""))}},
                "spec": {"containers": [container]},
            },
        },
    }
    service_values = values.get("service") or {}
    port = int(service_values.get("port") or service_port)
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": release, "namespace": namespace, "labels": dict(labels)},
        "spec": {"type": service_values.get("type") or "ClusterIP",
                 "ports": [{"name": "http", "port": port, "targetPort": service_port, "protocol": "TCP"}],
                 "selector": {"choerodon.io/release": release}},
    }
    objects = [deployment, service]
    pre_job = values.get("preJob") or {}
    for hook in hooks:
        section = pre_job.get(HOOK_VALUES.get(hook, "preConfig")) or {}
        mysql = section.get("mysql") or {}
        env = [{"name": f"DB_{k.upper()}", "value": env_string(v)}
               for k, v in sorted(mysql.items()) if k != "password"]
        objects.append({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{release}-{hook}", "namespace": namespace,
                         "labels": {"choerodon.io/release": release, "choerodon.io/service": chart_name},
                         "annotations": {"helm.sh/hook": HOOK_ANNOTATION, "helm.sh/hook-weight": "1"}},
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": int(pre_job.get("timeout") or 300),
                "template": {
                    "metadata": {"name": f"{release}-{hook}"},
                    "spec": {"restartPolicy": "Never", "containers": [{
                        "name": f"tools-{hook}", "image": str(pre_job.get("image") or DBTOOL_IMAGE),
                        "command": ["/bin/sh", "-c", f"echo running {hook} for {chart_name}"], "env": env}]},
                },
            },
        })
    return objects
