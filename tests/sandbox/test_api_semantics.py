"""API promises the official client relies on: watch (history, 410, selectors, bookmarks, timeouts),
preconditions, field selectors, limit/continue, percent-decoded paths, error bodies, bounded
connections. Driven through the pinned `kubernetes` client where it has a call for it."""
from __future__ import annotations

import json
import socket
import threading

import pytest
import requests
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from c7n_upgrade.sandbox.apiserver import ApiServer, Store

from .conftest import NAMESPACE
from .kubectl_output import wait_for
from .test_apiserver_streams import upstream  # noqa: F401  (the fixture: an HTTP server standing in for a pod)


def configmap(name, labels=None, data=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data or {"k": "v"}}


def events(core, **kwargs):
    """Every (type, name) a watch of the namespace's ConfigMaps yields until its timeout."""
    w = watch.Watch()
    return [(e["type"], (e["raw_object"].get("metadata") or {}).get("name"))
            for e in w.stream(core.list_namespaced_config_map, NAMESPACE, **kwargs)]


@pytest.fixture
def core(kube_client):
    return client.CoreV1Api(kube_client)


# ---------------------------------------------------------------- watch

def test_list_then_watch_sees_the_change_made_between_the_two_calls(core):
    core.create_namespaced_config_map(NAMESPACE, configmap("before"))
    listed = core.list_namespaced_config_map(NAMESPACE)
    core.create_namespaced_config_map(NAMESPACE, configmap("between"))
    core.delete_namespaced_config_map("before", NAMESPACE)
    seen = events(core, resource_version=listed.metadata.resource_version, timeout_seconds=1)
    assert seen == [("ADDED", "between"), ("DELETED", "before")]


def test_watch_replays_create_and_delete_from_the_version_before_them(core):
    rv = core.list_namespaced_config_map(NAMESPACE).metadata.resource_version
    created = core.create_namespaced_config_map(NAMESPACE, configmap("gone"))
    core.delete_namespaced_config_map("gone", NAMESPACE)
    w = watch.Watch()
    raw = [e["raw_object"] for e in w.stream(core.list_namespaced_config_map, NAMESPACE, resource_version=rv,
                                              timeout_seconds=1)]
    assert [(e["metadata"]["name"]) for e in raw] == ["gone", "gone"]
    versions = [int(e["metadata"]["resourceVersion"]) for e in raw]
    assert versions[0] == int(created.metadata.resource_version) < versions[1]   # DELETED: the deletion's rv


def test_watch_from_a_version_older_than_the_history_gets_410(tmp_path):
    store = Store(history_size=5)
    with ApiServer(store) as server:
        core = client.CoreV1Api(client.ApiClient(client.Configuration(host=server.url)))
        first = core.create_namespaced_config_map(NAMESPACE, configmap("c0")).metadata.resource_version
        for i in range(1, 8):
            core.create_namespaced_config_map(NAMESPACE, configmap(f"c{i}"))
        with pytest.raises(ApiException) as expired:
            events(core, resource_version=first, timeout_seconds=1)
        assert expired.value.status == 410 and "Expired: too old resource version" in expired.value.reason
        latest = core.list_namespaced_config_map(NAMESPACE).metadata.resource_version
        assert events(core, resource_version=str(int(latest) - 2), timeout_seconds=1) == [
            ("ADDED", "c6"), ("ADDED", "c7")]


def test_watch_without_a_version_starts_with_the_current_objects(core, store):
    core.create_namespaced_config_map(NAMESPACE, configmap("a", {"app": "x"}))
    later = threading.Timer(0.3, lambda: store.create("configmaps", configmap("b", {"app": "x"}), NAMESPACE))
    later.start()
    assert events(core, label_selector="app=x", timeout_seconds=2) == [("ADDED", "a"), ("ADDED", "b")]
    later.join()


def test_objects_entering_and_leaving_a_selection_arrive_as_added_and_deleted(core):
    rv = core.list_namespaced_config_map(NAMESPACE).metadata.resource_version
    core.create_namespaced_config_map(NAMESPACE, configmap("m", {"app": "other"}))
    core.patch_namespaced_config_map("m", NAMESPACE, {"metadata": {"labels": {"app": "x"}}})
    core.patch_namespaced_config_map("m", NAMESPACE, {"data": {"k": "w"}})
    core.patch_namespaced_config_map("m", NAMESPACE, {"metadata": {"labels": {"app": "other"}}})
    assert events(core, resource_version=rv, label_selector="app=x", timeout_seconds=1) == [
        ("ADDED", "m"), ("MODIFIED", "m"), ("DELETED", "m")]


def test_bookmarks_carry_the_current_resource_version(core):
    core.create_namespaced_config_map(NAMESPACE, configmap("a"))
    rv = core.list_namespaced_config_map(NAMESPACE).metadata.resource_version
    w = watch.Watch()
    seen = [e for e in w.stream(core.list_namespaced_config_map, NAMESPACE, resource_version=rv,
                                allow_watch_bookmarks=True, timeout_seconds=3)]
    assert [e["type"] for e in seen] == ["BOOKMARK"]
    assert seen[0]["raw_object"]["metadata"]["resourceVersion"] == rv
    assert seen[0]["raw_object"]["kind"] == "ConfigMap"


def test_send_initial_events_ends_with_the_initial_events_end_bookmark(api_server, core):
    core.create_namespaced_config_map(NAMESPACE, configmap("a"))
    answer = requests.get(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/configmaps", params={
        "watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true", "timeoutSeconds": "1"}, timeout=30)
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [e["type"] for e in lines[:2]] == ["ADDED", "BOOKMARK"]
    assert lines[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_watch_ends_when_its_client_leaves(api_server, store):
    url = f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/configmaps?watch=1"
    leaving, staying = (requests.get(url, stream=True, timeout=30) for _ in range(2))
    wait_for(lambda: len(store._watchers) == 2, what="two watches open")
    leaving.close()
    wait_for(lambda: len(store._watchers) == 1, what="the watch of the client that left ends")
    staying.close()


def test_server_stop_ends_open_watches_and_their_threads():
    store = Store()
    api = ApiServer(store)
    url = api.start() + f"/api/v1/namespaces/{NAMESPACE}/configmaps?watch=1"
    streams = [requests.get(url, stream=True, timeout=30) for _ in range(3)]
    wait_for(lambda: len(store._watchers) == 3, what="three watches open")
    api.stop()
    assert not store._watchers
    assert not [t for t in threading.enumerate() if t.name == "sandbox-apiserver-conn" and t.is_alive()]
    for s in streams:
        s.close()


# ---------------------------------------------------------------- preconditions, selectors, pages

def test_delete_with_a_wrong_uid_or_resource_version_precondition_is_a_conflict(core):
    created = core.create_namespaced_config_map(NAMESPACE, configmap("guarded"))
    for preconditions, message in (
            ({"uid": "00000000-0000-0000-0000-000000000000"},
             'Operation cannot be fulfilled on ConfigMap "guarded": the UID in the precondition '
             f"(00000000-0000-0000-0000-000000000000) does not match the UID in record ({created.metadata.uid}). "
             "The object might have been deleted and then recreated"),
            ({"resourceVersion": "1"},
             'Operation cannot be fulfilled on ConfigMap "guarded": the ResourceVersion in the precondition (1) '
             f"does not match the ResourceVersion in record ({created.metadata.resource_version}). "
             "The object might have been modified")):
        with pytest.raises(ApiException) as conflict:
            core.delete_namespaced_config_map("guarded", NAMESPACE, body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(**{{"uid": "uid", "resourceVersion": "resource_version"}[k]: v
                                                        for k, v in preconditions.items()})))
        status = json.loads(conflict.value.body)
        assert (conflict.value.status, status["reason"], status["message"]) == (409, "Conflict", message)
        assert status["details"] == {"name": "guarded", "kind": "ConfigMap"}
    core.delete_namespaced_config_map("guarded", NAMESPACE, body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=created.metadata.uid)))
    assert not core.list_namespaced_config_map(NAMESPACE).items


def test_replace_with_another_uid_is_a_conflict(core):
    created = core.create_namespaced_config_map(NAMESPACE, configmap("mine"))
    created.metadata.uid = "someone-else"
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("mine", NAMESPACE, created)
    assert conflict.value.status == 409
    assert "Precondition failed: UID in precondition: someone-else" in json.loads(conflict.value.body)["message"]


def test_unknown_field_selector_is_a_bad_request(core, kube_client):
    core.create_namespaced_pod(NAMESPACE, {"metadata": {"name": "p"},
                                           "spec": {"containers": [{"name": "c", "image": "x"}]}})
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(NAMESPACE, field_selector="spec.foo=bar")
    status = json.loads(bad.value.body)
    assert (bad.value.status, status["reason"], status["message"]) == (400, "BadRequest",
                                                                        "field label not supported: spec.foo")
    assert [p.metadata.name for p in core.list_namespaced_pod(NAMESPACE, field_selector="status.phase!=Running,"
                                                                                        "spec.hostNetwork=false").items] == ["p"]
    with pytest.raises(ApiException) as on_configmaps:
        core.list_namespaced_config_map(NAMESPACE, field_selector="status.phase=Running")
    assert on_configmaps.value.status == 400
    with pytest.raises(ApiException) as on_watch:
        events(core, field_selector="data.k=v", timeout_seconds=1)
    assert on_watch.value.status == 400


def test_limit_returns_a_continue_token_that_pages_through_everything(core):
    names = [f"cm-{i}" for i in range(5)]
    for n in names:
        core.create_namespaced_config_map(NAMESPACE, configmap(n))
    first = core.list_namespaced_config_map(NAMESPACE, limit=1)
    assert [c.metadata.name for c in first.items] == ["cm-0"]
    assert first.metadata._continue and first.metadata.remaining_item_count == 4
    core.create_namespaced_config_map(NAMESPACE, configmap("cm-9"))      # after the first page: not in this list
    core.delete_namespaced_config_map("cm-3", NAMESPACE)                 # nor is this delete
    seen, page = [], first
    while True:
        seen += [c.metadata.name for c in page.items]
        assert page.metadata.resource_version == first.metadata.resource_version
        if not page.metadata._continue:
            break
        page = core.list_namespaced_config_map(NAMESPACE, limit=1, _continue=page.metadata._continue)
    assert seen == names
    assert [c.metadata.name for c in core.list_namespaced_config_map(NAMESPACE, limit=10).items] == [
        "cm-0", "cm-1", "cm-2", "cm-4", "cm-9"]


def test_bad_and_expired_continue_tokens(tmp_path):
    store = Store(history_size=3)
    with ApiServer(store) as server:
        core = client.CoreV1Api(client.ApiClient(client.Configuration(host=server.url)))
        for i in range(3):
            core.create_namespaced_config_map(NAMESPACE, configmap(f"c{i}"))
        token = core.list_namespaced_config_map(NAMESPACE, limit=1).metadata._continue
        with pytest.raises(ApiException) as bad:
            core.list_namespaced_config_map(NAMESPACE, limit=1, _continue="not-a-token")
        assert bad.value.status == 400 and "continue key is not valid" in json.loads(bad.value.body)["message"]
        for i in range(3, 7):
            core.create_namespaced_config_map(NAMESPACE, configmap(f"c{i}"))
        with pytest.raises(ApiException) as expired:
            core.list_namespaced_config_map(NAMESPACE, limit=1, _continue=token)
        assert (expired.value.status, json.loads(expired.value.body)["reason"]) == (410, "Expired")


# ---------------------------------------------------------------- paths and error bodies

def test_percent_encoded_names_are_decoded_in_every_path(api_server, core):
    core.create_namespaced_config_map(NAMESPACE, configmap("a.b"))
    encoded_ns = NAMESPACE.replace("-", "%2D")
    answer = requests.get(f"{api_server.url}/api/v1/namespaces/{encoded_ns}/configmaps/a%2Eb")
    assert answer.status_code == 200 and answer.json()["metadata"]["name"] == "a.b"


def test_the_client_proxy_path_name_colon_port_reaches_the_pod(core, upstream):
    core.create_namespaced_pod(NAMESPACE, {"metadata": {"name": "web"}, "spec": {"containers": [
        {"name": "c", "image": "x", "ports": [{"containerPort": 1}]}]}})
    core.patch_namespaced_pod_status("web", NAMESPACE, {"status": {"podIP": "127.0.0.1"}})
    # the client sends web%3APORT/proxy/actuator%2Fhealth: both are decoded, as the real server does
    answer = core.connect_get_namespaced_pod_proxy_with_path(f"web:{upstream}", NAMESPACE, "actuator/health",
                                                             _preload_content=False)
    assert json.loads(answer.data)["path"] == "/actuator/health"


def test_error_bodies_are_encoded_as_the_real_server_writes_them(api_server, core):
    missing = requests.get(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods/nope")
    assert missing.content == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                               b'"message":"pods \\"nope\\" not found","reason":"NotFound",'
                               b'"details":{"name":"nope","kind":"pods"},"code":404}\n')
    core.create_namespaced_config_map(NAMESPACE, configmap("x"))
    exists = requests.post(f"{api_server.url}/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                           json={"metadata": {"name": "d"}, "spec": {}})
    again = requests.post(f"{api_server.url}/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                          json={"metadata": {"name": "d"}, "spec": {}})
    assert exists.status_code == 201
    assert again.content == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                             b'"message":"deployments.apps \\"d\\" already exists","reason":"AlreadyExists",'
                             b'"details":{"name":"d","group":"apps","kind":"deployments"},"code":409}\n')
    unknown = requests.get(f"{api_server.url}/apis/nope/v1/things")
    assert unknown.content.endswith(b'"reason":"NotFound","details":{},"code":404}\n')
    pretty = requests.get(f"{api_server.url}/api/v1/namespaces/{NAMESPACE}/pods/nope",
                          headers={"User-Agent": "curl/8.5.0"})
    assert pretty.text.startswith('{\n  "kind": "Status",') and pretty.json() == missing.json()


def test_connections_beyond_the_limit_get_429_with_retry_after():
    with ApiServer(Store(), max_connections=2) as server:
        host, port = server.url.split("//")[1].split(":")
        held = [socket.create_connection((host, int(port))) for _ in range(2)]
        try:
            for s in held:       # each holds a keep-alive connection (and its thread)
                s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
                assert s.recv(65536).startswith(b"HTTP/1.1 200")
            answer = requests.get(server.url + "/version")
            assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
            assert answer.json()["reason"] == "TooManyRequests"
        finally:
            for s in held:
                s.close()
        wait_for(lambda: requests.get(server.url + "/version").status_code == 200, what="a freed connection serves")
