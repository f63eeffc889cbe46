"""The upgrade lock is a lease: renewed by its holder, checked before every write; a broken lock
stops the old holder before its next write; a stale lock is described with the command to break it.
Against the sandbox's in-process API server (no cluster, no MariaDB)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from c7n_upgrade.kube import KubeClient, LockHeld, LockLease, LockLost
from c7n_upgrade.kube.lock import LOCK_PREFIX
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig

NS = "choerodon-devops-prod"


@pytest.fixture
def api(tmp_path):
    store = Store(namespaces=(NS,))
    server = ApiServer(store, log_path=str(tmp_path / "apiserver.log"))
    url = server.start()
    write_kubeconfig(str(tmp_path / "kubeconfig"), url, NS)
    clients = []

    def client():
        clients.append(KubeClient(kubeconfig=str(tmp_path / "kubeconfig")))
        return clients[-1]

    yield store, client
    for c in clients:
        c.close()
    server.stop()


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
