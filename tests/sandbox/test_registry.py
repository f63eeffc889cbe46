"""c7n_upgrade.registry against a registry on loopback that speaks the Registry API v2 as Docker Hub and
Harbor do: a 401 with a Bearer challenge, an anonymous token from the realm, then HEAD of the manifest."""
from __future__ import annotations

import pytest

from c7n_upgrade.registry import ImageRef, ask
from tests.registry_standin import standin_registry


@pytest.fixture(scope="module")
def registry():
    with standin_registry() as (address, handler):
        yield address, handler


def test_a_tag_the_registry_holds_is_present_after_the_anonymous_token(registry):
    address, handler = registry
    answer = ask(ImageRef.parse(f"{address}/choerodon/iam-service:0.8.0"), timeout=5)
    assert answer.status == "present", answer
    assert "repository:choerodon/iam-service:pull" in handler.asked_scopes


def test_a_missing_tag_is_missing_and_says_which(registry):
    answer = ask(ImageRef.parse(f"{registry[0]}/choerodon/iam-service:0.8.0", tag="0.9.0"), timeout=5)
    assert answer.status == "missing" and "has no choerodon/iam-service:0.9.0" in answer.detail


def test_a_registry_that_wants_credentials_is_refused_not_missing(registry):
    assert ask(ImageRef.parse(f"{registry[0]}/private/thing:1"), timeout=5).status == "refused"


def test_no_registry_is_unanswered_not_missing():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer = ask(ImageRef.parse(f"127.0.0.1:{port}/choerodon/iam-service:0.9.0"), timeout=2)
    assert answer.status == "unanswered" and f"127.0.0.1:{port}" in answer.detail


def test_a_404_from_something_that_is_not_a_registry_is_unanswered_not_missing():
    """A proxy's or a web server's 404 (no Docker-Distribution-Api-Version header) proves nothing."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answer = ask(ImageRef.parse(f"127.0.0.1:{server.server_address[1]}/no/such:1"), timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status == "unanswered" and "not as a registry" in answer.detail
