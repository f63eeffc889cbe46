"""Choerodon platform API client (everything goes through the api-gateway).

Facts it follows (reference/choerodon-facts.md, "Platform API"):
- business errors come back as **HTTP 200** with `{"failed": true, "code": ..., "message": ...}`;
- admin token: `POST {gw}/oauth/oauth/token` with a *form body* (never a query string);
- devops smooth upgrade: `GET {gw}/devops/v1/upgrade?version=0.9` (200 + a timestamp string);
- wiki home page: `POST {gw}/wiki/v1/wiki/page` (201, no body);
- OAuth client: `POST {gw}/iam/v1/organizations/{org}/clients`, looked up with
  `GET {gw}/iam/v1/organizations/{org}/clients/query_by_name?client_name=...`.

Every exchange is recorded in `self.exchanges` (method, url, status, body excerpt) for the report.
Passwords, client secrets and tokens are masked in excerpts and never appear in exception messages.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests

from .errors import C7nError

__all__ = [
    "PlatformError",
    "PlatformFailed",
    "ClientMismatch",
    "Exchange",
    "PlatformClient",
    "PlatformSession",
]

EXCERPT = 500
MASK = "******"
SENSITIVE_KEYS = {"password", "secret", "client_secret", "access_token", "refresh_token", "token", "id_token"}


class PlatformError(C7nError):
    """A platform call failed (transport error or non-2xx status)."""

    def __init__(self, message: str, status: int | None = None, excerpt: str = ""):
        super().__init__(message)
        self.status = status
        self.excerpt = excerpt


class PlatformFailed(PlatformError):
    """HTTP 2xx whose JSON body says `"failed": true` (Choerodon's business-error shape)."""

    def __init__(self, code: str | None, message: str | None, *, url: str = "", status: int | None = 200, excerpt: str = ""):
        self.code = code
        self.platform_message = message
        super().__init__(f"{url}: platform answered failed=true: code={code!r} message={message!r}", status, excerpt)


class ClientMismatch(PlatformError):
    """The OAuth client exists but differs from what the plan asks for."""

    def __init__(self, name: str, differences: list[str], client: dict):
        self.differences = differences
        self.client = client
        super().__init__(f"OAuth client {name!r} exists but differs: " + "; ".join(differences))


@dataclass
class Exchange:
    method: str
    url: str
    status: Optional[int]
    excerpt: str

    def __iter__(self):
        """Unpacks like the tuple (method, url, status, excerpt)."""
        return iter((self.method, self.url, self.status, self.excerpt))

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status if self.status is not None else 'no response'}: {self.excerpt}"


_NOT_EXIST_HINTS = ("not.exist", "notexist", "not_exist", "not.found", "notfound", "not_found")


def _grant_types(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        items = value
    else:
        items = str(value).split(",")
    return {str(i).strip() for i in items if str(i).strip()}


class PlatformClient:
    """A small, honest client for the few platform endpoints the upgrade guide uses."""

    def __init__(self, gateway_url: str, *, timeout: float = 10, session: requests.Session | None = None, token: str | None = None):
        self.gateway_url = gateway_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.exchanges: list[Exchange] = []
        self._secrets: set[str] = set()
        self.token: str | None = None
        #: called before every call that changes something; raises to stop it (the upgrade lock's check)
        self.before_write: Callable[[str], None] | None = None
        if token:
            self._set_token(token)

    # ------------------------------------------------------------------ plumbing

    def _set_token(self, token: str) -> None:
        self.token = token
        self._secrets.add(token)

    def _mask(self, text: str) -> str:
        """Mask known secrets where they stand alone (not inside longer words like `client_secret`)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret:
                text = re.sub(r"(?<![A-Za-z0-9_\-])" + re.escape(secret) + r"(?![A-Za-z0-9_\-])", MASK, text)
        return text

    def _mask_json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (MASK if str(k).lower() in SENSITIVE_KEYS and v not in (None, "") else self._mask_json(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask_json(v) for v in value]
        if isinstance(value, str):
            return self._mask(value)
        return value

    def _excerpt(self, body: bytes | str) -> str:
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            body = json.dumps(self._mask_json(parsed), ensure_ascii=False)
        else:
            body = self._mask(body)
        return body if len(body) <= EXCERPT else body[:EXCERPT] + "…"

    def _url(self, path: str) -> str:
        return self.gateway_url + path

    def _writing(self, what: str) -> None:
        if self.before_write is not None:
            self.before_write(what)

    def _auth_headers(self) -> dict[str, str]:
        if not self.token:
            raise PlatformError("not logged in: call login() first to get the admin token")
        return {"Authorization": f"Bearer {self.token}"}

    def _send(self, method: str, path: str, *, params=None, data=None, json_body=None, headers=None, excerpt_override: str | None = None) -> requests.Response:
        url = self._url(path)
        shown = url
        if params:
            shown += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        try:
            resp = self.session.request(method, url, params=params, data=data, json=json_body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            reason = self._mask(f"{type(exc).__name__}: {exc}")
            self.exchanges.append(Exchange(method, shown, None, reason))
            raise PlatformError(f"{method} {shown} failed: {reason}") from None
        excerpt = excerpt_override if excerpt_override is not None else self._excerpt(resp.content)
        self.exchanges.append(Exchange(method, shown, resp.status_code, excerpt))
        return resp

    def _check(self, method: str, path: str, resp: requests.Response, ok: tuple[int, ...] = (200,)) -> Any:
        """Raise on non-2xx / unexpected status / failed:true; return the decoded JSON (or text, or None)."""
        url = self._url(path)
        excerpt = self._excerpt(resp.content)
        if resp.status_code not in ok:
            raise PlatformError(f"{method} {url}: HTTP {resp.status_code} (expected {'/'.join(map(str, ok))}): {excerpt}", resp.status_code, excerpt)
        if not resp.content or not resp.content.strip():
            return None
        try:
            data = resp.json()
        except ValueError:
            return resp.text
        if isinstance(data, dict) and data.get("failed") is True:
            raise PlatformFailed(data.get("code"), self._mask(str(data.get("message"))), url=url, status=resp.status_code, excerpt=excerpt)
        return data

    # ------------------------------------------------------------------ endpoints

    def login(self, username: str, password: str, client_id: str = "client", client_secret: str = "secret") -> str:
        """Get an access token with the password grant (form body). Returns the token."""
        self._secrets.update(s for s in (password, client_secret) if s)
        path = "/oauth/oauth/token"
        form = {
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        resp = self._send("POST", path, data=form, headers={"Accept": "application/json"})
        token = None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            token = body.get("access_token")
            for key in ("access_token", "refresh_token"):
                if isinstance(body.get(key), str):
                    self._secrets.add(body[key])
        # re-mask the recorded excerpt now that the tokens are known
        self.exchanges[-1].excerpt = self._excerpt(resp.content)
        if resp.status_code != 200 or not token:
            why = f"HTTP {resp.status_code}" if resp.status_code != 200 else "no access_token in the answer"
            raise PlatformError(
                f"login as {username!r} at {self._url(path)} failed: {why}: {self._excerpt(resp.content)}",
                resp.status_code,
                self._excerpt(resp.content),
            )
        self._set_token(token)
        return token

    def devops_smooth_upgrade(self, version: str = "0.9") -> str:
        """Trigger devops-service's smooth upgrade; returns the answer (a timestamp string)."""
        path = "/devops/v1/upgrade"
        self._writing("the devops smooth upgrade")
        resp = self._send("GET", path, params={"version": version}, headers=self._auth_headers())
        data = self._check("GET", path, resp)
        return "" if data is None else (data if isinstance(data, str) else json.dumps(data))

    def update_wiki_home_page(self) -> int:
        """Ask wiki-service to rebuild the home pages; returns the HTTP status (201, or 200)."""
        path = "/wiki/v1/wiki/page"
        self._writing("the wiki home page update")
        resp = self._send("POST", path, headers=self._auth_headers())
        self._check("POST", path, resp, ok=(201, 200))
        return resp.status_code

    def query_client(self, org_id: int | str, name: str) -> dict | None:
        """The OAuth client `name` of organisation `org_id`, or None when it does not exist."""
        path = f"/iam/v1/organizations/{org_id}/clients/query_by_name"
        resp = self._send("GET", path, params={"client_name": name}, headers=self._auth_headers())
        data = self._object_or_none(path, resp)
        if data is not None:
            self._note_client_secret(data)
        return data

    def _object_or_none(self, path: str, resp: requests.Response) -> dict | None:
        """The JSON object a GET answered; None for an empty answer or a `failed` one saying "does not exist"."""
        try:
            data = self._check("GET", path, resp)
        except PlatformFailed as exc:
            code = (exc.code or "").lower()
            if any(h in code for h in _NOT_EXIST_HINTS):
                return None
            raise
        if data in (None, "", "null") or data == {}:
            return None
        if not isinstance(data, dict):
            raise PlatformError(f"GET {self._url(path)}: expected a JSON object, got: {self._excerpt(resp.content)}", resp.status_code)
        return data

    def organization(self, org_id: int | str) -> dict | None:
        """`GET /iam/v1/organizations/{org}` (read-only): the organization, None when it does not exist."""
        path = f"/iam/v1/organizations/{org_id}"
        return self._object_or_none(path, self._send("GET", path, headers=self._auth_headers()))

    def read(self, path: str) -> Any:
        """A read-only GET through the gateway as admin: its JSON; PlatformFailed on `failed: true`,
        PlatformError on any other status than 200 (a route the gateway does not know, no authorization)."""
        return self._check("GET", path, self._send("GET", path, headers=self._auth_headers()))

    def create_client(self, org_id: int | str, body: dict) -> dict:
        """Create an OAuth client (the guide's JSON body); returns the created client."""
        self._note_client_secret(body)
        path = f"/iam/v1/organizations/{org_id}/clients"
        self._writing(f"creating the OAuth client {body.get('name')!r}")
        resp = self._send("POST", path, json_body=body, headers=self._auth_headers())
        data = self._check("POST", path, resp, ok=(200, 201))
        if not isinstance(data, dict):
            data = dict(body)
        self._note_client_secret(data)
        return data

    def ensure_client(self, org_id: int | str, body: dict) -> tuple[dict, bool]:
        """Create the client when missing; when present, verify it. Returns (client, created).

        Verification compares `authorizedGrantTypes` (as a set) and `webServerRedirectUri`;
        a difference raises `ClientMismatch` listing each one.
        """
        name = body["name"]
        existing = self.query_client(org_id, name)
        if existing is None:
            return self.create_client(org_id, body), True
        differences = self.client_differences(existing, body)
        if differences:
            raise ClientMismatch(name, differences, existing)
        return existing, False

    @staticmethod
    def client_differences(existing: dict, wanted: dict) -> list[str]:
        out: list[str] = []
        if "authorizedGrantTypes" in wanted:
            have, want = _grant_types(existing.get("authorizedGrantTypes")), _grant_types(wanted.get("authorizedGrantTypes"))
            if have != want:
                missing, extra = sorted(want - have), sorted(have - want)
                detail = []
                if missing:
                    detail.append("missing " + ",".join(missing))
                if extra:
                    detail.append("unexpected " + ",".join(extra))
                out.append(f"authorizedGrantTypes is {existing.get('authorizedGrantTypes')!r} ({'; '.join(detail)})")
        if "webServerRedirectUri" in wanted:
            have_uri = (existing.get("webServerRedirectUri") or "").strip()
            want_uri = (wanted.get("webServerRedirectUri") or "").strip()
            if have_uri.rstrip("/") != want_uri.rstrip("/"):
                out.append(f"webServerRedirectUri is {have_uri!r}, expected {want_uri!r}")
        return out

    def _note_client_secret(self, client: dict) -> None:
        secret = client.get("secret") if isinstance(client, dict) else None
        if isinstance(secret, str) and secret:
            self._secrets.add(secret)


class PlatformSession:
    """The admin's platform client, logged in on first use (its token joins the redactor), and the
    record of its exchanges for the report."""

    def __init__(self, credentials, redactor, *, timeout: float = 10,
                 factory: Callable[[str], PlatformClient] | None = None):
        self.credentials = credentials  # settings.PlatformCredentials
        self.redactor = redactor
        self._factory = factory or (lambda url: PlatformClient(url, timeout=timeout))
        self._client: PlatformClient | None = None
        self.before_write: Callable[[str], None] | None = None  # handed to the client's writes

    def _before_write(self, what: str) -> None:
        if self.before_write is not None:
            self.before_write(what)

    def client(self) -> PlatformClient:
        if self._client is None:
            c = self.credentials
            client = self._factory(c.gateway_url)
            client.before_write = self._before_write
            self.redactor.add(client.login(c.admin_user, c.admin_password, c.client_id, c.client_secret))
            self._client = client  # only once logged in
        return self._client

    def exchanges(self) -> str:
        """Every exchange of the logged-in client, one line each (masked by the client; redact too)."""
        if self._client is None:
            return ""
        return "\n".join(" ".join(str(x) for x in ex) for ex in self._client.exchanges)
