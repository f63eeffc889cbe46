"""The upgrade lock is a lease: renewed by its holder, checked before every write; a broken lock
stops the old holder before its next write; a stale lock is described with the command to break it.
Against the real control plane of the session (no node, no MariaDB)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from c7n_upgrade.kube import KubeClient, LockHeld, LockLease, LockLost
from c7n_upgrade.kube.lock import LOCK_PREFIX

NS = "choerodon-devops-prod"


class ConfigMaps:
    """The lock's ConfigMap read and written as the tests' other party (the cluster admin)."""

    def __init__(self, kubeconfig):
        from kubernetes import client as k8s, config as kube_config
        self.api = kube_config.new_client_from_config(config_file=str(kubeconfig), context="sandbox")
        self.core = k8s.CoreV1Api(self.api)

    def get(self, resource, namespace, name):
        assert resource == "configmaps"
        return self.api.sanitize_for_serialization(self.core.read_namespaced_config_map(name, namespace))

    def replace(self, resource, obj, namespace):
        self.core.replace_namespaced_config_map(obj["metadata"]["name"], namespace, obj)

    def delete(self, resource, namespace, name):
        from kubernetes.client.rest import ApiException
        try:
            self.core.delete_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def api(control_plane):
    store = ConfigMaps(control_plane.kubeconfig)
    store.delete("configmaps", NS, "c7n-upgrade-lock")   # each test starts with no lock
    clients = []

    def client():
        clients.append(KubeClient(kubeconfig=str(control_plane.kubeconfig)))
        return clients[-1]

    yield store, client
    for c in clients:
        c.close()
    store.delete("configmaps", NS, "c7n-upgrade-lock")
    store.api.close()


def annotations(store):
    return store.get("configmaps", NS, "c7n-upgrade-lock")["metadata"]["annotations"]


def test_the_holder_renews_it_and_a_break_stops_it_before_its_next_write(api):
    store, client = api
    lease = LockLease(client(), "alice@bastion:1", renew_every=0.05)
    lease.acquire()
    first = annotations(store)[LOCK_PREFIX + "renewed"]
    lease.check("helm upgrade register-server")  # held: nothing raised
    deadline = time.monotonic() + 10
    while annotations(store)[LOCK_PREFIX + "renewed"] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert annotations(store)[LOCK_PREFIX + "renewed"] > first  # renewed (ISO times sort)

    # alive here and renewing: --break-lock is refused. Frozen (no renewal for long), it may be broken
    with pytest.raises(LockHeld, match=r"--break-lock refused.*alive on this host"):
        client().acquire_lock(owner="bob@bastion-2:2", break_lock=True)
    lease._stop.set()
    lease._thread.join(timeout=30)  # a renewal in flight would overwrite the frozen time below
    assert not lease._thread.is_alive(), "the renewal thread did not stop"
    cm = store.get("configmaps", NS, "c7n-upgrade-lock")
    cm["metadata"]["annotations"][LOCK_PREFIX + "renewed"] = "2020-01-01T00:00:00Z"
    store.replace("configmaps", cm, NS)
    taken = client().acquire_lock(owner="bob@bastion-2:2", break_lock=True)  # the other run's --break-lock
    assert taken.broken.owner == "alice@bastion:1"
    with pytest.raises(LockLost, match=r"taken over by 'bob@bastion-2:2'.*stopping before helm upgrade config-server"):
        lease.check("helm upgrade config-server")
    assert lease.release() is False
    assert annotations(store)[LOCK_PREFIX + "owner"] == "bob@bastion-2:2"  # the new holder's lock stays


def test_a_deleted_lock_is_lost_too(api):
    store, client = api
    lease = LockLease(client(), "alice@bastion:1", renew_every=60)
    lease.acquire()
    store.delete("configmaps", NS, "c7n-upgrade-lock")
    with pytest.raises(LockLost, match="is gone.*stopping before SQL for database notify_service"):
        lease.check("SQL for database notify_service")
    assert lease.release() is False  # lost: nothing to release, and its renewal thread stops
    assert not lease._thread.is_alive()


def test_a_lock_left_by_a_dead_process_on_this_host_is_stale_with_the_command(api):
    store, client = api
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    kube = client()
    kube.acquire_lock(owner="killed-run")
    cm = store.get("configmaps", NS, "c7n-upgrade-lock")
    cm["metadata"]["annotations"][LOCK_PREFIX + "pid"] = str(dead.pid)
    store.replace("configmaps", cm, NS)
    with pytest.raises(LockHeld) as exc:
        client().acquire_lock(owner="next-run", break_command="pytest suites/ --env prod --break-lock")
    message = str(exc.value)
    assert f"(pid {dead.pid}) is no longer running on this host" in message
    assert "Break it on purpose: pytest suites/ --env prod --break-lock" in message


def test_a_lock_not_renewed_for_long_is_described_as_such(api):
    store, client = api
    client().acquire_lock(owner="elsewhere")
    cm = store.get("configmaps", NS, "c7n-upgrade-lock")
    cm["metadata"]["annotations"].update({LOCK_PREFIX + "host": "bastion-9", LOCK_PREFIX + "renewed": "2020-01-01T00:00:00Z"})
    store.replace("configmaps", cm, NS)
    with pytest.raises(LockHeld, match="has not renewed it since 2020-01-01T00:00:00Z"):
        client().acquire_lock(owner="next-run")


def test_a_live_holder_is_not_called_stale(api):
    _store, client = api
    client().acquire_lock(owner="running")
    with pytest.raises(LockHeld) as exc:
        client().acquire_lock(owner="next-run")
    assert "stale:" not in str(exc.value) and "Wait for that run to finish" in str(exc.value)


# ---- --break-lock refuses a live holder; a lock whose helm still runs here is busy, never stale --------
def _lock_with(store, client, **ann):
    client().acquire_lock(owner="first-run")
    cm = store.get("configmaps", NS, "c7n-upgrade-lock")
    cm["metadata"]["annotations"].update({LOCK_PREFIX + k: v for k, v in ann.items()})
    store.replace("configmaps", cm, NS)


def _gone_pid() -> str:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return str(dead.pid)


def test_break_lock_refuses_a_holder_alive_here_and_renewing_naming_its_pid_and_age(api):
    store, client = api
    _lock_with(store, client, since="2026-11-26T01:00:00Z")  # this process: alive, renewed just now
    with pytest.raises(LockHeld) as exc:
        client().acquire_lock(owner="next-run", break_lock=True)
    assert exc.value.kind == "lock-live"
    message = str(exc.value)
    assert message.startswith("--break-lock refused: another upgrade run holds the lock")
    assert f"(pid {os.getpid()}) is alive on this host, renewed " in message and "ago)" in message
    assert f"Stop that run first (Ctrl-C in its terminal, or `kill {os.getpid()}`)" in message
    assert annotations(store)[LOCK_PREFIX + "owner"] == "first-run"  # not broken


def test_a_gone_holder_whose_helm_still_runs_here_is_busy_and_never_broken(api):
    store, client = api
    helm = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        _lock_with(store, client, pid=_gone_pid(), **{"helm-pid": str(helm.pid),
                                                      "helm-command": "helm upgrade iam-service c7n/iam-service"})
        for breaking in (False, True):
            with pytest.raises(LockHeld) as exc:
                client().acquire_lock(owner="next-run", break_lock=breaking, break_command="pytest --break-lock")
            message = str(exc.value)
            assert exc.value.kind == "lock-busy" and "stale" not in message.replace("not stale", "")
            assert f"helm pid {helm.pid} (`helm upgrade iam-service c7n/iam-service`) is still running" in message
            assert "Wait for that helm to finish" in message and "Break it on purpose" not in message
        assert annotations(store)[LOCK_PREFIX + "owner"] == "first-run"
    finally:
        helm.kill()
        helm.wait()
    # helm gone too: stale, and broken on purpose
    with pytest.raises(LockHeld, match=r"is no longer running on this host. Break it on purpose"):
        client().acquire_lock(owner="next-run")
    assert client().acquire_lock(owner="next-run", break_lock=True).broken.owner == "first-run"


def test_a_helm_left_in_its_process_group_by_a_wrapper_keeps_the_lock_busy(api):
    """The recorded pid is helm's process group: the wrapper it names is gone, the helm it forked is not."""
    store, client = api
    wrapper = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!"], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    child = int(wrapper.stdout.readline())
    wrapper.wait()
    try:
        _lock_with(store, client, pid=_gone_pid(), **{"helm-pid": str(wrapper.pid)})
        with pytest.raises(LockHeld) as exc:
            client().acquire_lock(owner="next-run", break_lock=True)
        assert exc.value.kind == "lock-busy"
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_holder_records_its_helm_child_and_clears_it(api):
    store, client = api
    lease = LockLease(client(), "alice@bastion:1", renew_every=60)
    lease.acquire()
    lease.record_helm(4242, "helm upgrade register-server c7n/register-server --version 0.9.0")
    assert annotations(store)[LOCK_PREFIX + "helm-pid"] == "4242"
    assert annotations(store)[LOCK_PREFIX + "helm-command"].startswith("helm upgrade register-server")
    lease.record_helm(None)
    assert LOCK_PREFIX + "helm-pid" not in annotations(store)
    lease.release()


def test_break_lock_refuses_a_holder_on_another_host_that_renews_it_now(api):
    """A second bastion's run, renewing right now: alive, so not broken; once it stops renewing, it may be."""
    store, client = api
    _lock_with(store, client, since="2026-11-26T01:00:00Z", host="other-bastion", pid="4242")
    with pytest.raises(LockHeld) as exc:
        client().acquire_lock(owner="next-run", break_lock=True)
    assert exc.value.kind == "lock-live"
    assert "its holder on other-bastion (pid 4242) renewed it 0s ago: that run is alive" in str(exc.value)
    assert annotations(store)[LOCK_PREFIX + "owner"] == "first-run"
    cm = store.get("configmaps", NS, "c7n-upgrade-lock")
    cm["metadata"]["annotations"][LOCK_PREFIX + "renewed"] = "2020-01-01T00:00:00Z"
    store.replace("configmaps", cm, NS)
    assert client().acquire_lock(owner="next-run", break_lock=True).broken.owner == "first-run"
