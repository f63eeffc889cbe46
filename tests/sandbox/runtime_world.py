"""The sandbox runtime in-process, shared by its tests (test_runtime*.py): a real Store, the real
charts.render, the Runtime; no MariaDB. Pods answer on their own 127.20.x.y address over real HTTP."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts
from c7n_upgrade.sandbox.apiserver import Store
from c7n_upgrade.sandbox.runtime import Runtime
from tests.sandbox.kubectl_output import wait_for

PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace
ADMIN_PASSWORD = "admin-pw-for-tests"
CLIENT_SECRET = "client-secret-for-tests"


def http(method, url, body=None, headers=None, timeout=3):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def get_json(url, headers=None):
    status, _, body = http("GET", url, headers=headers)
    return status, (json.loads(body) if body else None)


def refused(ip, port) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return False
    except OSError:
        return True


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def install(store, release, version=None, *, values=None, chart=None, replicas=1, labels_patch=None):
    """Render a plan chart and create (or replace) its Deployment and Service in the store."""
    step = next(s for s in PLAN.steps if s.release == release or s.chart == (chart or release))
    chart = chart or step.chart
    version = version or step.from_version or step.version
    vals = {"replicaCount": replicas, "env": {"open": {}}}
    if values:
        vals = charts.deep_merge(vals, values)
    objs = charts.render(release, chart, version, vals, NS, step.health_port, step.service_port)
    for obj in objs:
        if obj["kind"] == "Deployment" and labels_patch:
            obj["spec"]["template"]["metadata"]["labels"].update(labels_patch)
        resource = {"Deployment": "deployments.apps", "Service": "services"}.get(obj["kind"])
        if resource is None:
            continue
        try:
            current = store.get(resource, NS, obj["metadata"]["name"])
        except Exception:
            store.create(resource, obj, NS)
        else:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if resource == "services":
                obj["spec"]["clusterIP"] = current["spec"]["clusterIP"]
            store.replace(resource, obj, NS)


def pods_of(store, release):
    return store.list("pods", NS, label_selector=f"choerodon.io/release={release}")


def running_pod(store, release, version=None) -> dict:
    """The first pod of `release` (on `version`, when given) whose phase is Running, waited for."""
    return wait_for(lambda: [p for p in pods_of(store, release) if p["status"]["phase"] == "Running"
                             and version in (None, p["metadata"]["labels"]["choerodon.io/version"])])[0]


def is_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def ready_pods(store, release, version=None):
    return [p for p in pods_of(store, release) if is_ready(p)
            and (version is None or p["metadata"]["labels"]["choerodon.io/version"] == version)]


def health_of(pod, port):
    return get_json(f"http://{pod['status']['podIP']}:{port}/health")


class FakeProxy:
    def __init__(self):
        self.calls = []

    def refuse(self, on):
        self.calls.append(bool(on))


@pytest.fixture
def world(tmp_path):
    store = Store()
    proxy = FakeProxy()
    rt = Runtime(store, tmp_path, PLAN, NS, admin_password=ADMIN_PASSWORD, oauth_client_secret=CLIENT_SECRET,
                 start_delay=(0.05, 0.15), readiness_interval=0.05, job_delay=0.05, mysql_proxy=proxy)
    rt.start()
    yield store, rt, tmp_path
    rt.stop()


def base(store):
    """register-server and config-server up (the framework every service needs)."""
    install(store, "register-server")
    install(store, "config-server")
    wait_for(lambda: ready_pods(store, "register-server") and ready_pods(store, "config-server"),
             what="register-server and config-server Ready")
