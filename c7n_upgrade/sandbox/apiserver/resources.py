"""The resource types the API serves (built in, and custom ones while their CRD exists), which
versions each minor serves, and CRD defaulting."""
from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass


ALL_VERSIONS = (0, 999)


@dataclass(frozen=True)
class ResourceType:
    plural: str
    group: str
    kind: str
    namespaced: bool
    # (version, first served minor, last served minor), preferred first
    versions: tuple = (("v1", *ALL_VERSIONS),)
    short_names: tuple = ()
    subresources: tuple = ()          # e.g. ("status", "log", "proxy")
    generation: bool = False          # metadata.generation kept
    singular: str = ""

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def served_versions(self, kube_minor: int) -> list[str]:
        return [v for v, lo, hi in self.versions if lo <= kube_minor <= hi]


BUILTIN_TYPES = (
    ResourceType("pods", "", "Pod", True, short_names=("po",), subresources=("status", "log", "proxy")),
    ResourceType("services", "", "Service", True, short_names=("svc",), subresources=("status", "proxy")),
    ResourceType("namespaces", "", "Namespace", False, short_names=("ns",), subresources=("status",)),
    ResourceType("events", "", "Event", True, short_names=("ev",)),
    ResourceType("configmaps", "", "ConfigMap", True, short_names=("cm",)),
    ResourceType("secrets", "", "Secret", True),
    ResourceType("deployments", "apps", "Deployment", True,
                 versions=(("v1", 9, 999), ("v1beta2", 8, 15), ("v1beta1", 0, 15)),
                 short_names=("deploy",), subresources=("status", "scale"), generation=True),
    ResourceType("replicasets", "apps", "ReplicaSet", True,
                 versions=(("v1", 9, 999), ("v1beta2", 8, 15)),
                 short_names=("rs",), subresources=("status", "scale"), generation=True),
    # the workload kinds the runtime runs pods for (issue 11; issue 12 owns the registry)
    ResourceType("replicationcontrollers", "", "ReplicationController", True, short_names=("rc",),
                 subresources=("status", "scale"), generation=True),
    ResourceType("statefulsets", "apps", "StatefulSet", True,
                 versions=(("v1", 9, 999), ("v1beta2", 8, 15), ("v1beta1", 0, 15)),
                 short_names=("sts",), subresources=("status", "scale"), generation=True),
    ResourceType("daemonsets", "apps", "DaemonSet", True,
                 versions=(("v1", 9, 999), ("v1beta2", 8, 15)),
                 short_names=("ds",), subresources=("status",), generation=True),
    ResourceType("jobs", "batch", "Job", True, subresources=("status",), generation=True),
    ResourceType("leases", "coordination.k8s.io", "Lease", True,
                 versions=(("v1", 14, 999), ("v1beta1", 0, 21))),
    ResourceType("customresourcedefinitions", "apiextensions.k8s.io", "CustomResourceDefinition", False,
                 versions=(("v1", 16, 999), ("v1beta1", 0, 21)),
                 short_names=("crd", "crds"), subresources=("status",), generation=True),
)


CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"


def custom_resource_type(crd: dict) -> ResourceType:
    """The resource type a CustomResourceDefinition adds while it exists."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    versions = tuple((v["name"], *ALL_VERSIONS) for v in spec.get("versions", []) if v.get("served", True))
    return ResourceType(
        names.get("plural", ""), spec.get("group", ""), names.get("kind", ""),
        spec.get("scope", "Namespaced") == "Namespaced", versions=versions,
        short_names=tuple(names.get("shortNames", [])), generation=True,
        subresources=tuple(spec.get("subresources", {}) or {}), singular=names.get("singular", ""))


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_crd(crd: dict) -> None:
    """Defaults the API server applies to a CRD (both v1beta1 and v1 shapes kept in one object)."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    if not spec.get("versions") and spec.get("version"):
        spec["versions"] = [{"name": spec["version"], "served": True, "storage": True}]
    for v in spec.get("versions", []):
        v.setdefault("served", True)
        v.setdefault("storage", True)
    if spec.get("versions") and spec.get("version") not in [v.get("name") for v in spec["versions"]]:
        spec["version"] = spec["versions"][0]["name"]
    spec.setdefault("scope", "Namespaced")
    status = crd.get("status") or {}
    if status.get("conditions"):        # already established: refresh the derived fields only
        status["acceptedNames"] = copy.deepcopy(names)
        status["storedVersions"] = sorted({*status.get("storedVersions", []),
                                           *(v["name"] for v in spec.get("versions", []) if v.get("storage"))})
        crd["status"] = status
        return
    now = now_rfc3339()
    crd["status"] = {
        "acceptedNames": copy.deepcopy(names),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }


def present(rtype: ResourceType, version: str, obj: dict) -> dict:
    """The object as served at `version` (apiVersion set; CRDs converted between v1beta1 and v1)."""
    obj["apiVersion"] = rtype.api_version(version)
    obj["kind"] = rtype.kind
    if rtype.key == CRD_KEY and version == "v1":
        spec = obj.get("spec", {})
        spec.pop("version", None)
        validation = spec.pop("validation", None)
        subresources = spec.pop("subresources", None)
        columns = spec.pop("additionalPrinterColumns", None)
        for v in spec.get("versions", []):
            if validation and "schema" not in v:
                v["schema"] = validation
            if subresources and "subresources" not in v:
                v["subresources"] = subresources
            if columns and "additionalPrinterColumns" not in v:
                v["additionalPrinterColumns"] = columns
        if not any("schema" in v for v in spec.get("versions", [])):
            spec.setdefault("preserveUnknownFields", True)
    return obj
