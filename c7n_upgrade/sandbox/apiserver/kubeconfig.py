"""The kubeconfig for the sandbox API server."""
from __future__ import annotations

import os

import yaml


def write_kubeconfig(path, server_url, namespace, context="sandbox") -> None:
    """Kubeconfig for the sandbox API server: plain http, a dummy token (not a secret), mode 0600."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": server_url}}],
        "users": [{"name": context, "user": {"token": "sandbox-dummy-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, default_flow_style=False, sort_keys=False)
    os.chmod(path, 0o600)
