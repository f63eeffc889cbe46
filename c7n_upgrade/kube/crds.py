"""CustomResourceDefinitions: served versions, get, create (v1beta1 as the guide writes it, or v1), compare."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .transport import Transport

CRD_GROUP = "apiextensions.k8s.io"
CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


def _spec_dict(spec: Any) -> dict:
    if hasattr(spec, "model_dump"):
        return spec.model_dump()
    return dict(spec)


class Crds(Transport):
    _crd_versions: list[str] | None = None  # discovery, asked once

    def crd_api_versions(self, refresh: bool = False) -> list[str]:
        """Versions of apiextensions.k8s.io the server serves, preferred first (e.g. ['v1', 'v1beta1'])."""
        if self._crd_versions is not None and not refresh:
            return list(self._crd_versions)
        doc = self._get_or_none(f"/apis/{CRD_GROUP}", resource=f"nonResourceURLs:/apis/{CRD_GROUP}")
        versions: list[str] = []
        if doc is not None:
            preferred = ((doc.get("preferredVersion") or {}).get("version"))
            versions = [v.get("version") for v in doc.get("versions") or [] if v.get("version")]
            order = {"v1": 0, "v1beta1": 1}
            versions.sort(key=lambda v: (order.get(v, 2), v))
            if preferred in versions and preferred not in ("v1", "v1beta1"):
                versions.remove(preferred)
                versions.insert(0, preferred)
        self._crd_versions = versions
        return list(versions)

    def get_crd(self, name: str) -> dict | None:
        """The CRD as served (v1 shape if the server serves v1, else v1beta1), or None when absent."""
        served = [v for v in self.crd_api_versions() if v in ("v1", "v1beta1")]
        # any served version answers for the object; without discovery, try both
        for version in served[:1] or ["v1", "v1beta1"]:
            crd = self._get_or_none(f"/apis/{CRD_GROUP}/{version}/customresourcedefinitions/{quote(name, safe='')}",
                                    resource=CRD_RESOURCE, name=name)
            if crd is not None:
                return crd
        return None

    @staticmethod
    def crd_body(spec: Any, api_version: str) -> dict:
        """The CRD object: v1beta1 exactly as the guide's YAML, or the equivalent v1 object."""
        s = _spec_dict(spec)
        body = {"apiVersion": f"{CRD_GROUP}/{api_version}", "kind": "CustomResourceDefinition",
                "metadata": {"name": s["name"]},
                "spec": {"group": s["group"], "names": dict(s["names"]), "scope": s["scope"]}}
        if api_version == "v1beta1":
            body["spec"]["version"] = s["version"]
        else:
            schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
            body["spec"]["versions"] = [{"name": s["version"], "served": True, "storage": True, "schema": schema}]
        return body

    def create_crd(self, spec: Any) -> dict:
        """Create the CRD: the guide's v1beta1 body when v1beta1 is served, else a v1 body."""
        s = _spec_dict(spec)
        versions = self.crd_api_versions()
        api_version = "v1beta1" if "v1beta1" in versions else "v1"
        body = self.crd_body(s, api_version)
        resp = self._request("POST", f"/apis/{CRD_GROUP}/{api_version}/customresourcedefinitions", verb="create",
                             resource=CRD_RESOURCE, body=body, name=s["name"])
        return resp.json() or body

    @staticmethod
    def crd_matches(crd: dict, spec: Any) -> list[str]:
        """Problems between a served CRD (v1 or v1beta1 shape) and the plan's spec; empty = matches."""
        s = _spec_dict(spec)
        problems: list[str] = []
        meta = crd.get("metadata") or {}
        cs = crd.get("spec") or {}
        if s.get("name") and meta.get("name") != s["name"]:
            problems.append(f"metadata.name is {meta.get('name')!r}, expected {s['name']!r}")
        if cs.get("group") != s["group"]:
            problems.append(f"spec.group is {cs.get('group')!r}, expected {s['group']!r}")
        if cs.get("scope") != s["scope"]:
            problems.append(f"spec.scope is {cs.get('scope')!r}, expected {s['scope']!r}")
        names = cs.get("names") or {}
        for key, want in (s.get("names") or {}).items():
            if names.get(key) != want:
                problems.append(f"spec.names.{key} is {names.get(key)!r}, expected {want!r}")
        served: list[str] = []
        if cs.get("versions"):
            served = [v.get("name") for v in cs["versions"] if v.get("served", True)]
        elif cs.get("version"):
            served = [cs["version"]]
        if s["version"] not in served:
            problems.append(f"version {s['version']!r} is not served (served: {served or 'none'})")
        for cond in ((crd.get("status") or {}).get("conditions")) or []:
            if cond.get("type") in ("Established", "NamesAccepted") and str(cond.get("status")) == "False":
                problems.append(f"condition {cond.get('type')}=False: {cond.get('reason') or ''} {cond.get('message') or ''}".strip())
        return problems
