"""Spring Boot 1.5 ``/health`` of a pod: diskSpace, discovery, config server, database, the devops CRD,
and what the release's fault adds."""
from __future__ import annotations

import re
import shutil
import threading
import time
from typing import Any, Optional

try:  # PyMySQL is a project dependency; keep the module importable without it for the unit tests
    import pymysql
except ImportError:  # pragma: no cover
    pymysql = None

from .common import CONFIG_CHART, FRONT_CHART, REGISTER_CHART, version_tuple


DB_CHECKED_CHARTS = ("notify-service", "asgard-service")


CRD_NAME = "c7nhelmreleases.choerodon.io"


DISK_THRESHOLD = 10485760


DB_CACHE_SECONDS = 1.0


def _disk_space() -> dict:
    try:
        usage = shutil.disk_usage("/")
        total, free = usage.total, usage.free
    except OSError:  # pragma: no cover
        total, free = 53660876800, 31457280000
    return {"status": "UP", "total": total, "free": free, "threshold": DISK_THRESHOLD}


_db_cache: dict[tuple, tuple[float, Optional[str]]] = {}


_db_cache_lock = threading.Lock()


def parse_jdbc_url(url: str) -> tuple[str, int, str]:
    """'jdbc:mysql://host:3306/db?x=y' -> ('host', 3306, 'db')."""
    m = re.match(r"jdbc:mysql://([^:/?]+)(?::(\d+))?/([^?]*)", url or "")
    if not m:
        raise ValueError(f"not a jdbc:mysql URL: {url!r}")
    return m.group(1), int(m.group(2) or 3306), m.group(3)


def check_datasource(url: str, user: str, password: str) -> Optional[str]:
    """None when `user` can log in to the database of `url`; else the error text. Cached ~1 s."""
    key = (url, user, password)
    now = time.monotonic()
    with _db_cache_lock:
        hit = _db_cache.get(key)
        if hit and now - hit[0] < DB_CACHE_SECONDS:
            return hit[1]
    error: Optional[str]
    try:
        host, port, database = parse_jdbc_url(url)
        if pymysql is None:
            raise RuntimeError("PyMySQL is not installed")
        conn = pymysql.connect(host=host, port=port, user=user, password=password.encode("utf-8"), database=database,
                               connect_timeout=1, read_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
        error = None
    except Exception as exc:  # any failure means DOWN; keep the driver's words
        error = f"{type(exc).__name__}: {exc}"
    with _db_cache_lock:
        _db_cache[key] = (time.monotonic(), error)
    return error


def health(world, pod) -> tuple[int, dict]:
    """Spring Boot 1.5 ``/health``: (200, body) when UP, (503, body) when DOWN. A pod that is no
    Choerodon service (no choerodon.io/service label, e.g. `kubectl create deployment`) is a generic
    container: Ready once it runs."""
    chart = pod.service
    if not chart:
        return 200, {"status": "UP"}
    body: dict[str, Any] = {"status": "UP"}

    def component(name: str, status: str, **details):
        body[name] = {"status": status, **details}

    if chart == FRONT_CHART:
        pass  # nginx: no Spring health
    elif chart == REGISTER_CHART:
        pass  # go-register-server answers a bare {"status":"UP"}
    else:
        component("diskSpace", "UP", **{k: v for k, v in _disk_space().items() if k != "status"})
        if not world.ready_pods(REGISTER_CHART):
            component("discoveryComposite", "DOWN", discoveryClient={
                "status": "DOWN", "error": "com.netflix.discovery.shared.transport.TransportException: "
                "Cannot execute request on any known server"})
        else:
            component("discoveryComposite", "UP", discoveryClient={"status": "UP", "services": sorted(
                {p.service for p in world.ready_pods(None)})})
        if chart != CONFIG_CHART:
            if not world.ready_pods(CONFIG_CHART):
                component("configServer", "DOWN", error="org.springframework.web.client.ResourceAccessException: "
                          "I/O error on GET request for \"http://config-server:8010/\": Connection refused")
            else:
                component("configServer", "UP", propertySources=[f"{chart}-default"])
        env = pod.env
        has_db = bool(env.get("SPRING_DATASOURCE_URL"))
        if chart in DB_CHECKED_CHARTS:
            if not has_db:
                component("db", "DOWN", error="java.lang.IllegalStateException: SPRING_DATASOURCE_URL is not set")
            else:
                err = check_datasource(env.get("SPRING_DATASOURCE_URL", ""), env.get("SPRING_DATASOURCE_USERNAME", ""),
                                       env.get("SPRING_DATASOURCE_PASSWORD", ""))
                if err:
                    component("db", "DOWN", error=f"org.springframework.jdbc.CannotGetJdbcConnectionException: {err}")
                else:
                    component("db", "UP", database="MySQL", hello=1)
        elif has_db:
            component("db", "UP", database="MySQL", hello=1)
        if chart == "devops-service" and version_tuple(pod.version) >= (0, 9, 0):
            if not world.crd_exists(CRD_NAME):
                component("c7nHelmRelease", "DOWN", error=f"io.fabric8.kubernetes.client.KubernetesClientException: "
                          f"customresourcedefinitions.apiextensions.k8s.io \"{CRD_NAME}\" not found")
    fault = world.pod_fault(pod)
    if fault is not None:
        fault.on_health(pod, body, world.upgrading(pod))
    down = any(isinstance(v, dict) and v.get("status") != "UP" for v in body.values())
    body["status"] = "DOWN" if down else "UP"
    # Spring Boot puts status first; keep that order for humans reading bodies
    ordered = {"status": body.pop("status"), **body}
    return (503 if down else 200), ordered
