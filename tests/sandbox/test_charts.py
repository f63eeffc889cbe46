"""The sandbox chart repository: catalogue from the plan, index.yaml, .tgz archives, render()."""
import hashlib
import io
import tarfile
import urllib.request

import pytest
import yaml

from c7n_upgrade.plan import load_plan
from c7n_sandbox import charts
from c7n_sandbox.chartrepo import ChartRepoServer

PLAN = load_plan("0.8-to-0.9")


@pytest.fixture(scope="module")
def catalogue():
    return charts.catalogue(PLAN)


def chart_at(catalogue, name, version):
    return next(c for c in catalogue if c.name == name and c.version == version)


def test_catalogue_has_every_plan_chart_at_both_versions(catalogue):
    have = {(c.name, c.version) for c in catalogue}
    want = set()
    for step in PLAN.steps:
        want.add((step.chart, step.version))
        if step.from_version:
            want.add((step.chart, step.from_version))
    assert have == want
    # install-only charts (from_version null) exist only at the target version
    assert [c.version for c in catalogue if c.name == "notify-service"] == ["0.9.0"]


def test_catalogue_from_plain_dict_matches_model(catalogue):
    data = yaml.safe_load(open(charts.Path(__file__).resolve().parents[2] / "plans" / "0.8-to-0.9.yaml"))
    assert charts.catalogue(data) == catalogue


def test_chart_metadata(catalogue):
    devops = chart_at(catalogue, "devops-service", "0.9.3")
    assert devops.app_version == "0.9.3"
    assert devops.chart_yaml()["description"] == "Choerodon devops-service"
    # newest first per name
    assert [c.version for c in catalogue if c.name == "devops-service"] == ["0.9.3", "0.8.1"]


def test_default_values_shape(catalogue):
    chart = chart_at(catalogue, "manager-service", "0.8.0")
    values = chart.values()
    assert values["replicaCount"] == 1
    assert values["image"] == {"repository": "registry.cn-hangzhou.aliyuncs.com/choerodon/manager-service",
                               "tag": "0.8.0", "pullPolicy": "Always"}
    assert values["service"]["port"] == 8963
    assert values["deployment"]["managementPort"] == 8964
    assert isinstance(values["env"]["open"], dict) and values["env"]["open"]
    assert "preInitDB" in values["preJob"]          # manager-service has the init-db hook
    front = chart_at(catalogue, "choerodon-front", "0.9.1")
    assert "preJob" not in front.values()            # no hooks, no preJob


def test_chart_tgz_is_a_real_deterministic_archive(catalogue):
    chart = chart_at(catalogue, "iam-service", "0.9.0")
    data = charts.chart_tgz(chart)
    assert data == charts.chart_tgz(chart)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        chart_yaml = yaml.safe_load(tar.extractfile("iam-service/Chart.yaml"))
        values = yaml.safe_load(tar.extractfile("iam-service/values.yaml"))
    assert "iam-service/templates/pre-config-db.yaml" in names
    assert chart_yaml == {"apiVersion": "v1", "appVersion": "0.9.0", "description": "Choerodon iam-service",
                          "name": "iam-service", "version": "0.9.0"}
    assert values["image"]["tag"] == "0.9.0"
    assert charts.read_chart_tgz(data) == (chart_yaml, values)


def test_index_yaml(catalogue):
    index = yaml.safe_load(charts.index_yaml(catalogue, "http://127.0.0.1:9/charts"))
    assert index["apiVersion"] == "v1"
    devops = index["entries"]["devops-service"]
    assert [e["version"] for e in devops] == ["0.9.3", "0.8.1"]   # newest first
    entry = devops[0]
    assert set(entry) >= {"name", "version", "appVersion", "description", "urls", "created", "digest"}
    assert entry["urls"] == ["http://127.0.0.1:9/charts/devops-service-0.9.3.tgz"]
    chart = chart_at(catalogue, "devops-service", "0.9.3")
    assert entry["digest"] == hashlib.sha256(charts.chart_tgz(chart)).hexdigest()


def test_repo_handler_served_on_loopback(catalogue):
    server = ChartRepoServer(charts.repo_handler(catalogue), prefix="/charts/").start()
    url = server.url.rstrip("/").removesuffix("/charts")
    try:
        with urllib.request.urlopen(url + "/charts/index.yaml", timeout=5) as resp:
            index = yaml.safe_load(resp.read())
        tgz_url = index["entries"]["wiki-service"][0]["urls"][0]
        assert tgz_url == url + "/charts/wiki-service-0.9.1.tgz"
        with urllib.request.urlopen(tgz_url, timeout=5) as resp:
            meta, _ = charts.read_chart_tgz(resp.read())
        assert meta["version"] == "0.9.1"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "/charts/wiki-service-7.7.7.tgz", timeout=5)
        assert err.value.code == 404
    finally:
        server.stop()


def test_render_deployment_service_and_hooks():
    values = charts.deep_merge(charts.default_values(charts.Chart("notify-service", "0.9.0", 18085, 18086,
                                                                  ("init-db", "init-config"))),
                               {"replicaCount": 2, "env": {"open": {"SPRING_CLOUD_CONFIG_ENABLED": True, "N": 5}}})
    objs = charts.render("notify", "notify-service", "0.9.0", values, "ns1", 18086, 18085,
                         hooks=("init-db", "init-config"))
    kinds = [(o["kind"], o["apiVersion"], o["metadata"]["name"]) for o in objs]
    assert kinds == [("Deployment", "apps/v1", "notify"), ("Service", "v1", "notify"),
                     ("Job", "batch/v1", "notify-init-db"), ("Job", "batch/v1", "notify-init-config")]
    deployment, service = objs[0], objs[1]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"choerodon.io/release": "notify"}}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels == {"choerodon.io/release": "notify", "choerodon.io/service": "notify-service",
                      "choerodon.io/version": "0.9.0", "choerodon.io/metrics-port": "18086"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "notify"
    assert container["image"] == "registry.cn-hangzhou.aliyuncs.com/choerodon/notify-service:0.9.0"
    assert container["ports"][:2] == [{"name": "http", "containerPort": 18085, "protocol": "TCP"},
                                      {"name": "management", "containerPort": 18086, "protocol": "TCP"}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SPRING_CLOUD_CONFIG_ENABLED"] == "true" and env["N"] == "5"   # strings, as `quote` makes them
    assert service["spec"]["ports"][0]["port"] == 18085
    assert service["spec"]["ports"][0]["targetPort"] == 18085
    assert service["spec"]["selector"] == {"choerodon.io/release": "notify"}
    for job in objs[2:]:
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "helm.sh/hook-delete-policy" not in job["metadata"]["annotations"]


def test_render_front_uses_service_port_for_metrics():
    objs = charts.render("choerodon-front", "choerodon-front", "0.9.1", {}, "ns", None, 80)
    assert len(objs) == 2
    labels = objs[0]["spec"]["template"]["metadata"]["labels"]
    assert labels["choerodon.io/metrics-port"] == "80"
    assert [p["name"] for p in objs[0]["spec"]["template"]["spec"]["containers"][0]["ports"]] == ["http"]


def test_deep_merge_like_helm():
    base = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    merged = charts.deep_merge(base, {"a": {"c": 3}, "d": [9], "e": None})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [9]}
    assert charts.deep_merge({}, {"e": None}, keep_nulls=True) == {"e": None}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}   # inputs untouched
