"""KubeClient: what the suite asks of Kubernetes, over the official `kubernetes` client.

One client object, built from parts that each hold one concern:
`transport` (connection, request recording for RBAC, error mapping, the one get-or-none),
`cluster` (version, namespaces, events), `pods` (pods, Services, logs), `jobs` (hook Jobs),
`crds`, `lock` (the upgrade lock ConfigMap) and `proxy` (GET through the API server).
Errors (`errors`) carry messages an operator can act on: `ClusterUnreachable` names the API server
URL, `KubeForbidden` the verb, resource and namespace.
"""
from .cluster import Cluster
from .crds import Crds
from .errors import (ClusterUnreachable, JobStillActive, KubeApiError, KubeError, KubeForbidden, KubeNotFound,
                     KubeTimeout, ProxyRefused)
from .jobs import JobInfo, Jobs
from .lock import DEFAULT_LOCK, Lock, LockHeld, LockInfo, LockLease, LockLost, lock_text
from .pods import RELEASE_LABEL, SERVICE_LABEL, VERSION_LABEL, ContainerState, PodInfo, Pods, ServiceInfo
from .proxy import Proxy


class KubeClient(Cluster, Pods, Jobs, Crds, Lock, Proxy):
    """The suite's view of a Kubernetes namespace."""


__all__ = [
    "DEFAULT_LOCK", "RELEASE_LABEL", "SERVICE_LABEL", "VERSION_LABEL",
    "ClusterUnreachable", "ContainerState", "JobInfo", "JobStillActive", "KubeApiError", "KubeClient", "KubeError",
    "KubeForbidden", "KubeNotFound", "KubeTimeout", "LockHeld", "LockInfo", "LockLease", "LockLost", "PodInfo",
    "ProxyRefused", "ServiceInfo", "lock_text",
]
