"""What a Choerodon pod answers (sandbox/behaviours/), called in-process with the node's own world
(node/world.py's NodeWorld over a pod cache): the health dependencies, the front page and the gateway's
platform API without MySQL; and when the simulated operator's XWiki steps run. (These ran on the
deleted emulator's pods before; on the real cluster the node serves the same functions.)"""
from __future__ import annotations

import json
import urllib.parse

from c7n_upgrade.plan import load_plan
from c7n_sandbox import behaviours, xwiki
from c7n_sandbox.node.world import PodView
from tests.unit.test_node_world import _pod, world  # noqa: F401 - the fixture

PLAN = load_plan("0.8-to-0.9")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _view(name, chart, version="0.9.0", env=None, ports=(8010, 8011), ready=True):
    pod = _pod(name, chart, version=version, ready=ready)
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": p} for p in ports]
    pod["metadata"]["labels"]["choerodon.io/metrics-port"] = str(ports[-1])
    return pod, PodView(lambda: pod, env=env or {})


def _health(world, view):
    return behaviours.health(world, view)


def test_a_service_is_down_until_register_and_config_server_are_ready(world):
    _, iam = _view("iam-service", "iam-service")
    status, body = _health(world, iam)
    assert status == 503 and body["discoveryComposite"]["status"] == "DOWN" and body["configServer"]["status"] == "DOWN"
    world.pods_listed([_view("register-server", "go-register-server")[0]])
    status, body = _health(world, iam)
    assert status == 503 and body["discoveryComposite"]["status"] == "UP" and body["configServer"]["status"] == "DOWN"
    world.pod_event("ADDED", _view("config-server", "config-server")[0])
    status, body = _health(world, iam)
    assert status == 200 and body["status"] == "UP" and list(body)[0] == "status"   # Spring Boot's order


def test_devops_093_is_down_without_the_crd_and_0_8_does_not_check(world, monkeypatch):
    world.pods_listed([_view("register-server", "go-register-server")[0], _view("config-server", "config-server")[0]])
    crds = set()
    monkeypatch.setattr(world, "crd_exists", lambda name: name in crds)
    new, old = _view("devops-service", "devops-service", "0.9.3")[1], _view("devops-service", "devops-service", "0.8.1")[1]
    status, body = _health(world, new)
    assert status == 503 and "c7nhelmreleases.choerodon.io" in body["c7nHelmRelease"]["error"]
    assert _health(world, old)[0] == 200
    crds.add("c7nhelmreleases.choerodon.io")
    assert _health(world, new)[0] == 200


def test_notify_without_its_datasource_is_down(world):
    world.pods_listed([_view("register-server", "go-register-server")[0], _view("config-server", "config-server")[0]])
    status, body = _health(world, _view("notify-service", "notify-service")[1])
    assert status == 503 and "SPRING_DATASOURCE_URL is not set" in body["db"]["error"]


def test_the_front_serves_the_guides_page_and_info_names_the_running_version(world):
    _, front = _view("choerodon-front", "choerodon-front", ports=(80,))
    status, headers, page = behaviours.serve(world, front, 80, "GET", "/", {}, b"")
    assert status == 200 and page.decode() == behaviours.FRONT_HTML and headers["Content-Type"].startswith("text/html")
    _, iam = _view("iam-service", "iam-service", "0.8.0", ports=(8030, 8031))
    status, _, info = behaviours.serve(world, iam, 8031, "GET", "/info", {}, b"")
    assert status == 200 and json.loads(info)["build"]["version"] == "0.8.0"
    assert behaviours.serve(world, iam, 8030, "GET", "/nope", {}, b"")[0] == 404


def test_the_gateways_platform_api_without_mysql(world):
    world.admin_password, world.oauth_client_secret = "adm1n", "s3cret"
    world.node.workers = {}   # no container runs: the services' log lines go nowhere
    pods = [_view(n, n, ports=(8080, 8081))[0] for n in ("api-gateway", "oauth-server", "iam-service", "wiki-service")]
    world.pods_listed(pods)
    gateway = PodView(lambda: pods[0])

    def call(method, path, body=b"", headers=None):
        status, _, data = behaviours.serve(world, gateway, 8080, method, path, headers or {}, body)
        return status, data

    form = urllib.parse.urlencode({"grant_type": "password", "username": "admin", "password": "adm1n",
                                   "client_id": "client", "client_secret": "s3cret"}).encode()
    assert json.loads(call("POST", "/oauth/oauth/token", form.replace(b"adm1n", b"wrong"), FORM)[1])["error"] == \
        "invalid_grant"
    status, data = call("POST", "/oauth/oauth/token", form, FORM)
    token = json.loads(data)
    assert status == 200 and token["token_type"] == "bearer" and token["expires_in"] > 0
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert call("GET", "/devops/v1/upgrade?version=0.9")[0] == 401
    status, data = call("GET", "/devops/v1/upgrade?version=0.9", headers=auth)   # no devops 0.9.3 Ready
    assert status == 200 and json.loads(data)["code"] == "error.service.unavailable"
    assert call("POST", "/wiki/v1/wiki/page", headers=auth) == (201, b"")
    query = "/iam/v1/organizations/1/clients/query_by_name?client_name=choerodon"
    assert call("GET", query, headers=auth) == (200, b"")
    client = {"name": "choerodon", "organizationId": 1, "secret": "x", "authorizedGrantTypes": "implicit",
              "webServerRedirectUri": "http://front", "accessTokenValidity": 3600, "refreshTokenValidity": 3600,
              "scope": "default", "autoApprove": "default"}
    post = dict(auth, **{"Content-Type": "application/json"})
    assert json.loads(call("POST", "/iam/v1/organizations/1/clients", json.dumps(dict(client, name="x" * 33)).encode(),
                           post)[1])["failed"] is True
    assert json.loads(call("POST", "/iam/v1/organizations/1/clients", json.dumps(client).encode(), post)[1])["name"] == \
        "choerodon"
    assert json.loads(call("POST", "/iam/v1/organizations/1/clients", json.dumps(client).encode(), post)[1])["code"] == \
        "error.client.exist"
    assert json.loads(call("GET", query, headers=auth)[1])["authorizedGrantTypes"] == "implicit"
    world.pod_event("DELETED", pods[1])   # oauth-server gone: token requests fail as Zuul's
    assert call("POST", "/oauth/oauth/token", form, FORM)[0] == 500


def test_the_xwiki_steps_wait_for_steps_1_to_10_at_their_target_versions():
    framework = [s for s in PLAN.steps if s.number <= 10 and "xwiki" not in s.operations]
    at_target = [(s.chart, s.version) for s in framework]
    assert xwiki.steps_at_target(PLAN, 10, at_target)
    assert not xwiki.steps_at_target(PLAN, 10, at_target[1:])                      # a step with no pod
    assert not xwiki.steps_at_target(PLAN, 10, at_target + [(framework[0].chart, "0.8.0")])   # one pod still old
    assert xwiki.steps_at_target(PLAN, 0, [])
