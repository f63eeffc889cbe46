"""Releases where real helm stores them, through the Kubernetes REST API:

  v3: Secret  sh.helm.release.v1.NAME.vN in the release namespace, type helm.sh/release.v1,
      data.release = base64(gzip(JSON))  (base64 once more in the Secret's data, as in Kubernetes);
  v2: ConfigMap NAME.vN in the Tiller namespace, data.release = base64(gzip(JSON)).
      Deviation: real Tiller stores protobuf; we store the protobuf's JSON mapping.
"""
from __future__ import annotations

import base64
import gzip
import json
import time
from dataclasses import dataclass, field
from typing import Optional

from c7n_upgrade.sandbox import charts as chartlib
from c7n_upgrade.sandbox.kubeapi import KubeApi

from .formats import parse_rfc3339, rfc3339, to_yaml


V2_STATUS_CODES = {"unknown": 0, "deployed": 1, "deleted": 2, "superseded": 3, "failed": 4, "deleting": 5,
                   "pending-install": 6, "pending-upgrade": 7, "pending-rollback": 8, "uninstalled": 2,
                   "uninstalling": 5}


V2_CODE_NAMES = {0: "UNKNOWN", 1: "DEPLOYED", 2: "DELETED", 3: "SUPERSEDED", 4: "FAILED", 5: "DELETING",
                 6: "PENDING_INSTALL", 7: "PENDING_UPGRADE", 8: "PENDING_ROLLBACK"}


def v2_status(status: str) -> str:
    """The Helm 2 status name (DEPLOYED, SUPERSEDED...) of a Helm 3 status word."""
    return V2_CODE_NAMES[V2_STATUS_CODES.get(status, 0)]


@dataclass
class StoredRelease:
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
    templates: list = field(default_factory=list)   # the chart's templates: [{"name", "data": base64}]

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
                "chart": {"metadata": self.chart, "lock": None, "templates": self.templates, "values": self.chart_values,
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
    def from_v3(cls, data: dict) -> "StoredRelease":
        info = data.get("info") or {}
        chart = data.get("chart") or {}
        return cls(name=data["name"], namespace=data.get("namespace", ""), version=int(data.get("version", 0)),
                   status=info.get("status", "unknown"), first_deployed=parse_rfc3339(info.get("first_deployed", "")),
                   last_deployed=parse_rfc3339(info.get("last_deployed", "")), description=info.get("description", ""),
                   chart=chart.get("metadata") or {}, chart_values=chart.get("values") or {},
                   config=data.get("config") or {}, manifest=data.get("manifest", ""),
                   hooks=data.get("hooks") or [], notes=info.get("notes", ""), templates=chart.get("templates") or [])

    # -- helm 2 (the JSON mapping of hapi.release.Release) -------------------------------
    def to_v2(self) -> dict:
        status = {"code": V2_STATUS_CODES.get(self.status, 0)}
        if self.notes:
            status["notes"] = self.notes
        return {"name": self.name,
                "info": {"status": status, "first_deployed": {"seconds": int(self.first_deployed)},
                         "last_deployed": {"seconds": int(self.last_deployed)}, "Description": self.description},
                "chart": {"metadata": self.chart, "templates": self.templates,
                          "values": {"raw": to_yaml(self.chart_values)}},
                "config": {"raw": to_yaml(self.config) if self.config else ""},
                "manifest": self.manifest, "hooks": self.hooks, "version": self.version,
                "namespace": self.namespace}

    @classmethod
    def from_v2(cls, data: dict) -> "StoredRelease":
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
                   notes=(info.get("status") or {}).get("notes", ""), templates=chart.get("templates") or [])


class ReleaseStorage:
    """Helm 3 Secrets driver or Helm 2 (Tiller) ConfigMaps driver, over the REST API."""

    def __init__(self, api: KubeApi, dialect: int, tiller_namespace: str = "kube-system"):
        self.api, self.dialect, self.tiller_namespace = api, dialect, tiller_namespace

    def object_name(self, name: str, version: int) -> str:
        return f"sh.helm.release.v1.{name}.v{version}" if self.dialect == 3 else f"{name}.v{version}"

    def _encode(self, rel: StoredRelease) -> dict:
        if self.dialect == 3:
            payload = base64.b64encode(gzip.compress(json.dumps(rel.to_v3()).encode())).decode()
            return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                    "metadata": {"name": self.object_name(rel.name, rel.version), "namespace": rel.namespace,
                                 "labels": {"name": rel.name, "owner": "helm", "status": rel.status,
                                            "version": str(rel.version), "modifiedAt": str(int(time.time()))}},
                    "data": {"release": base64.b64encode(payload.encode()).decode()}}
        payload = base64.b64encode(gzip.compress(json.dumps(rel.to_v2()).encode())).decode()
        status = v2_status(rel.status)
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": self.object_name(rel.name, rel.version), "namespace": self.tiller_namespace,
                             "labels": {"NAME": rel.name, "OWNER": "TILLER", "STATUS": status,
                                        "VERSION": str(rel.version), "MODIFIED_AT": str(int(time.time()))}},
                "data": {"release": payload}}

    def _decode(self, obj: dict) -> StoredRelease:
        raw = (obj.get("data") or {}).get("release", "")
        if self.dialect == 3:
            raw = base64.b64decode(raw).decode()
            return StoredRelease.from_v3(json.loads(gzip.decompress(base64.b64decode(raw))))
        return StoredRelease.from_v2(json.loads(gzip.decompress(base64.b64decode(raw))))

    def _where(self, namespace: Optional[str]) -> tuple[str, Optional[str], str]:
        if self.dialect == 3:
            return "secrets", namespace, "owner=helm"
        return "configmaps", self.tiller_namespace, "OWNER=TILLER"

    def all(self, namespace: Optional[str] = None) -> list[StoredRelease]:
        resource, ns, selector = self._where(namespace)
        releases = [self._decode(o) for o in self.api.list(resource, ns, selector)
                    if self.dialect == 2 or o.get("type") == "helm.sh/release.v1"]
        if self.dialect == 2 and namespace:
            releases = [r for r in releases if r.namespace == namespace]
        return releases

    def history(self, name: str, namespace: Optional[str]) -> list[StoredRelease]:
        resource, ns, selector = self._where(namespace)
        selector += f",name={name}" if self.dialect == 3 else f",NAME={name}"
        releases = [self._decode(o) for o in self.api.list(resource, ns, selector)]
        return sorted(releases, key=lambda r: r.version)

    def create(self, rel: StoredRelease) -> None:
        resource, ns, _ = self._where(rel.namespace)
        self.api.create(resource, ns, self._encode(rel))

    def update(self, rel: StoredRelease) -> None:
        resource, ns, _ = self._where(rel.namespace)
        name = self.object_name(rel.name, rel.version)
        obj = self._encode(rel)
        current = self.api.get(resource, ns, name)
        obj["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        self.api.replace(resource, ns, name, obj)


def latest_per_name(releases: list[StoredRelease]) -> list[StoredRelease]:
    latest: dict[tuple[str, str], StoredRelease] = {}
    for rel in releases:
        key = (rel.namespace, rel.name)
        if key not in latest or rel.version > latest[key].version:
            latest[key] = rel
    return list(latest.values())
