"""Chart repositories: the repositories file and index cache, `repo add`, and finding and
downloading a chart (the plan tells the sandbox its ports and hooks)."""
from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from c7n_upgrade.sandbox import charts as chartlib

from .errors import HelmCliError
from .formats import rfc3339, to_yaml
from .settings import Settings


@dataclass
class ChartPackage:
    meta: dict           # Chart.yaml
    values: dict         # values.yaml
    hooks: tuple         # hook names, from the plan step (or the archive's templates)
    service_port: int
    health_port: Optional[int]
    templates: dict = field(default_factory=dict)   # {"templates/x.yaml": text}, stored with the release


def http_get(url: str, timeout: float = 10.0) -> bytes:
    import urllib.request  # lazily, see kubeapi
    with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as resp:
        return resp.read()


def dial_error(url: str, exc: Exception) -> str:
    parsed = urllib.parse.urlparse(url)
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
        return f"dial tcp {parsed.hostname}:{parsed.port or 80}: connect: connection refused"
    return str(reason)


def fetch_index(url: str, dialect: int) -> str:
    index_url = url.rstrip("/") + "/index.yaml"
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise HelmCliError(f"could not find protocol handler for: {urllib.parse.urlparse(url).scheme}")
    try:
        text = http_get(index_url).decode()
    except urllib.error.HTTPError as exc:
        detail = f"failed to fetch {index_url} : {exc.code} {exc.reason}"
        raise HelmCliError(f'looks like "{url}" is not a valid chart repository or cannot be reached: {detail}'
                           if dialect == 3 else
                           f'Looks like "{url}" is not a valid chart repository or cannot be reached: {detail}') from None
    except (urllib.error.URLError, OSError) as exc:
        get = f'Get "{index_url}"' if dialect == 3 else f"Get {index_url}"
        prefix = "looks like" if dialect == 3 else "Looks like"
        raise HelmCliError(f'{prefix} "{url}" is not a valid chart repository or cannot be reached: '
                           f"{get}: {dial_error(index_url, exc)}") from None
    index = chartlib.load_yaml(text) if text else None
    if not isinstance(index, dict) or "entries" not in index:
        raise HelmCliError(f'looks like "{url}" is not a valid chart repository or cannot be reached: '
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
    taken = HelmCliError(f"repository name ({name}) already exists, please specify a different name")
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


def default_release_name(settings: Settings, chart_name: str) -> Optional[str]:
    step = sandbox_plan_step(settings, chart_name)
    return chartlib._field(step, "release") if step is not None else None


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
                raise HelmCliError(f"repo {ref} not found" if not Path(ref).exists()
                                   else f"sandbox helm does not install local charts: {ref}")
            raise HelmCliError(fail)
        repo = next((r for r in load_repos(settings) if r.get("name") == repo_name), None)
        if repo is None:
            raise HelmCliError(f"repo {repo_name} not found" if settings.dialect == 3 else fail)
        index_text, base = repo_index(settings, repo), repo["url"]
    entries = ((chartlib.load_yaml(index_text) or {}).get("entries") or {}).get(chart_name) or []
    if version:
        wanted = version.lstrip("v")
        entry = next((e for e in entries if str(e.get("version", "")).lstrip("v") == wanted), None)
    else:
        stable = [e for e in entries if "-" not in str(e.get("version", ""))]
        entry = max(stable, key=lambda e: chartlib.version_key(str(e["version"]))) if stable else None
    if entry is None:
        raise HelmCliError(fail)
    url = urllib.parse.urljoin(base.rstrip("/") + "/", entry["urls"][0])
    try:
        archive = http_get(url)
        meta, values = chartlib.read_chart_tgz(archive)
        templates = chartlib.read_chart_templates(archive)
    except (urllib.error.URLError, OSError, ValueError):
        raise HelmCliError(fail) from None
    return package_for(settings, meta, values, templates)


def package_for(settings: Settings, meta: dict, values: dict, templates: Optional[dict] = None) -> ChartPackage:
    """The downloaded chart, with the ports and hooks the sandbox's plan gives it (else its values')."""
    step = sandbox_plan_step(settings, meta["name"])
    if step is not None:
        return ChartPackage(meta, values, tuple(chartlib._field(step, "hooks") or ()),
                            int(chartlib._field(step, "service_port")), chartlib._field(step, "health_port"),
                            dict(templates or {}))
    service_port = int((values.get("service") or {}).get("port") or 8080)
    health_port = (values.get("deployment") or {}).get("managementPort")
    return ChartPackage(meta, values, (), service_port, health_port, dict(templates or {}))
