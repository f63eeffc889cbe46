"""A real Helm 3 (3.17.3, from a registry package) named with `up --helm-binary` drives the sandbox, which
(Helm 3) runs on the real control plane: that helm, called directly, upgrades a 0.8 release the sandbox
installed with `--wait` (the real Deployment controller rolls its pods) and rolls it back. The whole suite
through the real Helm 3 is test_real_cluster.py's (D/bin/helm there wraps this same helm)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest

from c7n_upgrade.plan import load_plan
from tests.e2e.harness import ROOT, ObservedSandbox
from tests.real_tools import real_tool

pytestmark = pytest.mark.slow
PLAN = load_plan("0.8-to-0.9")
NS = PLAN.namespace


def helm_env(sb) -> dict:
    """Real helm's own config, cache and repositories inside the sandbox dir (not the user's)."""
    return sb.real_helm_env()


def get(sb, path: str) -> dict:
    status, body = sb.api(path)
    assert status == 200, (path, status, body)
    return body


def release_pods(sb, release: str) -> list[dict]:
    selector = quote(f"choerodon.io/release={release}")
    return get(sb, f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")["items"]


def is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


class PodWatcher:
    """Polls a release's pods every 50 ms while a helm command runs: every (name, version) seen, and
    whether old and new pods were ever there at once."""

    def __init__(self, sb, release: str):
        self.sb, self.release = sb, release
        self.seen: set[tuple] = set()
        self.versions_at_once: set[frozenset] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.05):
            pods = release_pods(self.sb, self.release)
            self.seen |= {(p["metadata"]["name"], p["metadata"]["labels"]["choerodon.io/version"]) for p in pods}
            self.versions_at_once.add(frozenset(p["metadata"]["labels"]["choerodon.io/version"] for p in pods))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def helm_binary():
    return real_tool("helm")


def test_real_helm_upgrade_wait_rolls_the_pods_and_rollback_restores_them(tmp_path, helm_binary):
    with ObservedSandbox(tmp_path / "sandbox", "--helm-binary", str(helm_binary)) as sb:
        env = dict(os.environ, **helm_env(sb))

        def helm(*args, timeout=180):
            result = subprocess.run([str(helm_binary), *args], env=env, capture_output=True, text=True,
                                    timeout=timeout)
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
            return result.stdout

        helm("repo", "add", "c7n", sb.env_data()["helm"]["repo_url"])
        values = tmp_path / "values.yaml"
        values.write_text(helm("get", "values", "iam-service", "-n", NS, "-o", "yaml"))
        before = {p["metadata"]["name"] for p in release_pods(sb, "iam-service")}
        with PodWatcher(sb, "iam-service") as watcher:
            out = helm("upgrade", "iam-service", "c7n/iam-service", "--version", "0.9.0", "-n", NS, "-f", str(values),
                       "--wait", "--timeout", "120s")
            after = release_pods(sb, "iam-service")
        assert json.loads((sb.dir / "sandbox.json").read_text())["helm_dialect"] == 3  # --helm-binary: Helm 3
        assert 'Release "iam-service" has been upgraded. Happy Helming!' in out
        # --wait returned once the new pod was Ready, and the old one had gone
        assert after and all(is_ready(p) and p["metadata"]["labels"]["choerodon.io/version"] == "0.9.0" for p in after)
        assert not before & {p["metadata"]["name"] for p in after}
        assert frozenset({"0.8.0", "0.9.0"}) in watcher.versions_at_once, "the pods rolled: old beside new"
        sets = get(sb, f"/apis/apps/v1/namespaces/{NS}/replicasets")["items"]
        mine = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets
                if rs["metadata"]["labels"].get("choerodon.io/release") == "iam-service"}
        assert sorted(mine) == ["1", "2"] and mine["2"]["spec"]["replicas"] == 1 and mine["1"]["spec"]["replicas"] == 0
        deployment = get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/iam-service")
        assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == "iam-service"  # real helm's mark
        # rollback: helm takes the chart, values and manifest of revision 1 the sandbox installed
        assert "Rollback was a success!" in helm("rollback", "iam-service", "1", "-n", NS, "--wait", "--timeout", "120s")
        back = release_pods(sb, "iam-service")
        assert back and all(is_ready(p) and p["metadata"]["labels"]["choerodon.io/version"] == "0.8.0" for p in back)
        history = json.loads(helm("history", "iam-service", "-n", NS, "-o", "json"))
        assert [(h["revision"], h["status"], h["chart"]) for h in history] == [
            (1, "superseded", "iam-service-0.8.0"), (2, "superseded", "iam-service-0.9.0"),
            (3, "deployed", "iam-service-0.8.0")]
        assert not (sb.dir / "helm-calls.jsonl").exists(), "the sandbox's own helm was called"


@pytest.mark.parametrize("args, error", [
    (["--helm-binary", "/nonexistent/helm"], "--helm-binary /nonexistent/helm: no executable file there"),
    (["--helm-binary", "/bin/true"], "--helm-binary /bin/true: expected a Helm 3"),
    (["--helm", "2", "--helm-binary", "HELM"], "--helm-binary takes a real Helm 3"),
])
def test_up_refuses_a_helm_binary_it_cannot_use_before_starting_anything(tmp_path, helm_binary, args, error):
    directory = tmp_path / "sandbox"
    args = [str(helm_binary) if a == "HELM" else a for a in args]
    result = subprocess.run([sys.executable, "-m", "c7n_sandbox", "up", "--dir", str(directory), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert error in result.stderr
    assert not directory.exists(), "nothing may be created for a refused start"
