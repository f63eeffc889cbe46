"""Pre-flight proves the platform calls' inputs read-only: the organization exists (and a front client
there belongs to it), and each route the plan writes through answers, authorized, without `failed`."""
from __future__ import annotations

import json

from c7n_upgrade.operations import platform_inputs
from c7n_upgrade.settings import FrontOAuthClient
from tests.sandbox.test_platform import PASSWORD, client, gateway  # noqa: F401  (fixtures)

ORG_1 = ("GET", "/iam/v1/organizations/1")
DOCS = {("GET", "/devops/v2/choerodon/api-docs"), ("GET", "/wiki/v2/choerodon/api-docs")}
FAILED = b'{"failed": true, "code": "error.gateway.route", "message": "cannot forward"}'


def _ready(gateway, client):
    gateway.overrides[ORG_1] = (200, json.dumps({"id": 1, "code": "choerodon"}).encode())
    for route in DOCS:
        gateway.overrides[route] = (200, b'{"swagger": "2.0", "paths": {}}')
    client.login("admin", PASSWORD, "client", "secret")


def front(org: int = 1) -> FrontOAuthClient:
    return FrontOAuthClient(org, "http://front.example", "front-secret-1")


def test_nothing_to_say_when_the_organization_exists_and_every_route_answers(client, gateway):
    _ready(gateway, client)
    assert platform_inputs(client, front()) == []
    assert not [r for r in gateway.requests if r["method"] != "GET" and r["path"] != "/oauth/oauth/token"]


def test_an_organization_that_does_not_exist_is_said_before_any_write(client, gateway):
    _ready(gateway, client)
    gateway.overrides[("GET", "/iam/v1/organizations/7")] = (
        200, b'{"failed": true, "code": "error.organization.not.exist", "message": "organization not exist"}')
    [problem] = platform_inputs(client, front(7))
    assert problem.startswith("organization 7 (platform.organization_id) does not exist")


def test_a_gateway_answering_failed_true_is_said_for_each_route(client, gateway):
    _ready(gateway, client)
    for route in DOCS:
        gateway.overrides[route] = (200, FAILED)
    problems = platform_inputs(client, front())
    assert len(problems) == 2 and all("failed=true" in p and "error.gateway.route" in p for p in problems)
    assert problems[0].startswith("devops-service (step 11's smooth upgrade)")


def test_a_front_client_of_another_organization_is_said(client, gateway):
    _ready(gateway, client)
    gateway.clients["choerodon"] = {"name": "choerodon", "organizationId": 3}
    [problem] = platform_inputs(client, front())
    assert "belongs to organization 3" in problem


def test_a_route_that_refuses_the_read_only_call_is_noted_not_failed_and_a_server_error_fails(client, gateway):
    """The gateway may register no permission for the API docs (gateway-helper refuses a path without one):
    that proves nothing about the step's own call, so it is noted; a 5xx is a failing gateway."""
    _ready(gateway, client)
    gateway.overrides[("GET", "/devops/v2/choerodon/api-docs")] = (403, b'{"message": "mismatch any permission"}')
    gateway.overrides[("GET", "/wiki/v2/choerodon/api-docs")] = (502, b"bad gateway")
    notes = []
    [problem] = platform_inputs(client, front(), notes=notes)
    assert problem.startswith("wiki-service (step 15's home page)") and "HTTP 502" in problem
    [note] = notes
    assert note.startswith("devops-service (step 11's smooth upgrade): not proven by a read-only call") and "403" in note
