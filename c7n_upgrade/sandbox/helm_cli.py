"""The sandbox `helm` executable: speaks the Helm 2 or Helm 3 CLI (shared/reference/helm-cli-contract.md).

Run as `python -m c7n_upgrade.sandbox.helm_cli ARGS...` with C7N_SANDBOX_DIR=D. Reads D/sandbox.json
(api_url, namespace, helm_dialect, chart_repo_url, plan, tiller_namespace) and D/faults.json; talks to
the sandbox API server over plain Kubernetes REST; appends one line per call to D/helm-calls.jsonl.

Releases are stored where real helm stores them:
  v3: Secret  sh.helm.release.v1.NAME.vN in the release namespace, type helm.sh/release.v1,
      data.release = base64(gzip(JSON))  (base64 once more in the Secret's data, as in Kubernetes);
  v2: ConfigMap NAME.vN in the Tiller namespace, data.release = base64(gzip(JSON)).
      Deviation: real Tiller stores protobuf; we store the protobuf's JSON mapping.
Start-up time matters (about 50 calls per run): standard library + PyYAML only.
"""
from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from c7n_upgrade.sandbox import charts as chartlib
from c7n_upgrade.sandbox.faults import load_faults, fault_for
from c7n_upgrade.sandbox.kubeapi import KubeApi, KubeApiError

V2_VERSION, V2_COMMIT = "v2.17.0", "a690bad98af45b015bd3da1a41f6218b1a451dbe"
V3_VERSION, V3_COMMIT, V3_GO = "v3.19.5", "b3e6e4d0a61b9b1f62b36d4a0e1f5a2c7d98e3f1", "go1.24.11"  # sandbox build id
CALLS_FILE = "helm-calls.jsonl"
V2_STATUS_CODES = {"unknown": 0, "deployed": 1, "deleted": 2, "superseded": 3, "failed": 4, "deleting": 5,
                   "pending-install": 6, "pending-upgrade": 7, "pending-rollback": 8, "uninstalled": 2,
                   "uninstalling": 5}
V2_CODE_NAMES = {0: "UNKNOWN", 1: "DEPLOYED", 2: "DELETED", 3: "SUPERSEDED", 4: "FAILED", 5: "DELETING",
                 6: "PENDING_INSTALL", 7: "PENDING_UPGRADE", 8: "PENDING_ROLLBACK"}


class HelmError(Exception):
    """Printed as `Error: <message>` on stderr; exit 1."""


# =============================================================================================
# small utilities: time formats, YAML/JSON output, tables
# =============================================================================================
def ansic(ts: float) -> str:
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(ts))


def go_time_string(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_rfc3339(text: str) -> float:
    if not text:
        return 0.0
    import calendar
    return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))


def to_yaml(data: Any) -> str:
    if data is None or data == {}:
        return "{}\n"
    import yaml
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


def go_duration_seconds(text: str) -> float:
    """Parse a Go duration (`300s`, `5m`, `1h30m`, `1.5s`)."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    if text in ("0", ""):
        return 0.0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("+"):
        if re.fullmatch(r"\d+(\.\d*)?", text):
            raise ValueError(f'time: missing unit in duration "{text}"')
        raise ValueError(f'time: invalid duration "{text}"')
    return sum(float(n) * units[u] for n, u in parts)


# =============================================================================================
# --set parsing (pkg/strvals)
# =============================================================================================
def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` outside {..} lists, keeping backslash escapes for the next stage."""
    parts, buf, depth, i = [], [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _typed(text: str, as_string: bool) -> Any:
    if as_string:
        return text
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", text):
        return int(text)
    return text


def parse_set(expr: str, target: dict, as_string: bool = False) -> dict:
    """Apply one --set / --set-string argument (comma-separated key=value pairs) to `target`."""
    for item in _split_unescaped(expr, ","):
        if item == "":
            continue
        key_part, eq, value_part = None, False, ""
        # find the first unescaped '='
        i = 0
        while i < len(item):
            if item[i] == "\\":
                i += 2
                continue
            if item[i] == "=":
                key_part, value_part, eq = item[:i], item[i + 1:], True
                break
            i += 1
        if not eq:
            raise HelmError(f"failed parsing --set data: key \"{_unescape(item)}\" has no value")
        keys = [_unescape(k) for k in _split_key(key_part)]
        if value_part.startswith("{") and value_part.endswith("}"):
            value = [_typed(_unescape(v), as_string) for v in _split_unescaped(value_part[1:-1], ",") if v != ""]
        else:
            value = _typed(_unescape(value_part), as_string)
        node = target
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    return target


def _split_key(key: str) -> list[str]:
    parts, buf, i = [], [], 0
    while i < len(key):
        if key[i] == "\\" and i + 1 < len(key):
            buf.append(key[i:i + 2])
            i += 2
            continue
        if key[i] == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(key[i])
        i += 1
    parts.append("".join(buf))
    return parts


# =============================================================================================
# flags (a small pflag)
# =============================================================================================
@dataclass
class Flag:
    name: str
    kind: str = "str"          # str | bool | int | list | csv (comma-split list) | opt (optional value)
    short: str = ""
    default: Any = None
    no_opt: str = ""           # value for kind "opt" given without "="


def parse_flags(args: list[str], flags: list[Flag]) -> tuple[dict, list[str]]:
    by_name = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    opts = {f.name: (list(f.default or []) if f.kind in ("list", "csv") else f.default) for f in flags}
    positional: list[str] = []

    def store(flag: Flag, value: Optional[str], label: str):
        if flag.kind == "bool":
            if value not in ("true", "false", "1", "0", "True", "False"):
                raise HelmError(f'invalid argument "{value}" for "{label}" flag: strconv.ParseBool: parsing "{value}": invalid syntax')
            opts[flag.name] = value in ("true", "1", "True")
        elif flag.kind == "int":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise HelmError(f'invalid argument "{value}" for "{label}" flag: strconv.ParseInt: parsing "{value}": invalid syntax')
            opts[flag.name] = int(value)
        elif flag.kind == "list":
            opts[flag.name].append(value)
        elif flag.kind == "csv":
            opts[flag.name].extend(v for v in value.split(",") if v)
        else:
            opts[flag.name] = value

    def label_of(flag: Flag) -> str:
        return f"-{flag.short}, --{flag.name}" if flag.short else f"--{flag.name}"

    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            flag = by_name.get(name)
            if flag is None:
                raise HelmError(f"unknown flag: --{name}")
            if eq:
                store(flag, value, label_of(flag))
            elif flag.kind == "bool":
                opts[flag.name] = True
            elif flag.kind == "opt":
                opts[flag.name] = flag.no_opt
            elif i < len(args):
                store(flag, args[i], label_of(flag))
                i += 1
            else:
                raise HelmError(f"flag needs an argument: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            chars = arg[1:]
            while chars:
                ch, chars = chars[0], chars[1:]
                flag = by_short.get(ch)
                if flag is None:
                    raise HelmError(f"unknown shorthand flag: '{ch}' in {arg}")
                if chars.startswith("="):
                    store(flag, chars[1:], label_of(flag))
                    break
                if flag.kind == "bool":
                    opts[flag.name] = True
                    continue
                if flag.kind == "opt":
                    opts[flag.name] = flag.no_opt
                    continue
                if chars:
                    store(flag, chars, label_of(flag))
                elif i < len(args):
                    store(flag, args[i], label_of(flag))
                    i += 1
                else:
                    raise HelmError(f"flag needs an argument: '{ch}' in -{ch}")
                break
        else:
            positional.append(arg)
    return opts, positional


def global_flags(dialect: int) -> list[Flag]:
    common = [Flag("kube-context"), Flag("kubeconfig"), Flag("debug", "bool"), Flag("help", "bool", "h")]
    if dialect == 3:
        return common + [Flag("namespace", "str", "n"), Flag("repository-config"), Flag("repository-cache"),
                         Flag("registry-config"), Flag("kube-apiserver"), Flag("kube-token"), Flag("burst-limit", "int"),
                         Flag("qps", "str"), Flag("kube-as-user"), Flag("kube-ca-file"),
                         Flag("kube-insecure-skip-tls-verify", "bool")]
    return common + [Flag("home"), Flag("host"), Flag("tiller-namespace"), Flag("tiller-connection-timeout", "int"),
                     Flag("tls", "bool"), Flag("tls-verify", "bool"), Flag("tls-ca-cert"), Flag("tls-cert"),
                     Flag("tls-key"), Flag("tls-hostname")]


# =============================================================================================
# configuration
# =============================================================================================
@dataclass
class Settings:
    directory: Path
    dialect: int
    api_url: str
    namespace: str                 # effective release namespace
    namespace_given: bool
    tiller_namespace: str
    chart_repo_url: str
    plan_path: Optional[str]
    repo_config: Path
    repo_cache: Path
    faults: dict = field(default_factory=dict)

    def api(self) -> KubeApi:
        return KubeApi(self.api_url)


def sandbox_dir() -> Path:
    value = os.environ.get("C7N_SANDBOX_DIR")
    if not value:
        raise HelmError("C7N_SANDBOX_DIR is not set: this helm belongs to a c7n sandbox")
    return Path(value)


def read_sandbox_json(directory: Path) -> dict:
    try:
        return json.loads((directory / "sandbox.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HelmError(f"{directory / 'sandbox.json'} not found: is the sandbox up?") from None


def _kubeconfig(opts: dict, directory: Path) -> Optional[dict]:
    candidates = [opts.get("kubeconfig")] if opts.get("kubeconfig") else \
        [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p] or [str(directory / "kubeconfig")]
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if path.is_file():
            return chartlib.load_yaml(path.read_text(encoding="utf-8")) or {}
        if opts.get("kubeconfig"):
            raise HelmError(f"Kubernetes cluster unreachable: stat {candidate}: no such file or directory")
    return None


def settings_from(opts: dict, dialect: int, directory: Path, config: dict) -> Settings:
    api_url = config["api_url"]
    kube_namespace = None
    kubeconfig = _kubeconfig(opts, directory)
    context_name = opts.get("kube-context") or os.environ.get("HELM_KUBECONTEXT") if dialect == 3 else opts.get("kube-context")
    if kubeconfig is not None:
        context_name = context_name or kubeconfig.get("current-context")
        contexts = {c.get("name"): c.get("context") or {} for c in kubeconfig.get("contexts") or []}
        if context_name not in contexts:
            raise HelmError(f'Kubernetes cluster unreachable: context "{context_name}" does not exist')
        context = contexts[context_name]
        kube_namespace = context.get("namespace")
        clusters = {c.get("name"): c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
        api_url = clusters.get(context.get("cluster"), {}).get("server") or api_url
    elif opts.get("kube-context"):
        raise HelmError(f'Kubernetes cluster unreachable: context "{opts["kube-context"]}" does not exist')
    given = opts.get("namespace")
    if dialect == 3:
        namespace = given or os.environ.get("HELM_NAMESPACE") or kube_namespace or "default"
    else:
        namespace = given or kube_namespace or "default"
    home = Path(opts.get("home") or os.environ.get("HELM_HOME") or directory / "helm-home")
    if dialect == 3:
        repo_config = Path(opts.get("repository-config") or os.environ.get("HELM_REPOSITORY_CONFIG") or home / "repositories.yaml")
        repo_cache = Path(opts.get("repository-cache") or os.environ.get("HELM_REPOSITORY_CACHE") or home / "cache")
    else:
        repo_config, repo_cache = home / "repository" / "repositories.yaml", home / "repository" / "cache"
    tiller = opts.get("tiller-namespace") or os.environ.get("TILLER_NAMESPACE") or config.get("tiller_namespace") or "kube-system"
    return Settings(directory=directory, dialect=dialect, api_url=api_url, namespace=namespace,
                    namespace_given=bool(given), tiller_namespace=tiller,
                    chart_repo_url=config.get("chart_repo_url", ""), plan_path=config.get("plan"),
                    repo_config=repo_config, repo_cache=repo_cache, faults=load_faults(directory))


# =============================================================================================
# releases and their storage
# =============================================================================================
@dataclass
class Release:
    name: str
    namespace: str
    version: int
    status: str                       # canonical, helm 3 words: deployed, superseded, failed, pending-upgrade …
    first_deployed: float
    last_deployed: float
    description: str
    chart: dict                       # Chart.yaml
    chart_values: dict                # the chart's values.yaml
    config: dict                      # user-supplied values
    manifest: str = ""
    hooks: list = field(default_factory=list)
    notes: str = ""

    @property
    def chart_ref(self) -> str:
        return f"{self.chart.get('name')}-{self.chart.get('version')}"

    @property
    def app_version(self) -> str:
        return str(self.chart.get("appVersion", ""))

    def computed_values(self) -> dict:
        return chartlib.deep_merge(self.chart_values, self.config)

    # -- helm 3 JSON -----------------------------------------------------------------------
    def to_v3(self) -> dict:
        info = {"first_deployed": rfc3339(self.first_deployed), "last_deployed": rfc3339(self.last_deployed),
                "deleted": "", "description": self.description, "status": self.status}
        if self.notes:
            info["notes"] = self.notes
        data = {"name": self.name, "info": info,
                "chart": {"metadata": self.chart, "lock": None, "templates": [], "values": self.chart_values,
                          "schema": None, "files": []}}
        if self.config:
            data["config"] = self.config
        if self.manifest:
            data["manifest"] = self.manifest
        if self.hooks:
            data["hooks"] = self.hooks
        data["version"] = self.version
        data["namespace"] = self.namespace
        return data

    @classmethod
    def from_v3(cls, data: dict) -> "Release":
        info = data.get("info") or {}
        chart = data.get("chart") or {}
        return cls(name=data["name"], namespace=data.get("namespace", ""), version=int(data.get("version", 0)),
                   status=info.get("status", "unknown"), first_deployed=parse_rfc3339(info.get("first_deployed", "")),
                   last_deployed=parse_rfc3339(info.get("last_deployed", "")), description=info.get("description", ""),
                   chart=chart.get("metadata") or {}, chart_values=chart.get("values") or {},
                   config=data.get("config") or {}, manifest=data.get("manifest", ""),
                   hooks=data.get("hooks") or [], notes=info.get("notes", ""))

    # -- helm 2 (the JSON mapping of hapi.release.Release) -------------------------------
    def to_v2(self) -> dict:
        status = {"code": V2_STATUS_CODES.get(self.status, 0)}
        if self.notes:
            status["notes"] = self.notes
        return {"name": self.name,
                "info": {"status": status, "first_deployed": {"seconds": int(self.first_deployed)},
                         "last_deployed": {"seconds": int(self.last_deployed)}, "Description": self.description},
                "chart": {"metadata": self.chart, "values": {"raw": to_yaml(self.chart_values)}},
                "config": {"raw": to_yaml(self.config) if self.config else ""},
                "manifest": self.manifest, "hooks": self.hooks, "version": self.version,
                "namespace": self.namespace}

    @classmethod
    def from_v2(cls, data: dict) -> "Release":
        info = data.get("info") or {}
        code = (info.get("status") or {}).get("code", 0)
        status = V2_CODE_NAMES.get(code, "UNKNOWN").lower().replace("_", "-")
        chart = data.get("chart") or {}
        raw_config = (data.get("config") or {}).get("raw") or ""
        return cls(name=data["name"], namespace=data.get("namespace", ""), version=int(data.get("version", 0)),
                   status=status, first_deployed=float((info.get("first_deployed") or {}).get("seconds", 0)),
                   last_deployed=float((info.get("last_deployed") or {}).get("seconds", 0)),
                   description=info.get("Description", ""), chart=chart.get("metadata") or {},
                   chart_values=chartlib.load_yaml((chart.get("values") or {}).get("raw") or "") or {},
                   config=chartlib.load_yaml(raw_config) or {} if raw_config else {},
                   manifest=data.get("manifest", ""), hooks=data.get("hooks") or [],
                   notes=(info.get("status") or {}).get("notes", ""))


class ReleaseStorage:
    """Helm 3 Secrets driver or Helm 2 (Tiller) ConfigMaps driver, over the REST API."""

    def __init__(self, api: KubeApi, dialect: int, tiller_namespace: str = "kube-system"):
        self.api, self.dialect, self.tiller_namespace = api, dialect, tiller_namespace

    def object_name(self, name: str, version: int) -> str:
        return f"sh.helm.release.v1.{name}.v{version}" if self.dialect == 3 else f"{name}.v{version}"

    def _encode(self, rel: Release) -> dict:
        if self.dialect == 3:
            payload = base64.b64encode(gzip.compress(json.dumps(rel.to_v3()).encode())).decode()
            return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                    "metadata": {"name": self.object_name(rel.name, rel.version), "namespace": rel.namespace,
                                 "labels": {"name": rel.name, "owner": "helm", "status": rel.status,
                                            "version": str(rel.version), "modifiedAt": str(int(time.time()))}},
                    "data": {"release": base64.b64encode(payload.encode()).decode()}}
        payload = base64.b64encode(gzip.compress(json.dumps(rel.to_v2()).encode())).decode()
        status = V2_CODE_NAMES[V2_STATUS_CODES.get(rel.status, 0)]
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": self.object_name(rel.name, rel.version), "namespace": self.tiller_namespace,
                             "labels": {"NAME": rel.name, "OWNER": "TILLER", "STATUS": status,
                                        "VERSION": str(rel.version), "MODIFIED_AT": str(int(time.time()))}},
                "data": {"release": payload}}

    def _decode(self, obj: dict) -> Release:
        raw = (obj.get("data") or {}).get("release", "")
        if self.dialect == 3:
            raw = base64.b64decode(raw).decode()
            return Release.from_v3(json.loads(gzip.decompress(base64.b64decode(raw))))
        return Release.from_v2(json.loads(gzip.decompress(base64.b64decode(raw))))

    def _where(self, namespace: Optional[str]) -> tuple[str, Optional[str], str]:
        if self.dialect == 3:
            return "secrets", namespace, "owner=helm"
        return "configmaps", self.tiller_namespace, "OWNER=TILLER"

    def all(self, namespace: Optional[str] = None) -> list[Release]:
        resource, ns, selector = self._where(namespace)
        releases = [self._decode(o) for o in self.api.list(resource, ns, selector)
                    if self.dialect == 2 or o.get("type") == "helm.sh/release.v1"]
        if self.dialect == 2 and namespace:
            releases = [r for r in releases if r.namespace == namespace]
        return releases

    def history(self, name: str, namespace: Optional[str]) -> list[Release]:
        resource, ns, selector = self._where(namespace)
        selector += f",name={name}" if self.dialect == 3 else f",NAME={name}"
        releases = [self._decode(o) for o in self.api.list(resource, ns, selector)]
        return sorted(releases, key=lambda r: r.version)

    def create(self, rel: Release) -> None:
        resource, ns, _ = self._where(rel.namespace)
        self.api.create(resource, ns, self._encode(rel))

    def update(self, rel: Release) -> None:
        resource, ns, _ = self._where(rel.namespace)
        name = self.object_name(rel.name, rel.version)
        obj = self._encode(rel)
        current = self.api.get(resource, ns, name)
        obj["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        self.api.replace(resource, ns, name, obj)


def latest_per_name(releases: list[Release]) -> list[Release]:
    latest: dict[tuple[str, str], Release] = {}
    for rel in releases:
        key = (rel.namespace, rel.name)
        if key not in latest or rel.version > latest[key].version:
            latest[key] = rel
    return list(latest.values())


# =============================================================================================
# charts: repositories, download
# =============================================================================================
@dataclass
class ChartPackage:
    meta: dict           # Chart.yaml
    values: dict         # values.yaml
    hooks: tuple         # hook names, from the plan step (or the archive's templates)
    service_port: int
    health_port: Optional[int]


def http_get(url: str, timeout: float = 10.0) -> bytes:
    import urllib.request  # lazily, see kubeapi
    with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as resp:
        return resp.read()


def _dial_error(url: str, exc: Exception) -> str:
    parsed = urllib.parse.urlparse(url)
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
        return f"dial tcp {parsed.hostname}:{parsed.port or 80}: connect: connection refused"
    return str(reason)


def fetch_index(url: str, dialect: int) -> str:
    index_url = url.rstrip("/") + "/index.yaml"
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise HelmError(f"could not find protocol handler for: {urllib.parse.urlparse(url).scheme}")
    try:
        text = http_get(index_url).decode()
    except urllib.error.HTTPError as exc:
        detail = f"failed to fetch {index_url} : {exc.code} {exc.reason}"
        raise HelmError(f'looks like "{url}" is not a valid chart repository or cannot be reached: {detail}'
                        if dialect == 3 else
                        f'Looks like "{url}" is not a valid chart repository or cannot be reached: {detail}') from None
    except (urllib.error.URLError, OSError) as exc:
        get = f'Get "{index_url}"' if dialect == 3 else f"Get {index_url}"
        prefix = "looks like" if dialect == 3 else "Looks like"
        raise HelmError(f'{prefix} "{url}" is not a valid chart repository or cannot be reached: '
                        f"{get}: {_dial_error(index_url, exc)}") from None
    index = chartlib.load_yaml(text) if text else None
    if not isinstance(index, dict) or "entries" not in index:
        raise HelmError(f'looks like "{url}" is not a valid chart repository or cannot be reached: '
                        "error unmarshaling JSON: no API version" if dialect == 3 else
                        f'Looks like "{url}" is not a valid chart repository or cannot be reached: no API version specified')
    return text


def load_repos(settings: Settings) -> list[dict]:
    if not settings.repo_config.is_file():
        # a bastion that installed 0.8 already has the c7n repo: seed it until a repo file exists
        return [{"name": "c7n", "url": settings.chart_repo_url}] if settings.chart_repo_url else []
    data = chartlib.load_yaml(settings.repo_config.read_text(encoding="utf-8")) or {}
    return list(data.get("repositories") or [])


def save_repos(settings: Settings, repos: list[dict]) -> None:
    settings.repo_config.parent.mkdir(parents=True, exist_ok=True)
    data = {"apiVersion": "" if settings.dialect == 3 else "v1",
            "generated": rfc3339(time.time()), "repositories": repos}
    _atomic_write(settings.repo_config, to_yaml(data))


def _atomic_write(path: Path, text: str) -> None:
    """Write via a private temp file and rename: concurrent helm calls never read a half-written file."""
    import tempfile  # here: keeps the executable's start-up lean

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def index_path(settings: Settings, repo_name: str) -> Path:
    return settings.repo_cache / f"{repo_name}-index.yaml"


def repo_index(settings: Settings, repo: dict) -> str:
    """The cached index of a configured repo (fetched once when the cache is missing)."""
    path = index_path(settings, repo["name"])
    if not path.is_file():
        write_index(settings, repo["name"], fetch_index(repo["url"], settings.dialect))
    return path.read_text(encoding="utf-8")


def write_index(settings: Settings, repo_name: str, text: str) -> None:
    settings.repo_cache.mkdir(parents=True, exist_ok=True)
    _atomic_write(index_path(settings, repo_name), text)


def add_repo(settings: Settings, name: str, url: str, force: bool = False, no_update: bool = False) -> str:
    """`helm repo add`; returns the line helm prints.

    v3: same config -> skip message; other URL -> error unless --force-update.
    v2: an existing name is overwritten, unless --no-update ("raise error if repo is already registered").
    """
    repos = load_repos(settings)
    existing = next((r for r in repos if r.get("name") == name), None)
    taken = HelmError(f"repository name ({name}) already exists, please specify a different name")
    if existing and settings.dialect == 3 and not force:
        if existing.get("url") == url:
            return f'"{name}" already exists with the same configuration, skipping\n'
        raise taken
    if existing and settings.dialect == 2 and no_update:
        raise taken
    write_index(settings, name, fetch_index(url, settings.dialect))
    entry = {"name": name, "url": url}
    entry.update({"caFile": "", "certFile": "", "keyFile": "", "password": "", "username": ""})
    if settings.dialect == 2:
        entry["cache"] = str(index_path(settings, name))
    else:
        entry.update({"insecure_skip_tls_verify": False, "pass_credentials_all": False})
    repos = [r for r in repos if r.get("name") != name] + [entry]
    save_repos(settings, repos)
    return f'"{name}" has been added to your repositories\n'


def sandbox_plan_step(settings: Settings, chart_name: str) -> Optional[dict]:
    if not settings.plan_path:
        return None
    for step in chartlib.plan_steps(settings.plan_path):
        if chartlib._field(step, "chart") == chart_name:
            return step
    return None


def resolve_chart(settings: Settings, ref: str, version: Optional[str], repo_url: Optional[str] = None) -> ChartPackage:
    """Find `repo/chart` (or `chart` with --repo) at `version` in the cached index and download it."""
    fail = f'failed to download "{ref}" (hint: running `helm repo update` may help)'
    if repo_url:
        index_text, chart_name = fetch_index(repo_url, settings.dialect), ref
        base = repo_url
    else:
        repo_name, slash, chart_name = ref.partition("/")
        if not slash:
            if settings.dialect == 3:
                raise HelmError(f"repo {ref} not found" if not Path(ref).exists()
                                else f"sandbox helm does not install local charts: {ref}")
            raise HelmError(fail)
        repo = next((r for r in load_repos(settings) if r.get("name") == repo_name), None)
        if repo is None:
            raise HelmError(f"repo {repo_name} not found" if settings.dialect == 3 else fail)
        index_text, base = repo_index(settings, repo), repo["url"]
    entries = ((chartlib.load_yaml(index_text) or {}).get("entries") or {}).get(chart_name) or []
    if version:
        wanted = version.lstrip("v")
        entry = next((e for e in entries if str(e.get("version", "")).lstrip("v") == wanted), None)
    else:
        stable = [e for e in entries if "-" not in str(e.get("version", ""))]
        entry = max(stable, key=lambda e: chartlib.version_key(str(e["version"]))) if stable else None
    if entry is None:
        raise HelmError(fail)
    url = urllib.parse.urljoin(base.rstrip("/") + "/", entry["urls"][0])
    try:
        meta, values = chartlib.read_chart_tgz(http_get(url))
    except (urllib.error.URLError, OSError, ValueError):
        raise HelmError(fail) from None
    return package_for(settings, meta, values)


def package_for(settings: Optional[Settings], meta: dict, values: dict, plan_step: Any = None) -> ChartPackage:
    step = plan_step if plan_step is not None else (sandbox_plan_step(settings, meta["name"]) if settings else None)
    if step is not None:
        return ChartPackage(meta, values, tuple(chartlib._field(step, "hooks") or ()),
                            int(chartlib._field(step, "service_port")), chartlib._field(step, "health_port"))
    service_port = int((values.get("service") or {}).get("port") or 8080)
    health_port = (values.get("deployment") or {}).get("managementPort")
    return ChartPackage(meta, values, (), service_port, health_port)


# =============================================================================================
# install / upgrade (shared by the CLI and the sandbox bootstrap)
# =============================================================================================
def _hook_records(pkg: ChartPackage, objects: list[dict], now: float) -> list[dict]:
    records = []
    for obj in objects:
        if obj["kind"] != "Job":
            continue
        path = f"{pkg.meta['name']}/" + chartlib.hook_template(_hook_name(obj, pkg))
        records.append({"name": obj["metadata"]["name"], "kind": "Job", "path": path,
                        "manifest": chartlib.dump_yaml(obj), "events": ["pre-install", "pre-upgrade"],
                        "last_run": {"started_at": rfc3339(now), "completed_at": rfc3339(now), "phase": "Succeeded"},
                        "weight": 1})
    return records


def _hook_name(job: dict, pkg: ChartPackage) -> str:
    name = job["metadata"]["name"]
    return next((h for h in pkg.hooks if name.endswith("-" + h)), name)


def _manifest(pkg: ChartPackage, objects: list[dict]) -> str:
    docs = []
    for obj in objects:
        if obj["kind"] == "Job":
            continue
        template = "deployment.yaml" if obj["kind"] == "Deployment" else "service.yaml"
        docs.append(f"---\n# Source: {pkg.meta['name']}/templates/{template}\n" + chartlib.dump_yaml(obj))
    return "".join(docs)


def _apply(api: KubeApi, obj: dict) -> None:
    resource = {"Deployment": "deployments.apps", "Service": "services"}[obj["kind"]]
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    current = api.get_or_none(resource, ns, name)
    if current is None:
        api.create(resource, ns, obj)
        return
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    if obj["kind"] == "Service":
        for key in ("clusterIP", "clusterIPs"):
            if key in (current.get("spec") or {}):
                obj["spec"][key] = current["spec"][key]
    api.replace(resource, ns, name, obj)


def _run_hooks(api: KubeApi, jobs: list[dict]) -> Optional[dict]:
    """Create the hook Jobs and mark them complete; returns the first Job whose name is taken."""
    for job in jobs:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            created = api.create("jobs.batch", ns, job)
        except KubeApiError as err:
            if err.status == 409:
                return job
            raise
        now = rfc3339(time.time())
        created["status"] = {"succeeded": 1, "startTime": now, "completionTime": now,
                             "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now,
                                             "lastTransitionTime": now}]}
        try:
            api.replace_status("jobs.batch", ns, name, created)
        except KubeApiError:  # a server without the status subresource: fall back to a merge patch
            api.patch("jobs.batch", ns, name, {"status": created["status"]})
    return None


def _wait_ready(api: KubeApi, deployment: dict, timeout: float) -> bool:
    ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
    replicas = deployment["spec"]["replicas"]
    selector = f"choerodon.io/release={name}"
    deadline = time.monotonic() + timeout
    while True:
        status = (api.get_or_none("deployments.apps", ns, name) or {}).get("status") or {}
        if "readyReplicas" in status or "updatedReplicas" in status:
            ready = min(status.get("readyReplicas", 0), status.get("updatedReplicas", 0)) >= replicas
        else:
            pods = api.list("pods", ns, selector)
            ready = sum(1 for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                              for c in (p.get("status") or {}).get("conditions") or [])) >= replicas
        if ready:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


@dataclass
class Outcome:
    release: Release
    installed: bool            # a first install (also via upgrade --install)
    objects: list


def deploy(api: KubeApi, *, name: str, pkg: ChartPackage, supplied: dict, namespace: str, dialect: int,
           tiller_ns: str = "kube-system", mode: str = "upgrade", install_missing: bool = False,
           reuse_values: bool = False, reset_values: bool = False, dry_run: bool = False, wait: bool = False,
           timeout: float = 300.0, create_hooks: bool = True, fail_message: Optional[str] = None) -> Outcome:
    """Install (mode="install") or upgrade a release; raises HelmError with helm's message."""
    storage = ReleaseStorage(api, dialect, tiller_ns)
    history = storage.history(name, namespace if dialect == 3 else None)
    installing = mode == "install" or (not history and install_missing)
    prefix = ("INSTALLATION FAILED: " if dialect == 3 else "") if installing else "UPGRADE FAILED: "
    if mode == "install" and history:
        if dialect == 3 and history[-1].status not in ("uninstalled",):
            raise HelmError("INSTALLATION FAILED: cannot re-use a name that is still in use")
        if dialect == 2:
            raise HelmError(f"a release named {name} already exists.")
    current = None
    if not installing:
        if not history:
            raise HelmError(f'UPGRADE FAILED: "{name}" has no deployed releases')
        if history[-1].status.startswith("pending-"):
            raise HelmError("UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress")
        deployed = [r for r in history if r.status == "deployed"]
        current = deployed[-1] if deployed else None
        if current is None and dialect == 3 and history[-1].status in ("failed", "superseded"):
            current = history[-1]
        if current is None:
            raise HelmError(f'UPGRADE FAILED: "{name}" has no deployed releases')
    # values, as helm computes them
    chart_values = pkg.values
    config = supplied
    if current is not None and not reset_values:
        if reuse_values:
            chart_values = current.computed_values()
            config = chartlib.deep_merge(current.config, supplied)
        elif not supplied:
            config = copy.deepcopy(current.config)
    computed = chartlib.deep_merge(chart_values, config)
    objects = chartlib.render(name, pkg.meta["name"], str(pkg.meta["version"]), computed, namespace,
                              pkg.health_port, pkg.service_port, pkg.hooks)
    now = float(int(time.time()))
    version = (history[-1].version + 1) if history else 1
    rel = Release(name=name, namespace=namespace, version=version,
                  status="pending-install" if installing else "pending-upgrade",
                  first_deployed=history[0].first_deployed if history else now, last_deployed=now,
                  description="Dry run complete" if dry_run else ("Initial install underway" if installing else "Preparing upgrade"),
                  chart=dict(pkg.meta), chart_values=chart_values, config=config,
                  manifest=_manifest(pkg, objects), hooks=_hook_records(pkg, objects, now))
    if dry_run:
        return Outcome(rel, installing, objects)
    storage.create(rel)

    def fail(message: str, description: str):
        rel.status, rel.description = "failed", description
        storage.update(rel)
        if dialect == 2 and installing:
            raise HelmError(f"release {name} failed: {message}")
        raise HelmError(prefix + message)

    if fail_message:  # the helm-fail fault: a pre-upgrade hook that never finishes; the revision is failed
        fail(fail_message, f"Release \"{name}\" failed: {fail_message}")
    jobs = [o for o in objects if o["kind"] == "Job"]
    if create_hooks and jobs:
        taken = _run_hooks(api, jobs)
        if taken is not None:
            event = "pre-install" if installing else "pre-upgrade"
            path = f"{pkg.meta['name']}/{chartlib.hook_template(_hook_name(taken, pkg))}"
            exists = f'jobs.batch "{taken["metadata"]["name"]}" already exists'
            if dialect == 3:
                fail(f"{event} hooks failed: warning: Hook {event} {path} failed: {exists}",
                     f"failed {event}: warning: Hook {event} {path} failed: {exists}")
            fail(f"{event} hooks failed: {exists}", f"Release {name} failed: {exists}")
    for obj in objects:
        if obj["kind"] != "Job":
            _apply(api, obj)
    if wait and not _wait_ready(api, objects[0], timeout):
        fail("timed out waiting for the condition",
             f"Release \"{name}\" failed: timed out waiting for the condition")
    if current is not None:
        for old in history:
            if old.status == "deployed":
                old.status = "superseded"
                storage.update(old)
    rel.status = "deployed"
    rel.description = "Install complete" if installing else "Upgrade complete"
    storage.update(rel)
    return Outcome(rel, installing, objects)


def _library_package(chart: str, version: str, plan_step: Any) -> ChartPackage:
    """The chart package as the repo would serve it, for the library entry points."""
    step = plan_step or {}
    service_port = int(chartlib._field(step, "service_port", None) or 8080)
    spec = chartlib.Chart(name=chart, version=str(version), service_port=service_port,
                          health_port=chartlib._field(step, "health_port"),
                          hooks=tuple(chartlib._field(step, "hooks") or ()))
    return ChartPackage(spec.chart_yaml(), chartlib.default_values(spec), spec.hooks,
                        spec.service_port, spec.health_port)


def install_release(api: KubeApi, *, name: str, chart: str, version: str, values: dict, namespace: str,
                    dialect: int, tiller_ns: str = "kube-system", plan_step: Any = None,
                    create_hooks: bool = True) -> Release:
    """Install like `helm install`, without a helm-calls.jsonl line (used by the sandbox bootstrap)."""
    pkg = _library_package(chart, version, plan_step)
    return deploy(api, name=name, pkg=pkg, supplied=values or {}, namespace=namespace, dialect=dialect,
                  tiller_ns=tiller_ns, mode="install", create_hooks=create_hooks).release


# =============================================================================================
# output blocks
# =============================================================================================
def status_block(rel: Release, dialect: int, objects: Optional[list] = None) -> str:
    if dialect == 3:
        text = (f"NAME: {rel.name}\nLAST DEPLOYED: {ansic(rel.last_deployed)}\nNAMESPACE: {rel.namespace}\n"
                f"STATUS: {rel.status}\nREVISION: {rel.version}\nTEST SUITE: None\n")
        if rel.notes:
            text += f"NOTES:\n{rel.notes}\n"
        return text
    text = (f"LAST DEPLOYED: {ansic(rel.last_deployed)}\nNAMESPACE: {rel.namespace}\n"
            f"STATUS: {V2_CODE_NAMES[V2_STATUS_CODES.get(rel.status, 0)]}\n\n")
    resources = v2_resources(rel)
    if resources:
        text += f"RESOURCES:\n{resources}\n"
    if rel.notes:
        text += f"NOTES:\n{rel.notes}\n"
    return text


def v2_resources(rel: Release) -> str:
    kinds = re.findall(r"^kind: (\w+)$", rel.manifest, flags=re.M)
    names = re.findall(r"^  name: (.+)$", rel.manifest, flags=re.M)
    blocks = []
    for kind, name in zip(kinds, names):
        blocks.append(f"==> v1/{kind}\n" + table([["NAME", "AGE"], [name, "0s"]]))
    return "\n".join(blocks)


def dry_run_block(rel: Release) -> str:
    hooks = "".join(f"---\n# Source: {h['path']}\n{h['manifest']}" for h in rel.hooks)
    return f"HOOKS:\n{hooks}MANIFEST:\n{rel.manifest}"


# =============================================================================================
# commands
# =============================================================================================
class Cli:
    def __init__(self, dialect: int, directory: Path, config: dict, out: Callable[[str], None]):
        self.dialect, self.directory, self.config, self.out = dialect, directory, config, out
        self.settings: Optional[Settings] = None

    # -- plumbing ----------------------------------------------------------------------------
    def parse(self, args: list[str], flags: list[Flag]) -> tuple[dict, list[str]]:
        opts, positional = parse_flags(args, flags + global_flags(self.dialect))
        self.settings = settings_from(opts, self.dialect, self.directory, self.config)
        return opts, positional

    def output_format(self, opts: dict, allowed=("table", "json", "yaml")) -> str:
        value = (opts.get("output") or "table").lower()
        if value not in allowed:
            raise HelmError(f'invalid argument "{value}" for "-o, --output" flag: invalid format type'
                            if self.dialect == 3 else f"unknown output format {value!r}")
        return value

    def storage(self) -> ReleaseStorage:
        return ReleaseStorage(self.settings.api(), self.dialect, self.settings.tiller_namespace)

    def history_of(self, name: str) -> list[Release]:
        ns = self.settings.namespace if self.dialect == 3 else None
        try:
            return self.storage().history(name, ns)
        except (urllib.error.URLError, OSError) as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: Exception) -> HelmError:
        if self.dialect == 3:
            return HelmError(f'Kubernetes cluster unreachable: Get "{self.settings.api_url}/version": '
                             f"{_dial_error(self.settings.api_url, exc)}")
        return HelmError("could not find tiller")

    def not_found(self, name: str) -> HelmError:
        return HelmError("release: not found" if self.dialect == 3 else f'release: "{name}" not found')

    def need_args(self, positional: list[str], count: int, command: str, usage: str, v2_message: str):
        if len(positional) != count:
            if self.dialect == 3:
                plural = "argument" if count == 1 else "arguments"
                raise HelmError(f'"helm {command}" requires {count} {plural}\n\nUsage:  helm {usage} [flags]')
            raise HelmError(v2_message)

    # -- version -----------------------------------------------------------------------------
    def cmd_version(self, args):
        flags = [Flag("short", "bool"), Flag("client", "bool", "c"), Flag("template")]
        if self.dialect == 2:
            flags += [Flag("server", "bool", "s")]
        opts, _ = parse_flags(args, flags + global_flags(self.dialect))
        if self.dialect == 3:
            if opts["template"]:
                self.out(opts["template"].replace("{{.Version}}", V3_VERSION))
            elif opts["short"]:
                self.out(f"{V3_VERSION}+g{V3_COMMIT[:7]}\n")
            else:
                self.out(f'version.BuildInfo{{Version:"{V3_VERSION}", GitCommit:"{V3_COMMIT}", '
                         f'GitTreeState:"clean", GoVersion:"{V3_GO}"}}\n')
            return 0
        show_client = opts["client"] or not opts["server"]
        show_server = opts["server"] or not opts["client"]
        for label, show in (("Client", show_client), ("Server", show_server)):
            if show:
                if opts["short"]:
                    self.out(f"{label}: {V2_VERSION}+g{V2_COMMIT[:7]}\n")
                else:
                    self.out(f'{label}: &version.Version{{SemVer:"{V2_VERSION}", GitCommit:"{V2_COMMIT}", '
                             f'GitTreeState:"clean"}}\n')
        return 0

    # -- init (v2) ---------------------------------------------------------------------------
    def cmd_init(self, args):
        if self.dialect == 3:
            raise HelmError('unknown command "init" for "helm"\nRun \'helm --help\' for usage.')
        opts, _ = self.parse(args, [Flag("client-only", "bool", "c"), Flag("skip-refresh", "bool"),
                                    Flag("upgrade", "bool"), Flag("wait", "bool"), Flag("service-account")])
        self.settings.repo_cache.mkdir(parents=True, exist_ok=True)
        if not self.settings.repo_config.exists():
            save_repos(self.settings, [])
        home = self.settings.repo_config.parent.parent
        self.out(f"$HELM_HOME has been configured at {home}.\n")
        if opts["client-only"]:
            self.out("Not installing Tiller due to 'client-only' flag having been set\n")
        else:
            self.out("Warning: Tiller is already installed in the cluster.\n"
                     "(Use --client-only to suppress this message, or --upgrade to upgrade Tiller to the current version.)\n")
        return 0

    # -- repo --------------------------------------------------------------------------------
    def cmd_repo(self, args):
        sub, rest = (args[0], args[1:]) if args else ("", [])
        if sub == "add":
            opts, pos = self.parse(rest, [Flag("force-update", "bool"), Flag("username"), Flag("password"),
                                          Flag("no-update", "bool"), Flag("pass-credentials", "bool")])
            if len(pos) != 2:
                raise HelmError('"helm repo add" requires 2 arguments\n\nUsage:  helm repo add [NAME] [URL] [flags]'
                                if self.dialect == 3 else "this command needs 2 arguments: name for the chart repository, the url of the chart repository")
            self.out(add_repo(self.settings, pos[0], pos[1], force=opts["force-update"], no_update=opts["no-update"]))
            return 0
        if sub in ("update", "up"):
            _, pos = self.parse(rest, [Flag("fail-on-repo-update-fail", "bool")])
            repos = load_repos(self.settings)
            if not repos:
                raise HelmError("no repositories found. You must add one before updating")
            self.out("Hang tight while we grab the latest from your chart repositories...\n")
            for repo in repos:
                if pos and repo["name"] not in pos:
                    continue
                try:
                    write_index(self.settings, repo["name"], fetch_index(repo["url"], self.dialect))
                    self.out(f'...Successfully got an update from the "{repo["name"]}" chart repository\n')
                except HelmError as exc:
                    self.out(f'...Unable to get an update from the "{repo["name"]}" chart repository ({repo["url"]}):\n\t{exc}\n')
            self.out("Update Complete. ⎈Happy Helming!⎈\n" if self.dialect == 3 else "Update Complete.\n")
            return 0
        if sub in ("list", "ls"):
            opts, _ = self.parse(rest, [Flag("output", "str", "o")])
            repos = load_repos(self.settings)
            if not repos:
                raise HelmError("no repositories to show")
            fmt = self.output_format(opts)
            if fmt == "json":
                self.out(to_json([{"name": r["name"], "url": r["url"]} for r in repos]))
            else:
                self.out(table([["NAME", "URL"]] + [[r["name"], r["url"]] for r in repos]))
            return 0
        if sub in ("remove", "rm"):
            _, pos = self.parse(rest, [])
            repos = load_repos(self.settings)
            for name in pos:
                if not any(r["name"] == name for r in repos):
                    raise HelmError(f"no repo named \"{name}\" found")
                repos = [r for r in repos if r["name"] != name]
                index_path(self.settings, name).unlink(missing_ok=True)
                self.out(f'"{name}" has been removed from your repositories\n')
            save_repos(self.settings, repos)
            return 0
        raise HelmError(f'unknown command "{sub}" for "helm repo"')

    # -- search ------------------------------------------------------------------------------
    def cmd_search(self, args):
        if self.dialect == 3:
            if not args or args[0] != "repo":
                raise HelmError('unknown command "%s" for "helm search"' % (args[0] if args else ""))
            args = args[1:]
            flags = [Flag("versions", "bool", "l"), Flag("version"), Flag("output", "str", "o"),
                     Flag("regexp", "bool", "r"), Flag("devel", "bool"), Flag("max-col-width", "int", default=50),
                     Flag("fail-on-no-result", "bool")]
        else:
            flags = [Flag("versions", "bool", "l"), Flag("version", "str", "v"), Flag("output", "str", "o"),
                     Flag("regexp", "bool", "r"), Flag("devel", "bool"), Flag("col-width", "int", default=60)]
        opts, pos = self.parse(args, flags)
        fmt = self.output_format(opts)
        keyword = pos[0] if pos else ""
        results = []
        for repo in load_repos(self.settings):
            try:
                entries = (chartlib.load_yaml(repo_index(self.settings, repo)) or {}).get("entries") or {}
            except HelmError:
                continue
            for chart_name, versions in entries.items():
                ordered = sorted(versions, key=lambda e: chartlib.version_key(str(e["version"])), reverse=True)
                if not opts["devel"] and not opts["version"]:
                    ordered = [e for e in ordered if "-" not in str(e["version"])] or ordered
                if opts["version"]:
                    ordered = [e for e in ordered if version_matches(str(e["version"]), opts["version"])]
                if not opts["versions"]:
                    ordered = ordered[:1]
                for entry in ordered:
                    full = f"{repo['name']}/{chart_name}"
                    haystack = f"{full} {entry.get('description', '')}"
                    if keyword and not (re.search(keyword, haystack, re.I) if opts["regexp"]
                                        else keyword.lower() in haystack.lower()):
                        continue
                    results.append((full, str(entry["version"]), str(entry.get("appVersion", "")),
                                    str(entry.get("description", ""))))
        results.sort(key=lambda r: r[0])  # stable: versions stay newest first
        if fmt == "json":
            if self.dialect == 3:
                self.out(to_json([{"name": n, "version": v, "app_version": a, "description": d} for n, v, a, d in results]))
            else:
                self.out(to_json([{"Name": n, "Version": v, "AppVersion": a, "Description": d}
                                  for n, v, a, d in results] or None))
        elif fmt == "yaml":
            key = ("name", "version", "app_version", "description") if self.dialect == 3 else ("Name", "Version", "AppVersion", "Description")
            self.out(to_yaml([dict(zip(key, r)) for r in results]) if results else "[]\n")
        elif not results:
            self.out("No results found\n")
        else:
            width = opts["max-col-width"] if self.dialect == 3 else opts["col-width"]
            self.out(table([["NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION"]] + [list(r) for r in results], width))
        return 0

    # -- list --------------------------------------------------------------------------------
    def cmd_list(self, args):
        if self.dialect == 3:
            flags = [Flag("all", "bool", "a"), Flag("all-namespaces", "bool", "A"), Flag("filter", "str", "f"),
                     Flag("output", "str", "o"), Flag("short", "bool", "q"), Flag("date", "bool", "d"),
                     Flag("reverse", "bool", "r"), Flag("max", "int", "m", 256), Flag("offset", "int", default=0),
                     Flag("no-headers", "bool"), Flag("time-format"), Flag("selector", "str", "l")]
            flags += [Flag(s, "bool") for s in ("deployed", "failed", "pending", "superseded", "uninstalled", "uninstalling")]
        else:
            flags = [Flag("all", "bool", "a"), Flag("output"), Flag("offset", "str", "o"), Flag("short", "bool", "q"),
                     Flag("date", "bool", "d"), Flag("reverse", "bool", "r"), Flag("max", "int", "m", 256),
                     Flag("namespace"), Flag("col-width", "int", "c", 60)]
            flags += [Flag(s, "bool") for s in ("deployed", "failed", "pending", "deleted", "deleting")]
        opts, pos = self.parse(args, flags)
        fmt = self.output_format(opts)
        scope = None
        if self.dialect == 3 and not opts["all-namespaces"]:
            scope = self.settings.namespace
        if self.dialect == 2 and opts.get("namespace"):
            scope = opts["namespace"]
        try:
            releases = latest_per_name(self.storage().all(scope))
        except (urllib.error.URLError, OSError) as exc:
            raise self.unreachable(exc) from None
        releases = [r for r in releases if r.status in self.list_statuses(opts)]
        pattern = opts.get("filter") if self.dialect == 3 else (pos[0] if pos else None)
        if pattern:
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise HelmError(f"error parsing regexp: {exc}") from None
            releases = [r for r in releases if regex.search(r.name)]
        releases.sort(key=(lambda r: r.last_deployed) if opts["date"] else (lambda r: r.name))
        if opts["reverse"]:
            releases.reverse()
        if self.dialect == 3:
            releases = releases[opts["offset"]:]
        elif opts["offset"]:  # v2: -o/--offset is the name of the release to start from
            names = [r.name for r in releases]
            if opts["offset"] not in names:
                raise HelmError(f'offset "{opts["offset"]}" not found')
            releases = releases[names.index(opts["offset"]):]
        if opts["max"] > 0:
            releases = releases[: opts["max"]]
        if self.dialect == 3:
            return self.list_v3(releases, opts, fmt)
        return self.list_v2(releases, opts, fmt)

    def list_statuses(self, opts: dict) -> set:
        every = {"deployed", "failed", "superseded", "pending-install", "pending-upgrade", "pending-rollback",
                 "uninstalled", "uninstalling", "unknown"}
        if opts["all"]:
            return every
        chosen = set()
        for flag, words in (("deployed", {"deployed"}), ("failed", {"failed"}), ("superseded", {"superseded"}),
                            ("pending", {"pending-install", "pending-upgrade", "pending-rollback"}),
                            ("uninstalled", {"uninstalled"}), ("uninstalling", {"uninstalling"}),
                            ("deleted", {"uninstalled"}), ("deleting", {"uninstalling"})):
            if opts.get(flag):
                chosen |= words
        return chosen or {"deployed", "failed"}

    def list_v3(self, releases, opts, fmt):
        if opts["short"]:
            names = [r.name for r in releases]
            self.out(to_json(names) if fmt == "json" else to_yaml(names) if fmt == "yaml" and names
                     else "[]\n" if fmt == "yaml" else "".join(n + "\n" for n in names))
            return 0
        def updated(r):
            return time.strftime(_go_layout(opts["time-format"]), time.gmtime(r.last_deployed)) if opts["time-format"] \
                else go_time_string(r.last_deployed)
        rows = [{"name": r.name, "namespace": r.namespace, "revision": str(r.version), "updated": updated(r),
                 "status": r.status, "chart": r.chart_ref, "app_version": r.app_version} for r in releases]
        if fmt == "json":
            self.out(to_json(rows))
        elif fmt == "yaml":
            self.out(to_yaml(rows) if rows else "[]\n")
        else:
            header = [] if opts["no-headers"] else [["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]]
            body = [list(row.values()) for row in rows]
            if header or body:
                self.out(table(header + body))
        return 0

    def list_v2(self, releases, opts, fmt):
        if not releases:
            return 0  # v2 prints nothing at all when nothing matches
        if opts["short"]:
            self.out("".join(r.name + "\n" for r in releases))
            return 0
        items = [{"Name": r.name, "Revision": r.version, "Updated": ansic(r.last_deployed),
                  "Status": V2_CODE_NAMES[V2_STATUS_CODES.get(r.status, 0)], "Chart": r.chart_ref,
                  "AppVersion": r.app_version, "Namespace": r.namespace} for r in releases]
        if fmt == "json":
            self.out(to_json({"Next": "", "Releases": items}))
        elif fmt == "yaml":
            self.out(to_yaml({"Next": "", "Releases": items}))
        else:
            rows = [["NAME", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "NAMESPACE"]]
            rows += [[i["Name"], str(i["Revision"]), i["Updated"], i["Status"], i["Chart"], i["AppVersion"], i["Namespace"]]
                     for i in items]
            self.out(table(rows, opts["col-width"]))
        return 0

    # -- get values --------------------------------------------------------------------------
    def cmd_get(self, args):
        if not args or args[0] != "values":
            raise HelmError(f'sandbox helm supports only "helm get values" (got {" ".join(args[:1]) or "nothing"})')
        flags = [Flag("all", "bool", "a"), Flag("revision", "int", default=0)]
        flags.append(Flag("output", "str", "o") if self.dialect == 3 else Flag("output", default="yaml"))
        opts, pos = self.parse(args[1:], flags)
        self.need_args(pos, 1, "get values", "get values RELEASE_NAME", "release name is required")
        fmt = self.output_format(opts)
        rel = self.pick_revision(pos[0], opts["revision"])
        values = rel.computed_values() if opts["all"] else rel.config
        if self.dialect == 3:
            if fmt == "json":
                self.out(to_json(values or None))
            elif fmt == "yaml":
                self.out(to_yaml(values) if values else "null\n")
            else:
                self.out(("COMPUTED VALUES:\n" if opts["all"] else "USER-SUPPLIED VALUES:\n")
                         + (to_yaml(values) if values else "null\n"))
        else:
            self.out(to_json(values or {}) if fmt == "json" else to_yaml(values or {}))
        return 0

    def pick_revision(self, name: str, revision: int) -> Release:
        history = self.history_of(name)
        if revision:
            history = [r for r in history if r.version == revision]
        if not history:
            raise self.not_found(name)
        return history[-1]

    # -- status ------------------------------------------------------------------------------
    def cmd_status(self, args):
        opts, pos = self.parse(args, [Flag("output", "str", "o"), Flag("revision", "int", default=0),
                                      Flag("show-desc", "bool"), Flag("show-resources", "bool")])
        self.need_args(pos, 1, "status", "status RELEASE_NAME", "release name is required")
        fmt = self.output_format(opts)
        rel = self.pick_revision(pos[0], opts["revision"])
        if self.dialect == 3:
            if fmt == "json":
                self.out(to_json(rel.to_v3()))
            elif fmt == "yaml":
                self.out(to_yaml(rel.to_v3()))
            else:
                block = status_block(rel, 3)
                if opts["show-desc"]:
                    block = block.replace("TEST SUITE:", f"DESCRIPTION: {rel.description}\nTEST SUITE:", 1)
                self.out(block)
            return 0
        status = {"code": V2_STATUS_CODES.get(rel.status, 0)}
        resources = v2_resources(rel)
        if resources:
            status["resources"] = resources
        if rel.notes:
            status["notes"] = rel.notes
        data = {"name": rel.name, "info": {"status": status, "first_deployed": {"seconds": int(rel.first_deployed)},
                                           "last_deployed": {"seconds": int(rel.last_deployed)},
                                           "Description": rel.description}, "namespace": rel.namespace}
        if fmt == "json":
            self.out(to_json(data))
        elif fmt == "yaml":
            self.out(to_yaml(data))
        else:
            self.out(status_block(rel, 2))
        return 0

    # -- history -----------------------------------------------------------------------------
    def cmd_history(self, args):
        opts, pos = self.parse(args, [Flag("output", "str", "o"), Flag("max", "int", default=256),
                                      Flag("col-width", "int", "c", 60)])
        self.need_args(pos, 1, "history", "history RELEASE_NAME", "release name is required")
        fmt = self.output_format(opts)
        history = self.history_of(pos[0])
        if not history:
            raise self.not_found(pos[0])
        history = history[-opts["max"]:] if opts["max"] > 0 else history
        if self.dialect == 3:
            items = [{"revision": r.version, "updated": rfc3339(r.last_deployed), "status": r.status,
                      "chart": r.chart_ref, "app_version": r.app_version, "description": r.description} for r in history]
            status_of = (lambda r: r.status)
            when = (lambda r: ansic(r.last_deployed))
        else:
            items = [{"revision": r.version, "updated": ansic(r.last_deployed),
                      "status": V2_CODE_NAMES[V2_STATUS_CODES.get(r.status, 0)], "chart": r.chart_ref,
                      "appVersion": r.app_version, "description": r.description} for r in history]
            status_of = (lambda r: V2_CODE_NAMES[V2_STATUS_CODES.get(r.status, 0)])
            when = (lambda r: ansic(r.last_deployed))
        if fmt == "json":
            self.out(to_json(items))
        elif fmt == "yaml":
            self.out(to_yaml(items))
        else:
            rows = [["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"]]
            rows += [[str(r.version), when(r), status_of(r), r.chart_ref, r.app_version, r.description] for r in history]
            self.out(table(rows, 60 if self.dialect == 3 else opts["col-width"]))
        return 0

    # -- upgrade / install -------------------------------------------------------------------
    def deploy_flags(self) -> list[Flag]:
        flags = [Flag("set", "list"), Flag("set-string", "list"), Flag("set-file", "list"), Flag("version"),
                 Flag("wait", "bool"), Flag("atomic", "bool"), Flag("description"), Flag("repo"),
                 Flag("devel", "bool"), Flag("username"), Flag("password"), Flag("force", "bool"),
                 Flag("no-hooks", "bool")]
        if self.dialect == 3:
            flags += [Flag("values", "csv", "f"), Flag("timeout", default="5m0s"),
                      Flag("dry-run", "opt", no_opt="client"), Flag("wait-for-jobs", "bool"),
                      Flag("create-namespace", "bool"), Flag("output", "str", "o"), Flag("skip-crds", "bool"),
                      Flag("render-subchart-notes", "bool"), Flag("disable-openapi-validation", "bool")]
        else:
            flags += [Flag("values", "list", "f"), Flag("timeout", "int", default=300), Flag("dry-run", "bool"),
                      Flag("namespace"), Flag("recreate-pods", "bool"), Flag("tls", "bool")]
        return flags

    def supplied_values(self, opts: dict) -> dict:
        values: dict = {}
        for path in opts["values"]:
            try:
                text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
            except OSError:
                if self.dialect == 3:
                    raise HelmError(f"open {path}: no such file or directory") from None
                raise HelmError(f"open {path}: no such file or directory") from None
            try:
                data = chartlib.load_yaml(text) or {}
            except Exception as exc:
                raise HelmError(f"failed to parse {path}: error converting YAML to JSON: {exc}") from None
            if not isinstance(data, dict):
                raise HelmError(f"failed to parse {path}: error unmarshaling JSON: cannot unmarshal into values")
            values = chartlib.deep_merge(values, data, keep_nulls=True)
        for expr in opts["set"]:
            parse_set(expr, values)
        for expr in opts["set-string"]:
            parse_set(expr, values, as_string=True)
        for expr in opts["set-file"]:
            key, _, path = expr.partition("=")
            parse_set(f"{key}=x", values, as_string=True)
            node = values
            keys = [_unescape(k) for k in _split_key(key)]
            for k in keys[:-1]:
                node = node[k]
            node[keys[-1]] = Path(path).read_text(encoding="utf-8")
        return values

    def timeout_seconds(self, opts: dict) -> float:
        if self.dialect == 2:
            return float(opts["timeout"])
        try:
            return go_duration_seconds(opts["timeout"])
        except ValueError as exc:
            raise HelmError(f'invalid argument "{opts["timeout"]}" for "--timeout" flag: {exc}') from None

    def run_deploy(self, name: str, chart_ref: str, opts: dict, mode: str) -> int:
        settings = self.settings
        namespace = settings.namespace if self.dialect == 3 else (opts.get("namespace") or settings.namespace)
        timeout = self.timeout_seconds(opts)
        dry_run = bool(opts["dry-run"])
        if self.dialect == 3 and opts["dry-run"] not in (None, False, "client", "server", "none", "true", "false"):
            raise HelmError(f'invalid dry-run flag. Flag must one of the following: false, true, none, client, or server')
        if self.dialect == 3 and opts["dry-run"] in ("none", "false"):
            dry_run = False
        supplied = self.supplied_values(opts)
        pkg = resolve_chart(settings, chart_ref, opts["version"], opts.get("repo"))
        fault = fault_for(settings.faults, name, _default_release(settings, pkg.meta["name"]))
        fail_message = fault.deploy_failure() if fault else None
        api = settings.api()
        try:
            if self.dialect == 3 and opts["create-namespace"] and not dry_run \
                    and api.get_or_none("namespaces", None, namespace) is None:
                api.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            outcome = deploy(api, name=name, pkg=pkg, supplied=supplied, namespace=namespace, dialect=self.dialect,
                             tiller_ns=settings.tiller_namespace, mode=mode, install_missing=opts.get("install", False),
                             reuse_values=opts.get("reuse-values", False), reset_values=opts.get("reset-values", False),
                             dry_run=dry_run, wait=opts["wait"] or opts["atomic"], timeout=timeout,
                             create_hooks=not opts["no-hooks"], fail_message=None if dry_run else fail_message)
        except (urllib.error.URLError, OSError) as exc:
            raise self.unreachable(exc) from None
        rel = outcome.release
        if self.dialect == 3:
            fmt = self.output_format(opts)
            if fmt == "json":
                self.out(to_json(rel.to_v3()))
                return 0
            if fmt == "yaml":
                self.out(to_yaml(rel.to_v3()))
                return 0
            text = ""
            if mode == "upgrade":
                text = (f'Release "{name}" does not exist. Installing it now.\n' if outcome.installed
                        else f'Release "{name}" has been upgraded. Happy Helming!\n')
            text += status_block(rel, 3)
            if dry_run:
                text += dry_run_block(rel)
            self.out(text)
            return 0
        if mode == "upgrade" and outcome.installed:
            self.out(f'Release "{name}" does not exist. Installing it now.\n')
        if outcome.installed:
            self.out(f"NAME:   {name}\n" + ("" if dry_run else status_block(rel, 2)))
        else:
            self.out(f'Release "{name}" has been upgraded.\n' + ("" if dry_run else status_block(rel, 2)))
        return 0

    def cmd_upgrade(self, args):
        flags = self.deploy_flags() + [Flag("install", "bool", "i"), Flag("reuse-values", "bool"),
                                       Flag("reset-values", "bool"), Flag("reset-then-reuse-values", "bool")]
        opts, pos = self.parse(args, flags)
        self.need_args(pos, 2, "upgrade", "upgrade [RELEASE] [CHART]",
                       "This command needs 2 arguments: release name, chart path")
        return self.run_deploy(pos[0], pos[1], opts, "upgrade")

    def cmd_install(self, args):
        flags = self.deploy_flags()
        if self.dialect == 2:
            flags += [Flag("name", "str", "n"), Flag("replace", "bool"), Flag("name-template")]
        else:
            flags += [Flag("generate-name", "bool", "g"), Flag("replace", "bool")]
        opts, pos = self.parse(args, flags)
        if self.dialect == 3:
            if opts["generate-name"] and len(pos) == 1:
                pos = [_random_name(), pos[0]]
            if len(pos) != 2:
                raise HelmError("must either provide a name or specify --generate-name" if len(pos) < 2 else
                                f"expected at most two arguments, unexpected arguments: {', '.join(pos[2:])}")
            name, chart_ref = pos
        else:
            if len(pos) != 1:
                raise HelmError("This command needs 1 argument: chart name")
            name, chart_ref = opts["name"] or _random_name(), pos[0]
        return self.run_deploy(name, chart_ref, opts, "install")

    # -- dispatch ----------------------------------------------------------------------------
    def run(self, argv: list[str]) -> int:
        # global flags with a value may come before the command
        i, pre = 0, []
        valued = {f"--{f.name}" for f in global_flags(self.dialect) if f.kind != "bool"} | \
                 {f"-{f.short}" for f in global_flags(self.dialect) if f.short and f.kind != "bool"}
        while i < len(argv) and argv[i].startswith("-"):
            pre.append(argv[i])
            if argv[i] in valued and i + 1 < len(argv):
                pre.append(argv[i + 1])
                i += 1
            i += 1
        if i >= len(argv):
            if "--version" in pre or "-h" in pre or "--help" in pre or not argv:
                self.out("The Kubernetes package manager (c7n sandbox helm)\n\nUsage:\n  helm [command]\n")
                return 0
            raise HelmError("unknown command for \"helm\"")
        command, rest = argv[i], pre + argv[i + 1:]
        commands = {"version": self.cmd_version, "repo": self.cmd_repo, "search": self.cmd_search,
                    "list": self.cmd_list, "ls": self.cmd_list, "get": self.cmd_get, "status": self.cmd_status,
                    "history": self.cmd_history, "hist": self.cmd_history, "upgrade": self.cmd_upgrade,
                    "install": self.cmd_install, "init": self.cmd_init}
        if command not in commands:
            raise HelmError(f'unknown command "{command}" for "helm"\nRun \'helm --help\' for usage.')
        return commands[command](rest)


def _go_layout(layout: str) -> str:
    """Translate the common parts of a Go time layout to strftime."""
    for go, py in (("2006", "%Y"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("04", "%M"), ("05", "%S"),
                   ("Jan", "%b"), ("Mon", "%a"), ("MST", "UTC"), ("-0700", "+0000")):
        layout = layout.replace(go, py)
    return layout


def _random_name() -> str:
    import random
    return f"{random.choice(['funny', 'zany', 'brave', 'quiet', 'eager'])}-{random.choice(['bunny', 'otter', 'lynx', 'heron'])}"


def _default_release(settings: Settings, chart_name: str) -> Optional[str]:
    step = sandbox_plan_step(settings, chart_name)
    return chartlib._field(step, "release") if step is not None else None


def version_matches(version: str, constraint: str) -> bool:
    """A small subset of semver constraints: exact, =, >=, <=, >, <, comma = and."""
    key = chartlib.version_key(version.lstrip("v"))
    for part in constraint.split(","):
        part = part.strip()
        match = re.fullmatch(r"(>=|<=|>|<|=|!=)?\s*v?(.+)", part)
        if not match:
            return False
        op, other = match.group(1) or "=", chartlib.version_key(match.group(2))
        ok = {"=": key == other, "!=": key != other, ">=": key >= other, "<=": key <= other,
              ">": key > other, "<": key < other}[op]
        if not ok:
            return False
    return True


# =============================================================================================
# entry point
# =============================================================================================
def log_call(directory: Path, argv: list[str], code: int) -> None:
    line = json.dumps({"argv": list(argv), "exit": code, "time": time.time()}) + "\n"
    fd = os.open(directory / CALLS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write: lines from concurrent calls do not interleave
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    chunks: list[str] = []
    code = 1
    directory: Optional[Path] = None
    try:
        directory = sandbox_dir()
        config = read_sandbox_json(directory)
        cli = Cli(int(config.get("helm_dialect", 2)), directory, config, chunks.append)
        code = cli.run(list(argv))
    except HelmError as exc:
        sys.stdout.write("".join(chunks))
        chunks = []
        sys.stderr.write(f"Error: {exc}\n")
        code = 1
    except KubeApiError as exc:
        sys.stdout.write("".join(chunks))
        chunks = []
        sys.stderr.write(f"Error: {exc.message}\n")
        code = 1
    except Exception as exc:  # never a traceback: helm prints one error line
        sys.stdout.write("".join(chunks))
        chunks = []
        sys.stderr.write(f"Error: {type(exc).__name__}: {exc}\n")
        code = 1
    finally:
        sys.stdout.write("".join(chunks))
        sys.stdout.flush()
        if directory is not None and directory.is_dir():
            log_call(directory, argv, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
