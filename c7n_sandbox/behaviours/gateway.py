"""The api-gateway's platform API the upgrade uses (see choerodon-facts.md "Platform API"): OAuth
token, devops smooth upgrade, wiki home page, OAuth clients; in MySQL, or in memory without it."""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta
from typing import Optional

try:  # PyMySQL is a project dependency; keep the module importable without it for the unit tests
    import pymysql
except ImportError:  # pragma: no cover
    pymysql = None

from .common import json_answer, not_found, version_tuple, zuul_500


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

    def __init__(self, world, pod=None):
        self.world = world
        self.pod = pod  # the api-gateway pod answering (its fault: platform-failed)

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
                               password=admin["password"].encode("utf-8"), database=database, connect_timeout=3,
                               autocommit=True, charset="utf8mb4", cursorclass=pymysql.cursors.DictCursor)

    # -- dispatch
    def handle(self, method, path, query, headers, body) -> tuple[int, dict, bytes]:
        if path == "/oauth/oauth/token":
            if method != "POST":
                return json_answer(405, {"error": "method_not_allowed", "error_description": f"Request method '{method}' not supported"})
            return self.token(body, query)
        routes = [
            (r"^/devops/v1/upgrade$", "GET", self.devops_upgrade),
            (r"^/wiki/v1/wiki/page$", "POST", self.wiki_page),
            (r"^/iam/v1/organizations/(\d+)/clients/query_by_name$", "GET", self.client_query),
            (r"^/iam/v1/organizations/(\d+)/clients$", "POST", self.client_create),
            (r"^/iam/v1/users/self$", "GET", self.user_self),
            (r"^/iam/v1/organizations/(\d+)$", "GET", self.organization),
            (r"^/(devops|wiki)/v2/choerodon/api-docs$", "GET", self.api_docs),
        ]
        for pattern, verb, fn in routes:
            m = re.match(pattern, path)
            if m and method == verb:
                if not self._authorized(headers):
                    return json_answer(401, {"error": "unauthorized",
                                             "error_description": "Full authentication is required to access this resource"})
                fault = self.world.pod_fault(self.pod) if self.pod is not None else None
                if fault is not None and fault.platform_failed():
                    return json_answer(200, {"failed": True, "code": "error.gateway.route",
                                             "message": "the gateway could not forward the request"})
                return fn(path, query, body, *m.groups())
        return not_found(path)

    def token(self, body: bytes, query: dict) -> tuple[int, dict, bytes]:
        if not self._ready("oauth-server"):
            return zuul_500("/oauth/oauth/token")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        for k, v in query.items():
            form.setdefault(k, v[0])
        w = self.world
        if form.get("client_id") != w.oauth_client_id or form.get("client_secret") != w.oauth_client_secret:
            return json_answer(401, {"error": "invalid_client", "error_description": "Bad client credentials"})
        if form.get("grant_type") != "password":
            return json_answer(400, {"error": "unsupported_grant_type",
                                     "error_description": f"Unsupported grant type: {form.get('grant_type')}"})
        if form.get("username") != "admin" or form.get("password") != w.admin_password:
            return json_answer(400, {"error": "invalid_grant", "error_description": "Bad credentials"})
        token = str(uuid.uuid4())
        w.tokens[token] = time.time() + TOKEN_SECONDS
        return json_answer(200, {"access_token": token, "token_type": "bearer", "refresh_token": str(uuid.uuid4()),
                                 "expires_in": TOKEN_SECONDS - 1, "scope": "default"},
                                 {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def devops_upgrade(self, path, query, body) -> tuple[int, dict, bytes]:
        if not self._ready("devops-service", (0, 9, 3)):
            return json_answer(200, {"failed": True, "code": "error.service.unavailable",
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
            return zuul_500(path)
        for pod in self.world.ready_pods("wiki-service"):
            self.world.log(pod, "INFO  WikiScanningServiceImpl: update wiki home page")
        return 201, {}, b""

    def user_self(self, path, query, body) -> tuple[int, dict, bytes]:
        if not self._ready("iam-service"):
            return zuul_500(path)
        return json_answer(200, {"id": 1, "loginName": "admin", "email": "admin@example.org", "organizationId": 1,
                                 "admin": True, "enabled": True, "language": "zh_CN", "timeZone": "CTT"})

    def organization(self, path, query, body, org) -> tuple[int, dict, bytes]:
        if not self._ready("iam-service"):
            return zuul_500(path)
        if org != "1":  # the one organization of the 0.8 install
            return json_answer(200, {"failed": True, "code": "error.organization.not.exist",
                                     "message": f"organization {org} not exist"})
        return json_answer(200, {"id": 1, "name": "Choerodon", "code": "choerodon", "enabled": True,
                                 "objectVersionNumber": 1})

    def api_docs(self, path, query, body, service) -> tuple[int, dict, bytes]:
        chart = f"{service}-service"
        if not self._ready(chart):
            return zuul_500(path)
        version = max((p.version for p in self.world.ready_pods(chart)), key=version_tuple)
        return json_answer(200, {"swagger": "2.0", "info": {"title": f"{chart} api", "version": version},
                                 "basePath": "/", "paths": {}})

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
            return zuul_500(path)
        name = (query.get("client_name") or [""])[0]
        row = self._find_client(name)
        if row is None or str(row.get("organization_id")) != str(org):
            return 200, {}, b""
        return json_answer(200, _client_dto(row))

    def client_create(self, path, query, body, org) -> tuple[int, dict, bytes]:
        if not self._ready("iam-service"):
            return zuul_500(path)
        try:
            dto = json.loads(body.decode("utf-8") or "null")
        except ValueError:
            return json_answer(400, {"timestamp": int(time.time() * 1000), "status": 400, "error": "Bad Request",
                                     "message": "JSON parse error", "path": path})
        if not isinstance(dto, dict):
            return json_answer(400, {"status": 400, "error": "Bad Request", "message": "Required request body is missing",
                                     "path": path})

        def failed(code, message):
            return json_answer(200, {"failed": True, "code": code, "message": message})

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
        return json_answer(200, _client_dto(row))
