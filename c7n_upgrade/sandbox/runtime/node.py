"""The sandbox's one Node, registered as a kubelet registers its node: Ready, with this machine's
capacity, the pods' node (`sandbox-node`, host IP 127.0.0.1). Its status is written once: no
heartbeats, and nothing evicts pods from it."""
from __future__ import annotations

import os
import platform

from .containers import NODE_NAME
from .pods import now_rfc3339

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def node_object(kube_minor: int) -> dict:
    arch = ARCH.get(platform.machine(), platform.machine())
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE_NAME, "labels": {
        "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, "node-role.kubernetes.io/master": ""}},
        "spec": {"podCIDR": "127.20.0.0/16", "podCIDRs": ["127.20.0.0/16"]}}


def node_status(kube_minor: int) -> dict:
    now = now_rfc3339()
    memory_kib = _memory_kib()
    capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib}Ki", "pods": "110",
                "ephemeral-storage": "52416492Ki", "hugepages-2Mi": "0"}

    def condition(kind, status, reason, message):
        return {"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now,
                "reason": reason, "message": message}

    return {
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
        "capacity": capacity, "allocatable": dict(capacity),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"kubeletVersion": f"v1.{kube_minor}.12", "kubeProxyVersion": f"v1.{kube_minor}.12",
                     "containerRuntimeVersion": "sandbox://1.0", "operatingSystem": "linux",
                     "architecture": ARCH.get(platform.machine(), platform.machine()),
                     "osImage": "c7n-upgrade sandbox", "kernelVersion": platform.release(),
                     "machineID": "", "systemUUID": "", "bootID": ""},
    }


def register_node(store, kube_minor: int) -> None:
    """Create the node (or take over one left from before) and post its status."""
    if store.get_or_none("nodes", None, NODE_NAME) is None:
        store.create("nodes", node_object(kube_minor))
    store.update_status("nodes", None, NODE_NAME, node_status(kube_minor))


def _memory_kib() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 4 * 1024 * 1024
