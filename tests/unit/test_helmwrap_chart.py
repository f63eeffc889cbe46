"""Helm 2's stand-in for a post-renderer (helmwrap_chart.py): its pure parts."""
from __future__ import annotations

import json

import pytest

from c7n_sandbox import faults
from c7n_sandbox.helmwrap import _VALUED, fault_args, fault_settings, write_wrapper
from c7n_sandbox.helmwrap_chart import RenderError, _chart_index, _namespace, _values_flags


def test_the_chart_argument_is_found_past_flag_values_equal_to_it():
    argv = ["upgrade", "--description", "c7n/x", "x", "c7n/x", "--version", "0.9.0"]
    assert _chart_index(argv, "c7n/x", _VALUED) == 4
    assert _chart_index(["install", "c7n/x", "--name", "x"], "c7n/x", _VALUED) == 1
    assert _chart_index(["upgrade", "x", "x", "--description", "x"], "x", _VALUED) == 2  # release named as chart
    with pytest.raises(RenderError, match="no chart argument"):
        _chart_index(["upgrade", "x", "--repo", "c7n/x"], "c7n/x", _VALUED)


def test_only_the_values_flags_go_to_helm_template():
    argv = ["upgrade", "x", "c/x", "-f", "a.yaml", "--values=b.yaml", "--set", "k=v", "--set-string=s=1",
            "--version", "1", "--tiller-namespace", "kube-system", "--wait", "--timeout", "600"]
    assert _values_flags(argv) == ["-f", "a.yaml", "--values=b.yaml", "--set", "k=v", "--set-string=s=1"]


def test_the_namespace_is_the_calls_or_the_sandboxs(tmp_path):
    assert _namespace(tmp_path, ["install", "c/x", "--namespace", "given"]) == "given"
    (tmp_path / "sandbox.json").write_text(json.dumps({"namespace": "choerodon-devops-prod"}))
    assert _namespace(tmp_path, ["upgrade", "x", "c/x"]) == "choerodon-devops-prod"


def test_helm_2_gets_the_same_manifest_changes_as_helm_3s_post_renderer():
    fail, hang = faults.parse_fault("x=helm-fail")[1], faults.parse_fault("x=helm-hang:5")[1]
    assert fault_settings(fail) == ["requests.memory=-1Gi"] and fault_settings(hang) == []
    assert fault_args(fail)[-1] == "requests.memory=-1Gi" and fault_args(hang) == []


def test_the_wrapper_fixes_helm_2s_tiller_address_and_states_the_dialect(tmp_path):
    script = write_wrapper(tmp_path, tmp_path / "helm", env={"HELM_HOST": "127.0.0.1:4"}, dialect=2).read_text()
    assert "HELM_HOST=127.0.0.1:4 " in script and "C7N_HELM_DIALECT=2 " in script
    assert "C7N_HELM_DIALECT=3 " in write_wrapper(tmp_path, tmp_path / "helm").read_text()
