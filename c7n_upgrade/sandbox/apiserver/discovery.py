"""What the server says it serves: /version, /api, /apis, each group, and each group-version's
resource list (legacy discovery as plain JSON; kubectl falls back to it from aggregated discovery)."""
from __future__ import annotations

from .errors import not_found
from .resources import BUILTIN_TYPES

ALL_CATEGORY = {"pods", "services", "deployments", "replicasets", "jobs", "replicationcontrollers", "statefulsets",
                "daemonsets"}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "log": ["get"],
                     "proxy": ["create", "delete", "get", "patch", "update"]}
SUBRESOURCE_KINDS = {"log": "Pod", "proxy": None, "scale": "Scale"}   # proxy kind: <Kind>ProxyOptions
SUBRESOURCE_GROUP_VERSIONS = {"scale": ("autoscaling", "v1")}      # the scale client reads these
BUILTIN_KEYS = {t.key for t in BUILTIN_TYPES}


class Discovery:
    def __init__(self, store, kube_minor: int):
        self.store, self.kube_minor = store, kube_minor

    def version(self) -> dict:
        minor = str(self.kube_minor)
        return {"major": "1", "minor": minor, "gitVersion": f"v1.{minor}.12",
                "gitCommit": "e2a822d9f3c2fdb5c9bfbe64313cf9f657f0a725", "gitTreeState": "clean",
                "buildDate": "2020-05-06T05:09:48Z", "goVersion": "go1.12.17", "compiler": "gc",
                "platform": "linux/amd64"}

    def served_types(self, group, version):
        return [t for t in self.store.resource_types()
                if t.group == group and version in t.served_versions(self.kube_minor)]

    def api_groups(self) -> list[dict]:
        groups: dict[str, list[str]] = {}
        for t in self.store.resource_types():
            if t.group:
                for v in t.served_versions(self.kube_minor):
                    if v not in groups.setdefault(t.group, []):
                        groups[t.group].append(v)
        result = []
        for name, versions in groups.items():
            if not versions:
                continue
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
            result.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return result

    def api_group(self, name) -> dict:
        group = next((g for g in self.api_groups() if g["name"] == name), None)
        if group is None:
            raise not_found()
        return {"kind": "APIGroup", "apiVersion": "v1", **group}

    def resource_list(self, group, version) -> dict:
        types = self.served_types(group, version)
        if not types and not (group == "" and version == "v1"):
            raise not_found()
        resources = []
        for t in types:
            entry = {"name": t.plural, "singularName": t.singular or t.kind.lower(), "namespaced": t.namespaced,
                     "kind": t.kind, "verbs": VERBS}
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            if t.plural in ALL_CATEGORY and t.key in BUILTIN_KEYS:
                entry["categories"] = ["all"]
            resources.append(entry)
            for sub in t.subresources:
                kind = SUBRESOURCE_KINDS.get(sub, t.kind) or f"{t.kind}ProxyOptions"
                entry = {"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced,
                         "kind": kind, "verbs": SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"])}
                if sub in SUBRESOURCE_GROUP_VERSIONS:
                    entry["group"], entry["version"] = SUBRESOURCE_GROUP_VERSIONS[sub]
                resources.append(entry)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
