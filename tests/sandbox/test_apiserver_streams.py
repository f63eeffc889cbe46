"""The sandbox Kubernetes API server's streams and plumbing: pod logs, the pod and service proxies,
watches; the kubeconfig, request logging and mounts; the store directly."""
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from kubernetes import watch
from kubernetes.client.rest import ApiException

from c7n_upgrade.sandbox.apiserver import Store
from c7n_upgrade.sandbox.apiserver.errors import AlreadyExists, Conflict, Invalid, NotFound

from .apiserver_objects import core, pod  # noqa: F401 (core: a fixture)
from .conftest import NAMESPACE


@pytest.fixture
def upstream():
    """A tiny HTTP server on 127.0.0.1 standing in for a pod's process."""
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            payload = json.dumps({"method": self.command, "path": self.path, "body": body.decode()}).encode()
            self.send_response(200 if not self.path.startswith("/down") else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------- logs, proxy, watch

def test_pod_logs_come_from_the_log_provider(api_server, core, kubectl):
    calls = []

    def provider(namespace, name, tail_lines):
        calls.append((namespace, name, tail_lines))
        return "line1\nline2\nStarted IamApplication\n"

    api_server.log_provider = provider
    core.create_namespaced_pod(NAMESPACE, pod("iam-1"))
    assert "Started IamApplication" in core.read_namespaced_pod_log("iam-1", NAMESPACE, tail_lines=5)
    assert kubectl("logs", "iam-1").stdout.endswith("Started IamApplication\n")
    assert calls == [(NAMESPACE, "iam-1", 5), (NAMESPACE, "iam-1", None)]
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod_log("nope", NAMESPACE)
    assert missing.value.status == 404


def test_pod_proxy_forwards_to_the_pod_ip(core, api_server, upstream, kubectl):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1", port=upstream))
    core.create_namespaced_pod(NAMESPACE, pod("pending-1", port=upstream))
    core.patch_namespaced_pod_status("iam-1", NAMESPACE, {"status": {"podIP": "127.0.0.1"}})
    raw_answer = core.connect_get_namespaced_pod_proxy_with_path("iam-1", NAMESPACE, "health",
                                                                 _preload_content=False)
    answer = json.loads(raw_answer.data)
    assert answer["path"] == "/health" and answer["method"] == "GET"
    raw = kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/iam-1:{upstream}/proxy/env?x=1&x=2").stdout
    assert json.loads(raw)["path"] == "/env?x=1&x=2"
    base = f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods"
    posted = requests.post(f"{base}/iam-1/proxy/form", data="a=b").json()
    assert (posted["method"], posted["body"]) == ("POST", "a=b")
    down = requests.get(f"{base}/iam-1/proxy/down")
    assert down.status_code == 503 and down.json()["path"] == "/down"      # upstream status passed through
    no_ip = requests.get(f"{base}/pending-1/proxy/health")
    assert no_ip.status_code == 503 and no_ip.json()["kind"] == "Status"
    refused = requests.get(f"{base}/iam-1:1/proxy/health")
    assert refused.status_code == 503 and "error trying to reach" in refused.json()["message"]


def test_service_proxy_forwards_to_cluster_ip(core, api_server, upstream):
    core.create_namespaced_service(NAMESPACE, {"metadata": {"name": "iam"},
                                               "spec": {"clusterIP": "127.0.0.1",
                                                        "ports": [{"name": "http", "port": upstream}]}})
    answer = requests.get(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/services/iam:http/proxy/v2/api-docs")
    assert answer.status_code == 200 and answer.json()["path"] == "/v2/api-docs"


def test_watch_streams_existing_and_new_events(core, store):
    core.create_namespaced_pod(NAMESPACE, pod("iam-1", {"app": "iam"}))
    seen = []
    w = watch.Watch()

    def later():
        store.create("pods", pod("iam-2", {"app": "iam"}), NAMESPACE)
        store.create("pods", pod("other", {"app": "x"}), NAMESPACE)
        store.delete("pods", NAMESPACE, "iam-1")

    timer = threading.Timer(0.3, later)
    timer.start()
    for event in w.stream(core.list_namespaced_pod, NAMESPACE, label_selector="app=iam", timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    timer.join()
    assert seen == [("ADDED", "iam-1"), ("ADDED", "iam-2"), ("DELETED", "iam-1")]


# ---------------------------------------------------------------- kubeconfig, logging, mounts

def test_kubeconfig_is_private_and_points_at_the_server(kubeconfig, api_server):
    import yaml
    assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
    config = yaml.safe_load(open(kubeconfig))
    assert config["current-context"] == "sandbox"
    assert config["clusters"][0]["cluster"]["server"] == api_server.url
    assert config["contexts"][0]["context"]["namespace"] == NAMESPACE


def test_request_lines_are_logged_and_mounts_answer(api_server, tmp_path):
    api_server.mount("/charts/", lambda method, path, query, headers, body: (
        200, {"Content-Type": "text/yaml"}, f"{method} {path} {query}".encode()))
    answer = requests.get(api_server.url + "/charts/index.yaml?x=1")
    assert answer.text == "GET /charts/index.yaml {'x': '1'}"
    requests.get(api_server.url + "/api/v1/namespaces/default/pods/none")
    log_text = (tmp_path / "apiserver.log").read_text()
    assert "GET /charts/index.yaml?x=1 200" in log_text
    assert "GET /api/v1/namespaces/default/pods/none 404" in log_text


# ---------------------------------------------------------------- store directly

def test_store_events_are_delivered_in_order_outside_the_lock():
    store = Store()
    events = []

    def react(event, resource, obj):
        events.append((event, resource, obj["metadata"]["name"]))
        if resource == "deployments.apps" and event == "ADDED":   # a controller writing from a callback
            store.create("pods", {"metadata": {"name": obj["metadata"]["name"] + "-pod"}}, "default")

    store.subscribe(react)
    store.create("deployments.apps", {"metadata": {"name": "d"}, "spec": {}}, "default")
    assert events == [("ADDED", "deployments.apps", "d"), ("ADDED", "pods", "d-pod")]


def test_store_errors_and_conflicts():
    store = Store(namespaces=("default",))
    store.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}}, "default")
    with pytest.raises(AlreadyExists):
        store.create("configmaps", {"metadata": {"name": "c"}}, "default")
    stale = store.get("configmaps", "default", "c")
    store.patch("configmaps", "default", "c", {"data": {"a": "2"}}, "merge")
    with pytest.raises(Conflict):
        store.replace("configmaps", stale, "default")
    with pytest.raises(NotFound):
        store.get("configmaps", "default", "missing")
    with pytest.raises(NotFound):
        store.create("configmaps", {"metadata": {"name": "c"}}, "choerodon-devops-prod")
    with pytest.raises(Invalid):
        store.create("configmaps", {"metadata": {}}, "default")
    with pytest.raises(Invalid):
        store.patch("configmaps", "default", "c", [{"op": "remove", "path": "/data/zzz"}], "json")
