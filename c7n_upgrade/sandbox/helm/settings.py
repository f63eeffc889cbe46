"""Where the sandbox helm works: D/sandbox.json, the kubeconfig and context, the namespace, the
repository files and the sandbox's faults."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from c7n_upgrade.sandbox import charts as chartlib
from c7n_upgrade.sandbox.faults import load_faults
from c7n_upgrade.sandbox.kubeapi import KubeApi

from .errors import HelmCliError


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
        raise HelmCliError("C7N_SANDBOX_DIR is not set: this helm belongs to a c7n sandbox")
    return Path(value)


def read_sandbox_json(directory: Path) -> dict:
    try:
        return json.loads((directory / "sandbox.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HelmCliError(f"{directory / 'sandbox.json'} not found: is the sandbox up?") from None


def _kubeconfig(opts: dict, directory: Path) -> Optional[dict]:
    candidates = [opts.get("kubeconfig")] if opts.get("kubeconfig") else \
        [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p] or [str(directory / "kubeconfig")]
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if path.is_file():
            return chartlib.load_yaml(path.read_text(encoding="utf-8")) or {}
        if opts.get("kubeconfig"):
            raise HelmCliError(f"Kubernetes cluster unreachable: stat {candidate}: no such file or directory")
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
            raise HelmCliError(f'Kubernetes cluster unreachable: context "{context_name}" does not exist')
        context = contexts[context_name]
        kube_namespace = context.get("namespace")
        clusters = {c.get("name"): c.get("cluster") or {} for c in kubeconfig.get("clusters") or []}
        api_url = clusters.get(context.get("cluster"), {}).get("server") or api_url
    elif opts.get("kube-context"):
        raise HelmCliError(f'Kubernetes cluster unreachable: context "{opts["kube-context"]}" does not exist')
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
