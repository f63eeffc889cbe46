"""The sandbox runtime's platform parts, in-process (runtime_world.py): the gateway's API (token,
smooth upgrade, wiki, OAuth clients) and the XWiki operator once steps 1-10 are at their target."""
from __future__ import annotations

import json
import time

import pytest

from c7n_upgrade.sandbox.apiserver import Store
from c7n_upgrade.sandbox.runtime import Runtime
from tests.sandbox.kubectl_output import wait_for
from tests.sandbox.runtime_world import (ADMIN_PASSWORD, CLIENT_SECRET, NS, PLAN, base, get_json, http,  # noqa: F401
                                         install, pods_of, ready_pods, world)

pytestmark = pytest.mark.sandbox


def test_gateway_platform_api_in_memory(world):
    store, rt, _ = world
    base(store)
    for r in ("api-gateway", "oauth-server", "iam-service", "wiki-service"):
        install(store, r)
    wait_for(lambda: all(ready_pods(store, r) for r in ("api-gateway", "oauth-server", "iam-service", "wiki-service")))
    gw = store.get("services", NS, "api-gateway")["spec"]["clusterIP"]
    base_url = f"http://{gw}:8080"
    form = (f"grant_type=password&username=admin&password={ADMIN_PASSWORD}"
            f"&client_id=client&client_secret={CLIENT_SECRET}").encode()
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    bad = form.replace(ADMIN_PASSWORD.encode(), b"wrong")
    status, _, body = http("POST", f"{base_url}/oauth/oauth/token", bad, hdr)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    status, _, body = http("POST", f"{base_url}/oauth/oauth/token", form, hdr)
    assert status == 200
    token = json.loads(body)
    assert token["token_type"] == "bearer" and token["expires_in"] > 0
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert http("GET", f"{base_url}/devops/v1/upgrade?version=0.9")[0] == 401
    # devops not at 0.9.3 -> business error with HTTP 200
    status, body = get_json(f"{base_url}/devops/v1/upgrade?version=0.9", auth)
    assert status == 200 and body["failed"] is True and body["code"] == "error.service.unavailable"
    assert http("POST", f"{base_url}/wiki/v1/wiki/page", b"", auth)[:3:2] == (201, b"")
    q = f"{base_url}/iam/v1/organizations/1/clients/query_by_name?client_name=choerodon"
    assert http("GET", q, headers=auth)[::2] == (200, b"")
    client = {"name": "choerodon", "organizationId": 1, "secret": "s3cret",
              "authorizedGrantTypes": "implicit,client_credentials,authorization_code,refresh_token",
              "webServerRedirectUri": "http://front", "accessTokenValidity": 3600,
              "refreshTokenValidity": 3600, "scope": "default", "autoApprove": "default"}
    jh = dict(auth, **{"Content-Type": "application/json"})
    bad_client = dict(client, name="x" * 33)
    status, _, body = http("POST", f"{base_url}/iam/v1/organizations/1/clients", json.dumps(bad_client).encode(), jh)
    assert status == 200 and json.loads(body)["failed"] is True
    status, _, body = http("POST", f"{base_url}/iam/v1/organizations/1/clients", json.dumps(client).encode(), jh)
    assert status == 200 and json.loads(body)["name"] == "choerodon"
    status, _, body = http("POST", f"{base_url}/iam/v1/organizations/1/clients", json.dumps(client).encode(), jh)
    assert json.loads(body)["code"] == "error.client.exist"
    status, found = get_json(q, auth)
    assert found["name"] == "choerodon" and found["authorizedGrantTypes"].startswith("implicit")
    # oauth-server gone: token requests fail
    store.delete("deployments.apps", NS, "oauth-server")
    wait_for(lambda: not pods_of(store, "oauth-server"))
    assert http("POST", f"{base_url}/oauth/oauth/token", form, hdr)[0] == 500


def test_xwiki_operator_runs_once_steps_1_to_10_are_at_target(tmp_path):
    store = Store()
    calls = []
    rt = Runtime(store, tmp_path, PLAN, NS, start_delay=(0.02, 0.05), readiness_interval=0.05,
                 xwiki_operator=lambda: calls.append(time.monotonic()), oauth_client_secret="x")
    rt.start()
    try:
        framework = [s for s in PLAN.steps if s.number <= 10]
        for step in framework:
            if step.from_version:
                install(store, step.release)
        wait_for(lambda: all(ready_pods(store, s.release) for s in framework if s.from_version), timeout=15)
        time.sleep(1.2)
        assert calls == [], "not before the framework is at 0.9"
        for step in framework[:-1]:  # notify/asgard are new installs (DOWN here: no database)
            install(store, step.release, step.version)
        time.sleep(1.5)
        assert calls == [], "not before step 10 is done"
        install(store, framework[-1].release, framework[-1].version)
        wait_for(lambda: calls, timeout=10, what="the operator's XWiki steps")
        time.sleep(1.2)
        assert len(calls) == 1
    finally:
        rt.stop()
