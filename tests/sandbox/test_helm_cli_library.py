"""The sandbox `helm` executable, run as a subprocess against a real ApiServer + Store, in both dialects
(tests/sandbox/helm_harness.py): its library entry point (the bootstrap's install), and its parts (--set, durations, the API's errors).

Layouts are compared with helm's own golden outputs (tests/golden/helm-v3.19.5, copied from helm v3.19.5);
Helm 2 shapes come from shared/reference/helm-cli-contract.md.
"""
import pytest

from c7n_upgrade.sandbox.helm.engine import install_release
from c7n_upgrade.sandbox.helm.errors import HelmCliError
from c7n_upgrade.sandbox.helm.flags import go_duration_seconds
from c7n_upgrade.sandbox.helm.strvals import parse_set
from c7n_upgrade.sandbox.kubeapi import KubeApiError
from tests.sandbox.helm_harness import NS, PLAN, HelmHarness


# --- library entry points ------------------------------------------------------------------

@pytest.mark.parametrize("dialect", [2, 3])
def test_install_release_library_no_log(tmp_path, dialect):
    box = HelmHarness(tmp_path, dialect)
    try:
        step = PLAN.step("manager-service")
        rel = install_release(box.api, name="manager", chart="manager-service", version="0.8.0",
                              values={"env": {"open": {"X": 1}}}, namespace=NS, dialect=dialect,
                              plan_step=step, create_hooks=False)
        assert rel.version == 1 and rel.status == "deployed" and rel.config == {"env": {"open": {"X": 1}}}
        assert box.api.list("jobs.batch", NS) == []
        labels = box.api.get("deployments.apps", NS, "manager")["spec"]["template"]["metadata"]["labels"]
        assert labels["choerodon.io/metrics-port"] == "8964" and labels["choerodon.io/service"] == "manager-service"
        # with its hook Jobs (the leftover-jobs fault): the finished Jobs stay
        install_release(box.api, name="manager2", chart="manager-service", version="0.8.0", values={},
                        namespace=NS, dialect=dialect, plan_step=step, create_hooks=True)
        assert {j["metadata"]["name"] for j in box.api.list("jobs.batch", NS)} == {"manager2-init-db"}
        assert len(box.release_objects("manager")) == 1
        assert not (tmp_path / "helm-calls.jsonl").exists()
    finally:
        box.server.stop()


# --- pure helpers --------------------------------------------------------------------------

def test_parse_set_strvals():
    values = {}
    parse_set(r"a.b=1,c=x\,y,d={1,two},e=false,f=null,g=010,h\.i=j", values)
    assert values == {"a": {"b": 1}, "c": "x,y", "d": [1, "two"], "e": False, "f": None, "g": "010", "h.i": "j"}
    parse_set("a.b=1", values, as_string=True)
    assert values["a"]["b"] == "1"
    with pytest.raises(HelmCliError, match="has no value"):
        parse_set("novalue", {})


def test_go_duration():
    assert go_duration_seconds("5m") == 300
    assert go_duration_seconds("1h30m") == 5400
    assert go_duration_seconds("300s") == 300
    with pytest.raises(ValueError, match="missing unit"):
        go_duration_seconds("300")


def test_kubeapi_errors_map_status(tmp_path):
    box = HelmHarness(tmp_path, 3)
    try:
        with pytest.raises(KubeApiError) as err:
            box.api.get("deployments.apps", NS, "absent")
        assert err.value.status == 404 and err.value.reason == "NotFound" and "absent" in err.value.message
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"k": "v"}}}
        box.api.create("configmaps", NS, cm)
        with pytest.raises(KubeApiError) as err:
            box.api.create("configmaps", NS, cm)
        assert err.value.status == 409
        assert [o["metadata"]["name"] for o in box.api.list("configmaps", NS, "k=v")] == ["c"]
        assert box.api.list("configmaps", NS, "k=other") == []
        box.api.patch("configmaps", NS, "c", {"data": {"a": "1"}})
        assert box.api.get("configmaps", NS, "c")["data"] == {"a": "1"}
        box.api.delete("configmaps", NS, "c")
        assert box.api.get_or_none("configmaps", NS, "c") is None
    finally:
        box.server.stop()
