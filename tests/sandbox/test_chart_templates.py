"""The Go templates in the sandbox's chart archives render, with a real Helm 3 (`helm template`), the
objects charts.render describes in Python (the chart layout tests/ops/test_rbac.py reads), for every chart version of the
plan and for the values real installations carry."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from c7n_upgrade.helm import dotted_to_nested
from c7n_upgrade.plan import load_plan
from c7n_sandbox import charts
from tests.real_tools import real_tool

PLAN = load_plan("0.8-to-0.9")
NS = "choerodon-devops-prod"
CATALOGUE = charts.catalogue(PLAN)


def semantic(value):
    """A value as a typed Kubernetes object compares: empty maps, lists and nulls equal absent fields."""
    if isinstance(value, dict):
        kept = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def user_values(chart: charts.Chart) -> dict:
    """Values like a 0.8 installation's plus the plan's extra ones: overrides, a secret, odd strings."""
    step = next(s for s in PLAN.steps if s.chart == chart.name)
    extra = dotted_to_nested({k: v.replace("{", "<").replace("}", ">") if isinstance(v, str) else v
                              for k, v in (step.values or {}).items()})
    values = {"replicaCount": 2, "service": {"port": chart.service_port + 1},
              "deployment": {"managementPort": 9999},
              "image": {"pullPolicy": "IfNotPresent"},
              "env": {"open": {"SPRING_DATASOURCE_URL": "jdbc:mysql://127.0.0.1:3306/db?useSSL=false&x=<y>",
                               "SPRING_DATASOURCE_PASSWORD": 'pa"ss wo\\rd',
                               "SPRING_CLOUD_CONFIG_ENABLED": False, "KAFKA_PARTITIONS": 3,
                               "JSON_SETTING": {"b": [1, "two"], "a": True}}},
              "preJob": {"timeout": 600, "preInitDB": {"mysql": {"host": "10.0.0.1", "port": 3307,
                                                                 "password": "not-in-any-env"}}}}
    return charts.deep_merge(values, extra)


def helm_template(tmp_path, chart: charts.Chart, values: dict | None) -> list[dict]:
    archive = tmp_path / chart.filename
    archive.write_bytes(charts.chart_tgz(chart))
    args = [str(real_tool("helm")), "template", chart.name, str(archive), "-n", NS]
    if values is not None:
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        args += ["-f", str(tmp_path / "values.yaml")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def sandbox_render(chart: charts.Chart, values: dict | None) -> list[dict]:
    computed = charts.deep_merge(chart.values(), values or {})
    return charts.render(chart.name, chart.name, chart.version, computed, NS, chart.health_port,
                         chart.service_port, chart.hooks)


def by_object(objects: list[dict]) -> dict:
    return {(o["kind"], o["metadata"]["name"]): semantic(o) for o in objects}


@pytest.mark.parametrize("chart", CATALOGUE, ids=lambda c: f"{c.name}-{c.version}")
@pytest.mark.parametrize("values", ["chart defaults", "installation values"])
def test_real_helm_renders_what_the_sandbox_helm_renders(tmp_path, chart, values):
    supplied = None if values == "chart defaults" else user_values(chart)
    real = by_object(helm_template(tmp_path, chart, supplied))
    ours = by_object(sandbox_render(chart, supplied))
    assert sorted(real) == sorted(ours)
    for key in ours:
        assert real[key] == ours[key], key


def test_the_comparison_sees_a_template_that_differs(tmp_path):
    """A chart whose template drops a label renders differently, and the comparison says so."""
    chart = next(c for c in CATALOGUE if c.name == "iam-service" and c.version == "0.9.0")

    class Broken(charts.Chart):
        def templates(self):
            files = super().templates()
            files["templates/_helpers.tpl"] = files["templates/_helpers.tpl"].replace(
                'choerodon.io/version: {{ .Chart.Version | quote }}\n', "")
            return files

    broken = Broken(**{f: getattr(chart, f) for f in chart.__dataclass_fields__})
    real = by_object(helm_template(tmp_path, broken, None))
    ours = by_object(sandbox_render(chart, None))
    labels = real[("Deployment", "iam-service")]["metadata"]["labels"]
    assert "choerodon.io/version" not in labels
    assert real[("Deployment", "iam-service")] != ours[("Deployment", "iam-service")]


def test_the_deployment_carries_the_chart_version_and_the_metrics_port_from_the_values(tmp_path):
    chart = next(c for c in CATALOGUE if c.name == "manager-service" and c.version == "0.9.0")
    objects = by_object(helm_template(tmp_path, chart, {"deployment": {"managementPort": 18964}}))
    labels = objects[("Deployment", "manager-service")]["spec"]["template"]["metadata"]["labels"]
    assert labels == {"choerodon.io/release": "manager-service", "choerodon.io/service": "manager-service",
                      "choerodon.io/version": "0.9.0", "choerodon.io/metrics-port": "18964"}
    job = objects[("Job", "manager-service-init-db")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert ("Service", "manager-service") in objects
