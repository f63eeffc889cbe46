"""The c7n chart repository of the real-control-plane sandbox (`up`) on its own loopback
server, as the real Helm 3 sees it through D/bin/helm (helmwrap.py, tested in test_helm_wrap.py)."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from c7n_upgrade.plan import load_plan
from c7n_sandbox import charts
from c7n_sandbox.chartrepo import ChartRepoServer
from c7n_sandbox.helmwrap import write_wrapper
from tests.real_tools import real_tool

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def repo():
    catalogue = charts.catalogue(load_plan("0.8-to-0.9"))
    server = ChartRepoServer(charts.repo_handler(catalogue)).start()
    yield server, catalogue
    server.stop()


@pytest.fixture
def wrapper(tmp_path):
    return write_wrapper(tmp_path, real_tool("helm")), tmp_path


def _run(argv, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, env=env, **kw)


def test_the_real_helm_finds_every_chart_of_the_catalogue_in_the_repo(repo, wrapper):
    server, catalogue = repo
    helm, directory = wrapper
    assert _run([helm, "repo", "add", "c7n", server.url]).returncode == 0
    found = _run([helm, "search", "repo", "c7n/", "--versions", "-o", "json"])
    assert found.returncode == 0, found.stderr
    listed = {(e["name"], e["version"]) for e in json.loads(found.stdout)}
    assert listed == {(f"c7n/{c.name}", c.version) for c in catalogue}
    # the repository is the sandbox's: the wrapper keeps helm's config inside D
    assert server.url in (directory / "helm-home" / "repositories.yaml").read_text()
    pulled = _run([helm, "pull", "c7n/iam-service", "--version", "0.9.0", "-d", directory])
    assert pulled.returncode == 0, pulled.stderr
    assert (directory / "iam-service-0.9.0.tgz").stat().st_size > 0


def test_the_repo_answers_404_outside_its_prefix_and_for_unknown_archives(repo):
    server, _ = repo
    base = server.url.split("/charts/")[0]
    for url in (f"{base}/other/index.yaml", f"{server.url}nope-1.0.0.tgz"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=5)
        assert caught.value.code == 404
