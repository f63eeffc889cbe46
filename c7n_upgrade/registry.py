"""Asking an image registry (the Docker Registry HTTP API v2) whether it holds an image, read-only and
anonymously, as a node's pull would start: `HEAD /v2/<name>/manifests/<tag>`, with the anonymous Bearer
token a registry hands out on a 401 (Docker Hub, Harbor, Aliyun ACR, GitLab's registry do).

The answer is one of: present, missing (the registry says the tag or the repository is unknown: a pull
would fail, ErrImagePull), refused (the registry wants credentials: the cluster's imagePullSecrets may
have them, this machine has not), unanswered (no answer from here: an air-gapped bastion, a proxy).
Only "missing" is a verdict; the others say that the check could not be made, and why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import requests

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
])
DOCKER_HUB = "registry-1.docker.io"
HUB_ALIASES = ("docker.io", "index.docker.io", DOCKER_HUB)  # names of Docker Hub; its API is DOCKER_HUB


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]
    name: str      # repository path in that registry
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.name}:{self.tag}"

    @classmethod
    def parse(cls, image: str, tag: Optional[str] = None) -> "ImageRef":
        """`host[:port]/path[:tag]` (a first part without '.' or ':' that is not `localhost` is Docker
        Hub's, as docker reads it); `tag` replaces the image's own tag."""
        repository = image.split("@", 1)[0]
        own_tag = ""
        last = repository.rsplit("/", 1)[-1]
        if ":" in last:
            repository, own_tag = repository.rsplit(":", 1)
        first, _, rest = repository.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost") and first not in HUB_ALIASES:
            registry, name = first, rest
        else:
            if rest and first in HUB_ALIASES:
                repository = rest
            registry, name = DOCKER_HUB, repository if "/" in repository else f"library/{repository}"
        return cls(registry, name, tag or own_tag or "latest")


@dataclass(frozen=True)
class Answer:
    image: ImageRef
    status: str  # present | missing | refused | unanswered
    detail: str = ""


def _base(registry: str) -> str:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    loopback = host in ("localhost", "::1", "[::1]") or host.startswith("127.")
    return f"{'http' if loopback else 'https'}://{registry}"  # docker treats loopback registries as plain HTTP


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def _anonymous_token(session: requests.Session, challenge: str, image: ImageRef, timeout: float) -> Optional[str]:
    if not challenge.lower().startswith("bearer "):
        return None
    params = dict(_CHALLENGE.findall(challenge))
    realm = params.pop("realm", None)
    if not realm:
        return None
    params.setdefault("scope", f"repository:{image.name}:pull")
    resp = session.get(realm, params=params, timeout=timeout)
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    return token if isinstance(token, str) and token else None


def ask(image: ImageRef, *, timeout: float = 10.0, session: Optional[requests.Session] = None) -> Answer:
    """Whether the registry holds `image`; never raises (an error is an answer)."""
    if session is None:
        with requests.Session() as own:
            return ask(image, timeout=timeout, session=own)
    url = f"{_base(image.registry)}/v2/{image.name}/manifests/{image.tag}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        resp = session.head(url, headers=headers, timeout=timeout, allow_redirects=True)
        if resp.status_code == 401:
            token = _anonymous_token(session, resp.headers.get("WWW-Authenticate", ""), image, timeout)
            if token is None:
                return Answer(image, "refused", "the registry wants credentials (HTTP 401)")
            resp = session.head(url, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=timeout,
                                allow_redirects=True)
    except requests.RequestException as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).split(":")[-1].strip() or type(exc).__name__
        return Answer(image, "unanswered", f"no answer from {image.registry} ({reason[:120]})")
    if resp.status_code == 200:
        return Answer(image, "present")
    if resp.status_code == 404 and resp.headers.get("Docker-Distribution-Api-Version"):  # a registry's "unknown"
        return Answer(image, "missing", f"{image.registry} has no {image.name}:{image.tag} (HTTP 404)")
    if resp.status_code in (401, 403):
        return Answer(image, "refused", f"the registry refuses an anonymous pull (HTTP {resp.status_code})")
    return Answer(image, "unanswered", f"{image.registry} answered HTTP {resp.status_code}"
                  + ("" if resp.headers.get("Docker-Distribution-Api-Version") else ", not as a registry"))
