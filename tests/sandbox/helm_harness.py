"""The sandbox `helm` executable run as a subprocess against a real ApiServer + Store, in both
dialects: the harness and layout helpers the test_helm_cli*.py files share."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from c7n_upgrade.plan import load_plan
from c7n_upgrade.sandbox import charts
from c7n_upgrade.sandbox.apiserver import ApiServer, Store, write_kubeconfig
from c7n_upgrade.sandbox.kubeapi import KubeApi

ROOT = Path(__file__).resolve().parents[2]
NS = "choerodon-devops-prod"
PLAN = load_plan("0.8-to-0.9")


class HelmHarness:
    """An API server with the c7n chart repo and a sandbox dir, and the sandbox helm run against them."""

    def __init__(self, tmp_path: Path, dialect: int):
        self.dir, self.dialect = tmp_path, dialect
        self.store = Store()
        self.server = ApiServer(self.store)
        self.url = self.server.start()
        self.server.mount("/charts/", charts.repo_handler(charts.catalogue(PLAN)))
        self.repo_url = self.url + "/charts/"
        write_kubeconfig(str(tmp_path / "kubeconfig"), self.url, NS)
        (tmp_path / "sandbox.json").write_text(json.dumps({
            "api_url": self.url, "namespace": NS, "helm_dialect": dialect, "chart_repo_url": self.repo_url,
            "plan": str(ROOT / "plans" / "0.8-to-0.9.yaml"), "tiller_namespace": "kube-system"}))
        self.api = KubeApi(self.url)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "KUBECONFIG", "TILLER"))}
        self.env.update(C7N_SANDBOX_DIR=str(tmp_path), PYTHONPATH=str(ROOT))

    def helm(self, *args, ok=None):
        result = subprocess.run([sys.executable, "-m", "c7n_upgrade.sandbox.helm", *args], env=self.env,
                                capture_output=True, text=True, timeout=60, cwd=self.dir)
        if ok is True:
            assert result.returncode == 0, f"helm {args}: {result.stderr}"
        if ok is False:
            assert result.returncode == 1, f"helm {args} should fail: {result.stdout}"
        return result

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in (self.dir / "helm-calls.jsonl").read_text().splitlines()]

    def install(self, release, chart, version, *extra, ok=None):
        if self.dialect == 2:
            return self.helm("install", f"c7n/{chart}", "--name", release, "--namespace", NS, "--version", version,
                             *extra, ok=ok)
        return self.helm("install", release, f"c7n/{chart}", "-n", NS, "--version", version, *extra, ok=ok)

    def upgrade(self, release, chart, version, *extra, ok=None):
        ns = ["--namespace", NS] if self.dialect == 2 else ["-n", NS]
        return self.helm("upgrade", release, f"c7n/{chart}", "--version", version, *ns, *extra, ok=ok)

    def release_objects(self, release):
        if self.dialect == 3:
            return self.api.list("secrets", NS, f"owner=helm,name={release}")
        return self.api.list("configmaps", "kube-system", f"OWNER=TILLER,NAME={release}")


@pytest.fixture(params=[2, 3], ids=["helm2", "helm3"])
def sandbox(request, tmp_path):
    box = HelmHarness(tmp_path, request.param)
    box.helm("repo", "add", "c7n", box.repo_url, ok=True)
    yield box
    box.server.stop()


@pytest.fixture
def sandbox3(tmp_path):
    box = HelmHarness(tmp_path, 3)
    box.helm("repo", "add", "c7n", box.repo_url, ok=True)
    yield box
    box.server.stop()


# --- layout helpers ------------------------------------------------------------------------

def table_shape(text: str) -> tuple[list[str], int]:
    """(header cells, column count) of a uitable, checking every column is padded to one width."""
    lines = text.rstrip("\n").split("\n")
    rows = [line.split("\t") for line in lines]
    ncols = len(rows[0])
    assert all(len(r) == ncols for r in rows), text
    for col in range(ncols):
        assert len({len(r[col]) for r in rows}) == 1, f"column {col} not padded evenly:\n{text}"
    return [c.strip() for c in rows[0]], ncols


def block_keys(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines() if re.match(r"^[A-Z][A-Z ]+:", line)]
