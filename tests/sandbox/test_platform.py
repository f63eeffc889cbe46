"""Unit tests for c7n_upgrade.platform against a small real HTTP server on 127.0.0.1."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from c7n_upgrade.platform import ClientMismatch, PlatformClient, PlatformError, PlatformFailed
from tests.local_http import serving

PASSWORD = "Adm1n-Pa55-unit"
TOKEN = "tok-3f9a7c1e-unit"
CLIENT_SECRET = "cl1ent-s3cret-unit"


class FakeGateway:
    """Just enough of the api-gateway: token, devops upgrade, wiki page, iam clients."""

    def __init__(self):
        self.requests: list[dict] = []
        self.clients: dict[str, dict] = {}
        self.overrides: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, bytes, str]:
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": query, "headers": dict(headers), "body": body})
        if (method, path) in self.overrides:
            status, payload = self.overrides[(method, path)]
            return status, payload, "application/json"
        if method == "POST" and path == "/oauth/oauth/token":
            form = parse_qs(body.decode())
            ok = (form.get("grant_type") == ["password"] and form.get("username") == ["admin"]
                  and form.get("password") == [PASSWORD] and form.get("client_id") == ["client"]
                  and form.get("client_secret") == ["secret"])
            if not ok:
                # a badly behaved server that echoes the form back
                return 401, json.dumps({"error": "invalid_grant", "echo": body.decode()}).encode(), "application/json"
            return 200, json.dumps({"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}).encode(), "application/json"
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, b'{"error":"unauthorized"}', "application/json"
        if method == "GET" and path == "/devops/v1/upgrade":
            return 200, json.dumps("2019-01-04 10:00:00").encode(), "application/json"
        if method == "POST" and path == "/wiki/v1/wiki/page":
            return 201, b"", "text/plain"
        if path.startswith("/iam/v1/organizations/1/clients"):
            if method == "GET" and path.endswith("/query_by_name"):
                name = query.get("client_name", [""])[0]
                client = self.clients.get(name)
                return 200, (json.dumps(client).encode() if client else b""), "application/json"
            if method == "POST":
                data = json.loads(body)
                if data["name"] in self.clients:
                    return 200, b'{"failed":true,"code":"error.client.exist","message":"client exists"}', "application/json"
                data = dict(data, id=len(self.clients) + 1)
                self.clients[data["name"]] = data
                return 201, json.dumps(data).encode(), "application/json"
        return 404, b'{"error":"not found"}', "application/json"


@pytest.fixture
def gateway():
    gw = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload, ctype = gw.handle(self.command, parts.path, parse_qs(parts.query), self.headers, body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    with serving(Handler) as port:
        gw.url = f"http://127.0.0.1:{port}"
        yield gw


@pytest.fixture
def client(gateway):
    session = requests.Session()
    session.trust_env = False  # never route loopback through an environment proxy
    c = PlatformClient(gateway.url + "/", timeout=5, session=session)
    yield c
    session.close()


GUIDE_CLIENT = {
    "accessTokenValidity": 60,
    "additionalInformation": "",
    "authorizedGrantTypes": "implicit,client_credentials,authorization_code,refresh_token",
    "autoApprove": "default",
    "name": "choerodon",
    "objectVersionNumber": 0,
    "organizationId": 1,
    "refreshTokenValidity": 60,
    "resourceIds": "default",
    "scope": "default",
    "secret": CLIENT_SECRET,
    "webServerRedirectUri": "http://choerodon.example.choerodon.io",
}


def all_text(client: PlatformClient, *extra) -> str:
    return "\n".join([*(str(e) for e in client.exchanges), *(str(x) for x in extra)])


def test_login_posts_a_form_body_and_returns_the_token(client, gateway):
    token = client.login("admin", PASSWORD, "client", "secret")
    assert token == TOKEN
    req = gateway.requests[-1]
    assert req["method"] == "POST" and req["path"] == "/oauth/oauth/token"
    assert req["query"] == {}, "credentials must never travel in the query string"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req["body"].decode())["password"] == [PASSWORD]
    # the recorded exchange does not show the token nor the password
    assert TOKEN not in all_text(client) and PASSWORD not in all_text(client)
    assert client.exchanges[-1].status == 200


def test_login_failure_never_shows_the_password(client):
    with pytest.raises(PlatformError) as info:
        client.login("admin", "wrong-" + PASSWORD, "client", "secret")
    err = info.value
    assert err.status == 401
    assert "401" in str(err)
    assert PASSWORD not in str(err) and PASSWORD not in err.excerpt
    assert PASSWORD not in all_text(client)
    assert client.token is None


def test_login_200_without_token_is_an_error(client, gateway):
    gateway.overrides[("POST", "/oauth/oauth/token")] = (200, b'{"token_type":"bearer"}')
    with pytest.raises(PlatformError, match="no access_token"):
        client.login("admin", PASSWORD)


def test_calls_need_a_token(client):
    with pytest.raises(PlatformError, match="not logged in"):
        client.devops_smooth_upgrade()


def test_devops_smooth_upgrade_and_wiki(client, gateway):
    client.login("admin", PASSWORD)
    assert client.devops_smooth_upgrade("0.9") == "2019-01-04 10:00:00"
    req = gateway.requests[-1]
    assert req["path"] == "/devops/v1/upgrade" and req["query"] == {"version": ["0.9"]}
    assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert client.update_wiki_home_page() == 201
    assert [(e.method, e.status) for e in client.exchanges] == [("POST", 200), ("GET", 200), ("POST", 201)]
    assert client.exchanges[1].url.endswith("/devops/v1/upgrade?version=0.9")
    method, url, status, excerpt = client.exchanges[1]  # unpacks like a tuple
    assert (method, status, excerpt) == ("GET", 200, '"2019-01-04 10:00:00"')


def test_failed_true_on_http_200_is_a_failure(client, gateway):
    client.login("admin", PASSWORD)
    gateway.overrides[("GET", "/devops/v1/upgrade")] = (
        200, json.dumps({"failed": True, "code": "error.upgrade.version", "message": "bad version"}).encode())
    with pytest.raises(PlatformFailed) as info:
        client.devops_smooth_upgrade()
    assert info.value.code == "error.upgrade.version"
    assert "bad version" in str(info.value)
    assert TOKEN not in str(info.value)


def test_http_500_is_a_platform_error_with_status_and_excerpt(client, gateway):
    client.login("admin", PASSWORD)
    gateway.overrides[("POST", "/wiki/v1/wiki/page")] = (500, b'{"error":"Internal Server Error","trace":"boom"}')
    with pytest.raises(PlatformError) as info:
        client.update_wiki_home_page()
    err = info.value
    assert not isinstance(err, PlatformFailed)
    assert err.status == 500 and "500" in str(err) and "boom" in str(err)
    assert TOKEN not in str(err)


def test_unreachable_gateway_is_a_platform_error(gateway):
    session = requests.Session()
    session.trust_env = False
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = PlatformClient(f"http://127.0.0.1:{port}", timeout=2, session=session)
    with pytest.raises(PlatformError) as info:
        c.login("admin", PASSWORD)
    assert PASSWORD not in str(info.value)
    assert c.exchanges[-1].status is None


def test_ensure_client_creates_then_verifies(client, gateway):
    client.login("admin", PASSWORD)
    assert client.query_client(1, "choerodon") is None
    created_client, created = client.ensure_client(1, GUIDE_CLIENT)
    assert created is True and created_client["name"] == "choerodon"
    post = [r for r in gateway.requests if r["method"] == "POST" and r["path"] == "/iam/v1/organizations/1/clients"]
    assert len(post) == 1 and json.loads(post[0]["body"])["authorizedGrantTypes"] == GUIDE_CLIENT["authorizedGrantTypes"]

    again, created = client.ensure_client(1, GUIDE_CLIENT)
    assert created is False and again["id"] == created_client["id"]
    assert len([r for r in gateway.requests if r["method"] == "POST" and "/clients" in r["path"]]) == 1
    # the client secret is masked in what the report will show
    assert CLIENT_SECRET not in all_text(client)


def test_ensure_client_reports_differences(client, gateway):
    client.login("admin", PASSWORD)
    gateway.clients["choerodon"] = dict(GUIDE_CLIENT, id=7, authorizedGrantTypes="implicit,refresh_token",
                                        webServerRedirectUri="http://old.example.org")
    with pytest.raises(ClientMismatch) as info:
        client.ensure_client(1, GUIDE_CLIENT)
    diffs = info.value.differences
    assert len(diffs) == 2
    assert "missing authorization_code,client_credentials" in diffs[0]
    assert "http://old.example.org" in diffs[1]
    # grant type order does not matter
    gateway.clients["choerodon"] = dict(GUIDE_CLIENT, authorizedGrantTypes="refresh_token,implicit,authorization_code,client_credentials")
    assert client.ensure_client(1, GUIDE_CLIENT)[1] is False


def test_query_client_failed_not_exist_means_missing(client, gateway):
    client.login("admin", PASSWORD)
    path = "/iam/v1/organizations/1/clients/query_by_name"
    gateway.overrides[("GET", path)] = (200, b'{"failed":true,"code":"error.client.not.exist","message":"no such client"}')
    assert client.query_client(1, "choerodon") is None
    gateway.overrides[("GET", path)] = (200, b"null")
    assert client.query_client(1, "choerodon") is None
    gateway.overrides[("GET", path)] = (200, b'{"failed":true,"code":"error.organization.notFound","message":"?"}')
    assert client.query_client(1, "choerodon") is None
    gateway.overrides[("GET", path)] = (200, b'{"failed":true,"code":"error.permission.denied","message":"no"}')
    with pytest.raises(PlatformFailed):
        client.query_client(1, "choerodon")


def test_create_client_failed_true_is_platform_failed(client, gateway):
    client.login("admin", PASSWORD)
    gateway.clients["choerodon"] = dict(GUIDE_CLIENT)
    with pytest.raises(PlatformFailed) as info:
        client.create_client(1, GUIDE_CLIENT)
    assert info.value.code == "error.client.exist"
    assert CLIENT_SECRET not in str(info.value)
