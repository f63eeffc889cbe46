"""What a sandbox pod answers over HTTP: Spring Boot 1.5 health, go-register-server's registry,
the api-gateway's platform API and the front-end page.

Everything here is a pure function of a ``world`` (the :class:`~c7n_upgrade.sandbox.runtime.Runtime`)
and a ``pod`` (a :class:`~c7n_upgrade.sandbox.runtime.PodInfo`). The runtime calls :func:`health`
in-process from its readiness loop and :func:`serve` from the pod's HTTP listeners.

The world provides::

    world.store, world.namespace, world.plan
    world.ready_pods(chart, namespace=None) -> list[PodInfo]     Ready pods of a chart
    world.pod_fault(pod) -> Fault | None                          fault in effect for this pod
    world.upgrading(pod) -> bool                                  a helm upgrade/install of its release has begun
    world.mysql_admin -> dict | None                              {host, port, user, password}
    world.admin_password, world.oauth_client_id, world.oauth_client_secret
    world.tokens -> dict[str, float]                              access token -> expiry (time.time())
    world.memory_clients -> dict[str, dict]                       OAuth clients when there is no MySQL
    world.devops_check_logs -> list[dict]                         devops_check_log rows when there is no MySQL
    world.crd_exists(name) -> bool
    world.log(pod, line)                                          append to the pod's log

Sandbox choices (documented in the report and the decisions file):
- ``GET /iam/v1/organizations/{org}/clients/query_by_name`` answers 200 with an empty body when
  the client does not exist (iam-service 0.9 returns ``ResponseEntity`` of a null DTO).
- A route whose service has no Ready pod answers like Zuul with no instance: 500
  ``{"status":500,"error":"Internal Server Error","message":"Forwarding error",...}``, except the
  devops smooth-upgrade, which answers the brief's ``{"failed":true,"code":"error.service.unavailable"}``.
- ``GET /devops/v1/upgrade`` answers 200 ``text/plain`` with the epoch milliseconds as a string.
"""
from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta
from typing import Any, Optional

try:  # PyMySQL is a project dependency; keep the module importable without it for the unit tests
    import pymysql
except ImportError:  # pragma: no cover
    pymysql = None

FRONT_HTML = (
    '<!DOCTYPE html><html><head><meta http-equiv="Content-type"content="text/html; charset=utf-8">'
    '<title>Choerodon</title><link rel="shortcut icon"href="favicon.ico"></head><body>'
    '<div id="app"></div><script type="text/javascript"src="app/vendor_19e4b950.js"></script>'
    '<script type="text/javascript"src="app/main_19e4b950.js"></script></body></html>'
)

REGISTER_CHART = "go-register-server"
CONFIG_CHART = "config-server"
FRONT_CHART = "choerodon-front"
GATEWAY_CHART = "api-gateway"
# services whose health really logs in to their database (the steps that create one)
DB_CHECKED_CHARTS = ("notify-service", "asgard-service")
CRD_NAME = "c7nhelmreleases.choerodon.io"
CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"
DISK_THRESHOLD = 10485760

LABEL_SERVICE = "choerodon.io/service"
LABEL_VERSION = "choerodon.io/version"
LABEL_METRICS = "choerodon.io/metrics-port"

JSON = "application/json;charset=UTF-8"
DB_CACHE_SECONDS = 1.0


def version_tuple(version: str | None) -> tuple[int, ...]:
    out = []
    for part in (version or "").split("."):
        m = re.match(r"\d+", part)
        out.append(int(m.group()) if m else 0)
    return tuple(out)


def _json(status: int, body: Any, extra: dict | None = None) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": JSON}
    if extra:
        headers.update(extra)
    return status, headers, json.dumps(body, ensure_ascii=False).encode("utf-8")


def _zuul_500(path: str) -> tuple[int, dict, bytes]:
    return _json(500, {
        "timestamp": int(time.time() * 1000), "status": 500, "error": "Internal Server Error",
        "exception": "com.netflix.zuul.exception.ZuulException", "message": "Forwarding error", "path": path,
    })


def _not_found(path: str) -> tuple[int, dict, bytes]:
    return _json(404, {"timestamp": int(time.time() * 1000), "status": 404, "error": "Not Found",
                       "message": "No message available", "path": path})


# --------------------------------------------------------------------------------------- health

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
        conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
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
    """Spring Boot 1.5 ``/health``: (200, body) when UP, (503, body) when DOWN."""
    chart = pod.service
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


# --------------------------------------------------------------------------------------- eureka

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


# --------------------------------------------------------------------------------------- HTTP

def _main_port(pod) -> int | None:
    return pod.ports[0] if pod.ports else None


def serve(world, pod, port: int, method: str, raw_path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
    """Answer one HTTP request to `pod` on container port `port`."""
    parsed = urllib.parse.urlsplit(raw_path)
    path = parsed.path or "/"
    query = urllib.parse.parse_qs(parsed.query)
    chart = pod.service
    if chart == FRONT_CHART:
        if method in ("GET", "HEAD") and path in ("/", "/index.html"):
            return 200, {"Content-Type": "text/html"}, FRONT_HTML.encode("utf-8")
        return 404, {"Content-Type": "text/html"}, b"<html><head><title>404 Not Found</title></head><body>" \
            b"<center><h1>404 Not Found</h1></center><hr><center>nginx/1.13.8</center></body></html>"
    if chart == REGISTER_CHART:
        return _serve_register(world, pod, method, path)
    mgmt = pod.metrics_port
    if port == mgmt and method in ("GET", "HEAD"):
        if path == "/health":
            status, hbody = health(world, pod)
            return _json(status, hbody)
        if path == "/info":
            return _json(200, {"build": {"artifact": chart, "name": chart, "version": pod.version}})
    if port == _main_port(pod):
        if method in ("GET", "HEAD") and path == "/v2/choerodon/api-docs":
            return _json(200, {"swagger": "2.0", "info": {"title": f"{chart} api", "version": pod.version},
                               "basePath": "/", "paths": {}})
        if chart == GATEWAY_CHART:
            return Gateway(world).handle(method, path, query, headers, body)
    return _not_found(path)


def _serve_register(world, pod, method: str, path: str) -> tuple[int, dict, bytes]:
    if method in ("GET", "HEAD") and path == "/health":
        return _json(200, {"status": "UP"})
    if method in ("GET", "HEAD") and path == "/eureka/apps":
        nss = [n.strip() for n in (pod.env.get("REGISTER_SERVICE_NAMESPACE") or pod.namespace).split(",") if n.strip()]
        return _json(200, eureka_apps(world.store, nss))
    if method in ("GET", "HEAD") and path == "/eureka/apps/delta":
        return _json(200, {"applications": {"application": [], "apps__hashcode": "app_hashcode",
                                            "versions__delta": 2}})
    if method == "POST" and path.startswith("/eureka/apps/"):
        return 204, {}, b""
    if method == "PUT" and path.startswith("/eureka/apps/"):
        return 200, {}, b""
    if method == "GET" and path == "/":
        return 200, {"Content-Type": "text/html; charset=utf-8"}, b"<html><body><h1>Eureka</h1></body></html>"
    return _not_found(path)


# --------------------------------------------------------------------------------------- gateway

TOKEN_SECONDS = 3600
_CLIENT_COLUMNS = ("id", "name", "organization_id", "resource_ids", "secret", "scope", "authorized_grant_types",
                   "web_server_redirect_uri", "access_token_validity", "refresh_token_validity",
                   "additional_information", "auto_approve", "object_version_number")


def _client_dto(row: dict) -> dict:
    return {
        "id": row.get("id"), "name": row.get("name"), "organizationId": row.get("organization_id"),
        "resourceIds": row.get("resource_ids"), "secret": row.get("secret"), "scope": row.get("scope"),
        "authorizedGrantTypes": row.get("authorized_grant_types"),
        "webServerRedirectUri": row.get("web_server_redirect_uri"),
        "accessTokenValidity": row.get("access_token_validity"),
        "refreshTokenValidity": row.get("refresh_token_validity"),
        "additionalInformation": row.get("additional_information"), "autoApprove": row.get("auto_approve"),
        "objectVersionNumber": row.get("object_version_number"),
    }


class Gateway:
    """The api-gateway's routes the upgrade uses (see choerodon-facts.md "Platform API")."""

    def __init__(self, world):
        self.world = world

    # -- helpers
    def _ready(self, chart: str, min_version: tuple[int, ...] = ()) -> bool:
        return any(version_tuple(p.version) >= min_version for p in self.world.ready_pods(chart))

    def _authorized(self, headers: dict) -> bool:
        value = ""
        for k, v in headers.items():
            if k.lower() == "authorization":
                value = v
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        expiry = self.world.tokens.get(token.strip())
        return expiry is not None and expiry > time.time()

    def _db(self, database: str):
        admin = self.world.mysql_admin
        return pymysql.connect(host=admin["host"], port=int(admin["port"]), user=admin["user"],
                               password=admin["password"], database=database, connect_timeout=3,
                               autocommit=True, charset="utf8mb4", cursorclass=pymysql.cursors.DictCursor)

    # -- dispatch
    def handle(self, method, path, query, headers, body) -> tuple[int, dict, bytes]:
        if path == "/oauth/oauth/token":
            if method != "POST":
                return _json(405, {"error": "method_not_allowed", "error_description": f"Request method '{method}' not supported"})
            return self.token(body, query)
        routes = [
            (r"^/devops/v1/upgrade$", "GET", self.devops_upgrade),
            (r"^/wiki/v1/wiki/page$", "POST", self.wiki_page),
            (r"^/iam/v1/organizations/(\d+)/clients/query_by_name$", "GET", self.client_query),
            (r"^/iam/v1/organizations/(\d+)/clients$", "POST", self.client_create),
            (r"^/iam/v1/users/self$", "GET", self.user_self),
        ]
        for pattern, verb, fn in routes:
            m = re.match(pattern, path)
            if m and method == verb:
                if not self._authorized(headers):
                    return _json(401, {"error": "unauthorized",
                                       "error_description": "Full authentication is required to access this resource"})
                return fn(path, query, body, *m.groups())
        return _not_found(path)

    def token(self, body: bytes, query: dict) -> tuple[int, dict, bytes]:
        if not self._ready("oauth-server"):
            return _zuul_500("/oauth/oauth/token")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        for k, v in query.items():
            form.setdefault(k, v[0])
        w = self.world
        if form.get("client_id") != w.oauth_client_id or form.get("client_secret") != w.oauth_client_secret:
            return _json(401, {"error": "invalid_client", "error_description": "Bad client credentials"})
        if form.get("grant_type") != "password":
            return _json(400, {"error": "unsupported_grant_type",
                               "error_description": f"Unsupported grant type: {form.get('grant_type')}"})
        if form.get("username") != "admin" or form.get("password") != w.admin_password:
            return _json(400, {"error": "invalid_grant", "error_description": "Bad credentials"})
        token = str(uuid.uuid4())
        w.tokens[token] = time.time() + TOKEN_SECONDS
        return _json(200, {"access_token": token, "token_type": "bearer", "refresh_token": str(uuid.uuid4()),
                           "expires_in": TOKEN_SECONDS - 1, "scope": "default"},
                     {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def devops_upgrade(self, path, query, body) -> tuple[int, dict, bytes]:
        if not self._ready("devops-service", (0, 9, 3)):
            return _json(200, {"failed": True, "code": "error.service.unavailable",
                               "message": "devops-service 0.9.3 has no ready instance"})
        version = (query.get("version") or [""])[0]
        stamp = str(int(time.time() * 1000))
        if version == "0.9":
            threading.Thread(target=self._devops_check, name="devops-check", daemon=True).start()
        return 200, {"Content-Type": "text/plain;charset=UTF-8"}, stamp.encode()

    def _devops_check(self) -> None:
        begin = datetime.now().replace(microsecond=0)
        for pod in self.world.ready_pods("devops-service"):
            self.world.log(pod, "INFO  DevopsCheckLogServiceImpl: start upgrade task for version 0.9")
        log = [{"content": "all applications: sync gitops repository", "result": "成功"},
               {"content": "all environments: scan deployments into C7NHelmRelease", "result": "成功"}]
        if self.world.mysql_admin is None or pymysql is None:
            self.world.devops_check_logs.append({"begin_check_date": begin, "end_check_date": begin, "log": log})
            return
        try:
            conn = self._db("devops_service")
            with conn, conn.cursor() as cur:
                cur.execute("SELECT code FROM devops_application")
                apps = [r["code"] for r in cur.fetchall()]
                cur.execute("SELECT code FROM devops_env")
                envs = [r["code"] for r in cur.fetchall()]
                log = [{"content": f"app: {a} create gitops repository", "result": "成功"} for a in apps]
                log += [{"content": f"env: {e} sync deployments to gitops", "result": "成功"} for e in envs]
                end = begin + timedelta(seconds=1)
                cur.execute("INSERT INTO devops_check_log (begin_check_date, end_check_date, log) VALUES (%s, %s, %s)",
                            (begin, end, json.dumps(log, ensure_ascii=False)))
            for pod in self.world.ready_pods("devops-service"):
                self.world.log(pod, "INFO  DevopsCheckLogServiceImpl: upgrade to 0.9 finished")
        except Exception as exc:
            for pod in self.world.ready_pods("devops-service"):
                self.world.log(pod, f"ERROR DevopsCheckLogServiceImpl: {type(exc).__name__}: {exc}")

    def wiki_page(self, path, query, body) -> tuple[int, dict, bytes]:
        if not self._ready("wiki-service"):
            return _zuul_500(path)
        for pod in self.world.ready_pods("wiki-service"):
            self.world.log(pod, "INFO  WikiScanningServiceImpl: update wiki home page")
        return 201, {}, b""

    def user_self(self, path, query, body) -> tuple[int, dict, bytes]:
        if not self._ready("iam-service"):
            return _zuul_500(path)
        return _json(200, {"id": 1, "loginName": "admin", "email": "admin@example.org", "organizationId": 1,
                           "admin": True, "enabled": True, "language": "zh_CN", "timeZone": "CTT"})

    # -- OAuth clients (iam-service)
    def _find_client(self, name: str) -> Optional[dict]:
        if self.world.mysql_admin is None:
            return self.world.memory_clients.get(name)
        conn = self._db("iam_service")
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(_CLIENT_COLUMNS)} FROM oauth_client WHERE name = %s", (name,))
            return cur.fetchone()

    def client_query(self, path, query, body, org) -> tuple[int, dict, bytes]:
        if not self._ready("iam-service"):
            return _zuul_500(path)
        name = (query.get("client_name") or [""])[0]
        row = self._find_client(name)
        if row is None or str(row.get("organization_id")) != str(org):
            return 200, {}, b""
        return _json(200, _client_dto(row))

    def client_create(self, path, query, body, org) -> tuple[int, dict, bytes]:
        if not self._ready("iam-service"):
            return _zuul_500(path)
        try:
            dto = json.loads(body.decode("utf-8") or "null")
        except ValueError:
            return _json(400, {"timestamp": int(time.time() * 1000), "status": 400, "error": "Bad Request",
                               "message": "JSON parse error", "path": path})
        if not isinstance(dto, dict):
            return _json(400, {"status": 400, "error": "Bad Request", "message": "Required request body is missing",
                               "path": path})

        def failed(code, message):
            return _json(200, {"failed": True, "code": code, "message": message})

        name = dto.get("name")
        if not name:
            return failed("error.client.name.empty", "client name is empty")
        if not isinstance(name, str) or len(name) > 32:
            return failed("error.client.name.size", "client name must be 1-32 characters")
        if not dto.get("secret"):
            return failed("error.client.secret.empty", "client secret is empty")
        if not dto.get("authorizedGrantTypes"):
            return failed("error.client.grantTypes.empty", "authorizedGrantTypes is empty")
        if self._find_client(name) is not None:
            return failed("error.client.exist", f"client {name} already exists")
        grants = dto["authorizedGrantTypes"]
        if isinstance(grants, list):
            grants = ",".join(grants)
        row = {
            "name": name, "organization_id": int(org), "resource_ids": dto.get("resourceIds") or "default",
            "secret": dto["secret"], "scope": dto.get("scope") or "default", "authorized_grant_types": grants,
            "web_server_redirect_uri": dto.get("webServerRedirectUri"),
            "access_token_validity": dto.get("accessTokenValidity"),
            "refresh_token_validity": dto.get("refreshTokenValidity"),
            "additional_information": dto.get("additionalInformation"),
            "auto_approve": dto.get("autoApprove") or "default", "object_version_number": 1,
        }
        if self.world.mysql_admin is None:
            row["id"] = len(self.world.memory_clients) + 2
            self.world.memory_clients[name] = row
        else:
            cols = [c for c in _CLIENT_COLUMNS if c != "id"]
            conn = self._db("iam_service")
            with conn, conn.cursor() as cur:
                cur.execute(f"INSERT INTO oauth_client ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                            tuple(row[c] for c in cols))
                row["id"] = cur.lastrowid
        for pod in self.world.ready_pods("iam-service"):
            self.world.log(pod, f"INFO  ClientServiceImpl: create client {name}")
        return _json(200, _client_dto(row))
