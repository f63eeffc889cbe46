"""go-register-server 0.9: ``/eureka/apps`` built from the pods through the API, as it really does."""
from __future__ import annotations

import time

from .common import LABEL_METRICS, LABEL_SERVICE, LABEL_VERSION, json_answer, not_found


def _pod_first_container_ready_running(pod: dict) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if not statuses:
        return False
    first = statuses[0]
    return bool(first.get("ready")) and bool((first.get("state") or {}).get("running") is not None) \
        and bool((pod.get("spec") or {}).get("containers"))


def pod_to_instance(pod: dict, now: int) -> dict:
    """go-register-server 0.9 ``ConvertPod2Instance``."""
    labels = pod["metadata"].get("labels") or {}
    ip = (pod.get("status") or {}).get("podIP", "")
    service = labels.get(LABEL_SERVICE, "")
    mgmt = labels.get(LABEL_METRICS, "")
    ports = pod["spec"]["containers"][0].get("ports") or []
    port = int(ports[0]["containerPort"]) if ports else 0
    metadata = {"VERSION": labels.get(LABEL_VERSION, "")}
    if "choerodon.io/context-path" in labels:
        metadata["CONTEXT-PATH"] = labels["choerodon.io/context-path"]
    return {
        "instanceId": f"{ip}:{service}:{port}",
        "hostName": ip,
        "app": service,
        "ipAddr": ip,
        "status": "UP",
        "overriddenstatus": "UNKNOWN",
        "port": {"@enabled": True, "$": port},
        "securePort": {"@enabled": False, "$": 443},
        "countryId": 8,
        "dataCenterInfo": {"name": "MyOwn", "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"},
        "leaseInfo": {"renewalIntervalInSecs": 10, "durationInSecs": 90, "registrationTimestamp": now,
                      "lastRenewalTimestamp": now, "evictionTimestamp": 0, "serviceUpTimestamp": now},
        "metadata": metadata,
        "homePageUrl": f"http://{ip}:{port}/",
        "statusPageUrl": f"http://{ip}:{mgmt}/info",
        "healthCheckUrl": f"http://{ip}:{mgmt}/health",
        "vipAddress": service,
        "secureVipAddress": service,
        "isCoordinatingDiscoveryServer": True,
        "lastUpdatedTimestamp": now,
        "lastDirtyTimestamp": now,
        "actionType": "ADDED",
    }


def eureka_apps(store, namespaces: list[str]) -> dict:
    """The registry exactly as go-register-server 0.9 builds it from the pods (JSON shape)."""
    now = int(time.time())
    apps: dict[str, dict] = {}
    order: list[str] = []
    for ns in namespaces:
        for pod in store.list("pods", ns):
            labels = pod["metadata"].get("labels") or {}
            if not all(k in labels for k in (LABEL_SERVICE, LABEL_VERSION, LABEL_METRICS)):
                continue
            if not _pod_first_container_ready_running(pod):
                continue
            inst = pod_to_instance(pod, now)
            if inst["app"] not in apps:
                apps[inst["app"]] = {"name": inst["app"], "instance": []}
                order.append(inst["app"])
            apps[inst["app"]]["instance"].append(inst)
    return {"applications": {"application": [apps[n] for n in order],
                             "apps__hashcode": "app_hashcode", "versions__delta": 2}}


def serve_register(world, pod, method: str, path: str) -> tuple[int, dict, bytes]:
    if method in ("GET", "HEAD") and path == "/health":
        return json_answer(200, {"status": "UP"})
    if method in ("GET", "HEAD") and path == "/eureka/apps":
        nss = [n.strip() for n in (pod.env.get("REGISTER_SERVICE_NAMESPACE") or pod.namespace).split(",") if n.strip()]
        return json_answer(200, eureka_apps(world.store, nss))
    if method in ("GET", "HEAD") and path == "/eureka/apps/delta":
        return json_answer(200, {"applications": {"application": [], "apps__hashcode": "app_hashcode",
                                                  "versions__delta": 2}})
    if method == "POST" and path.startswith("/eureka/apps/"):
        return 204, {}, b""
    if method == "PUT" and path.startswith("/eureka/apps/"):
        return 200, {}, b""
    if method == "GET" and path == "/":
        return 200, {"Content-Type": "text/html; charset=utf-8"}, b"<html><body><h1>Eureka</h1></body></html>"
    return not_found(path)
