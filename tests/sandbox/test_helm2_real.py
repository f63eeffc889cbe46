"""Real Helm 2 (issue 16, point 5): helm and Tiller v2.17.0 built from the module k8s.io/helm, Tiller on
loopback against the real control plane, releases stored as Tiller stores them (ConfigMaps NAME.vN in
kube-system, OWNER=TILLER). The pods of the last tests run on the sandbox's node (busybox only)."""
from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from c7n_sandbox import charts
from tests.sandbox.test_chart_templates import CATALOGUE, by_object, sandbox_render, user_values
from tests.sandbox.test_chart_templates import NS as CHART_NS
from tests.sandbox.test_control_plane import _wait

pytestmark = pytest.mark.sandbox

NS = "helm2-tests"
ROOT = Path(__file__).resolve().parents[2]
V2_17_0 = 'SemVer:"v2.17.0", GitCommit:"a690bad98af45b015bd3da1a41f6218b1a451dbe", GitTreeState:"clean"'

CHART = {
    "Chart.yaml": "apiVersion: v1\nname: demo\nversion: 0.1.0\nappVersion: '1.0'\n",
    "values.yaml": "greeting: hello\nreplicaCount: 1\nhook:\n  enabled: false\n  exit: 0\n",
    "templates/configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  revision: {{ .Release.Revision | quote }}
""",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name | quote }}}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        command: ["sh", "-c", "echo {{ .Values.greeting }}; exec sleep 3600"]
""",
    "templates/hook.yaml": """{{- if .Values.hook.enabled }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-init-db
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: init-db
        image: busybox:1.36
        command: ["sh", "-c", "echo init-db says boom; exit {{ .Values.hook.exit }}"]
{{- end }}
""",
}


@pytest.fixture(scope="module")
def chart(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chart") / "demo"
    for name, text in CHART.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def helm(tiller, control_plane):
    """helm(*args, check=True): the real Helm 2 client against Tiller; a namespace for the releases."""
    control_plane.kubectl("create", "namespace", NS)
    _wait("the default ServiceAccount of the test namespace",
          lambda: control_plane.kubectl("get", "serviceaccount", "default", "-n", NS).returncode == 0)
    yield tiller.helm
    control_plane.kubectl("delete", "namespace", NS, "--wait=false")


@pytest.fixture(scope="module")
def node(control_plane, tmp_path_factory):
    from c7n_sandbox.node import Node
    node = Node(control_plane.kubeconfig, tmp_path_factory.mktemp("node"), log=print).start()
    yield node
    node.stop()
    control_plane.kubectl("delete", "node", node.name, "--wait=false")  # the next module starts with no node


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _get(control_plane, *args) -> dict:
    result = control_plane.kubectl("get", *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _releases(control_plane, name: str) -> dict[str, dict]:
    """Tiller's ConfigMaps of release `name`: {configmap name: labels but MODIFIED_AT (a Unix time)}."""
    items = _get(control_plane, "configmaps", "-n", "kube-system", "-l", f"OWNER=TILLER,NAME={name}")["items"]
    found = {}
    for item in items:
        labels = dict(item["metadata"]["labels"])
        assert labels.pop("MODIFIED_AT", "0").isdigit(), labels
        found[item["metadata"]["name"]] = labels
    return found


def _stored(control_plane, configmap: str) -> bytes:
    """The release record of a Tiller ConfigMap: base64 of gzip of the Release protobuf."""
    data = _get(control_plane, "configmap", configmap, "-n", "kube-system")["data"]["release"]
    return gzip.decompress(base64.b64decode(data))


def _settings(control_plane, name: str) -> dict:
    return _get(control_plane, "configmap", f"{name}-settings", "-n", NS)["data"]


def _docs(text: str) -> dict:
    return by_object([d for d in yaml.safe_load_all(text) if d])


def _labels(revision: int, status: str, name: str) -> dict:
    return {"OWNER": "TILLER", "NAME": name, "VERSION": str(revision), "STATUS": status}


def _listening(pid: int) -> set[str]:
    """host:port of every listening TCP socket process `pid` holds (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                host = ".".join(str(b) for b in reversed(bytes.fromhex(address))) if table == "tcp" else address
                found.add(f"{host}:{int(port, 16)}")
    return found


def test_helm_and_tiller_are_v2_17_0_and_tiller_listens_on_loopback_only(tiller):
    out = tiller.helm("version").stdout
    assert out.splitlines() == [f"Client: &version.Version{{{V2_17_0}}}",
                                f"Server: &version.Version{{{V2_17_0}}}"], out
    listening = _listening(tiller.pid)
    assert tiller.host in listening and len(listening) == 2, listening  # gRPC and the probes
    assert all(a.startswith("127.0.0.1:") for a in listening), listening
    print(f"tiller ready in {tiller.ready_s:.2f} s")


def test_install_upgrade_rollback_store_one_tiller_configmap_per_revision(helm, chart, control_plane):
    name = _name("demo")
    helm("install", str(chart), "--name", name, "--namespace", NS)
    assert _settings(control_plane, name) == {"greeting": "hello", "revision": "1"}
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "DEPLOYED", name)}

    helm("upgrade", name, str(chart), "--set", "greeting=bonjour,replicaCount=2")
    assert _settings(control_plane, name) == {"greeting": "bonjour", "revision": "2"}
    assert _get(control_plane, "deployment", name, "-n", NS)["spec"]["replicas"] == 2

    helm("rollback", name, "1")
    # a rollback re-applies revision 1's manifest as it was rendered (revision "1"), as revision 3
    assert _settings(control_plane, name) == {"greeting": "hello", "revision": "1"}
    assert _get(control_plane, "deployment", name, "-n", NS)["spec"]["replicas"] == 1
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "SUPERSEDED", name),
                                              f"{name}.v2": _labels(2, "SUPERSEDED", name),
                                              f"{name}.v3": _labels(3, "DEPLOYED", name)}
    assert b"bonjour" in _stored(control_plane, f"{name}.v2") and b"bonjour" not in _stored(control_plane, f"{name}.v3")
    history = [line.split("\t") for line in helm("history", name).stdout.splitlines()[1:]]
    assert [(h[0].strip(), h[2].strip(), h[-1].strip()) for h in history] == [
        ("1", "SUPERSEDED", "Install complete"), ("2", "SUPERSEDED", "Upgrade complete"),
        ("3", "DEPLOYED", "Rollback to 1")]
    helm("delete", "--purge", name)


def test_get_manifest_is_what_template_renders_without_tiller(helm, tiller, chart, control_plane):
    name = _name("manifest")
    helm("install", str(chart), "--name", name, "--namespace", NS, "--set", "greeting=salut")
    manifest = helm("get", "manifest", name).stdout
    # `helm template` renders on the client: with no Tiller at HELM_HOST it still works
    offline = subprocess.run([str(tiller.bin / "helm"), "template", str(chart), "--name", name, "--namespace", NS,
                              "--set", "greeting=salut"], env={**tiller.env(), "HELM_HOST": "127.0.0.1:1"},
                             capture_output=True, text=True, timeout=60)
    assert offline.returncode == 0, offline.stderr
    installed, rendered = _docs(manifest), _docs(offline.stdout)
    settings = ("ConfigMap", f"{name}-settings")
    assert sorted(installed) == [settings, ("Deployment", name)]
    # Helm 2's `template` renders as no release at all: .Release.Revision is 0 there, 1 once installed
    assert (installed[settings]["data"]["revision"], rendered[settings]["data"]["revision"]) == ("1", "0")
    rendered[settings]["data"]["revision"] = "1"
    assert installed == rendered
    assert manifest.strip().encode() in _stored(control_plane, f"{name}.v1")
    helm("delete", "--purge", name)


def test_delete_keeps_the_history_and_delete_purge_removes_it(helm, chart, control_plane):
    name = _name("gone")
    helm("install", str(chart), "--name", name, "--namespace", NS)
    helm("delete", name)
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "DELETED", name)}
    assert control_plane.kubectl("get", "configmap", f"{name}-settings", "-n", NS).returncode != 0
    assert name in helm("ls", "--deleted", "--short").stdout.split()
    again = helm("install", str(chart), "--name", name, "--namespace", NS, check=False)
    assert again.returncode != 0 and f"Error: a release named {name} already exists." in again.stderr, again.stderr

    helm("delete", "--purge", name)
    assert _releases(control_plane, name) == {}
    assert name not in helm("ls", "--all", "--short").stdout.split()
    helm("install", str(chart), "--name", name, "--namespace", NS)
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "DEPLOYED", name)}
    helm("delete", "--purge", name)


@pytest.mark.parametrize("chart_", CATALOGUE, ids=lambda c: f"{c.name}-{c.version}")
def test_helm2_renders_the_catalogue_chart_as_the_sandbox_helm_does(helm2_bin, tmp_path, chart_):
    archive, values = tmp_path / chart_.filename, tmp_path / "values.yaml"
    archive.write_bytes(charts.chart_tgz(chart_))
    values.write_text(yaml.safe_dump(user_values(chart_)))
    result = subprocess.run([str(helm2_bin / "helm"), "template", str(archive), "--name", chart_.name,
                             "--namespace", CHART_NS, "-f", str(values)],
                            env={**os.environ, "HELM_HOME": str(tmp_path / "helm-home")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert _docs(result.stdout) == by_object(sandbox_render(chart_, user_values(chart_)))


def test_a_catalogue_release_upgrades_from_0_8_to_0_9(helm, control_plane, tmp_path):
    name = _name("config-server")
    old, new = (next(c for c in CATALOGUE if c.name == "config-server" and c.version.startswith(v))
                for v in ("0.8", "0.9"))
    for c in (old, new):
        (tmp_path / c.filename).write_bytes(charts.chart_tgz(c))
    helm("install", str(tmp_path / old.filename), "--name", name, "--namespace", NS)
    helm("upgrade", name, str(tmp_path / new.filename))
    deployment = _get(control_plane, "deployment", name, "-n", NS)
    assert deployment["metadata"]["labels"]["choerodon.io/version"] == new.version
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{new.version}")
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "SUPERSEDED", name),
                                              f"{name}.v2": _labels(2, "DEPLOYED", name)}
    assert helm("ls", name).stdout.split("\n")[1].split("\t")[4].strip() == f"config-server-{new.version}"
    helm("delete", "--purge", name)


def test_install_wait_returns_once_the_busybox_pod_is_ready(node, helm, chart, control_plane):
    name = _name("wait")
    helm("install", str(chart), "--name", name, "--namespace", NS, "--wait", "--timeout", "90", timeout=120)
    [pod] = _get(control_plane, "pods", "-n", NS, "-l", f"app={name}")["items"]
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Ready"] == "True" and pod["spec"]["nodeName"] == node.name, pod["status"]
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "DEPLOYED", name)}
    helm("delete", "--purge", name)


def test_a_pre_install_hook_that_exits_3_fails_the_install_and_leaves_its_job(node, helm, chart, control_plane):
    name = _name("hook")
    install = ("install", str(chart), "--name", name, "--namespace", NS, "--timeout", "90")
    result = helm(*install, "--set", "hook.enabled=true,hook.exit=3", check=False, timeout=120)
    assert (result.returncode, result.stderr) == (1, "Error: Job failed: BackoffLimitExceeded\n")
    # Tiller records a release only after its pre-install hooks: nothing stored, no objects made
    assert _releases(control_plane, name) == {}
    assert control_plane.kubectl("get", "deployment", name, "-n", NS).returncode != 0
    logs = control_plane.kubectl("logs", f"job/{name}-init-db", "-n", NS)
    assert logs.stdout.strip() == "init-db says boom", logs.stderr
    # the failed hook Job stays (no hook-delete-policy): the next try stops on its name
    again = helm(*install, "--set", "hook.enabled=true", check=False, timeout=120)
    assert again.returncode == 1 and f'jobs.batch "{name}-init-db" already exists' in again.stderr, again.stderr
    assert _releases(control_plane, name) == {}
    control_plane.kubectl("delete", "job", f"{name}-init-db", "-n", NS, "--wait=true")
    helm(*install, "--set", "hook.enabled=true", timeout=120)
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "DEPLOYED", name)}
    helm("delete", "--purge", name)



def test_a_leftover_hook_job_fails_the_upgrade_and_leaves_the_release_pending(node, helm, chart, control_plane):
    name = _name("stuck")
    helm("install", str(chart), "--name", name, "--namespace", NS, "--set", "hook.enabled=true", timeout=120)
    upgrade = ("upgrade", name, str(chart), "--set", "hook.enabled=true")
    first = helm(*upgrade, check=False)
    assert (first.returncode, first.stderr) == (1, f'Error: UPGRADE FAILED: jobs.batch "{name}-init-db" already exists\n')
    # Helm 2's stuck release: revision 2 stays PENDING_UPGRADE (no MODIFIED_AT: never updated) ...
    stored = _get(control_plane, "configmap", f"{name}.v2", "-n", "kube-system")["metadata"]["labels"]
    assert stored["STATUS"] == "PENDING_UPGRADE" and "CREATED_AT" in stored and "MODIFIED_AT" not in stored, stored
    # ... and refuses every later upgrade, even once the Job is gone
    control_plane.kubectl("delete", "job", f"{name}-init-db", "-n", NS, "--wait=true")
    second = helm(*upgrade, check=False)
    assert (second.returncode, second.stderr) == (
        1, "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n")
    helm("delete", "--purge", name)
    control_plane.kubectl("delete", "job", f"{name}-init-db", "-n", NS, "--ignore-not-found")


@pytest.fixture(scope="module")
def tiller_sa(helm2_bin, control_plane, tmp_path_factory):
    """Tiller as the ServiceAccount kube-system/tiller with only deploy/rbac/helm2-tiller.yaml's Roles."""
    from c7n_sandbox.controlplane.helm2 import start_tiller  # what `up --helm 2` runs
    rbac = ROOT / "deploy" / "rbac" / "helm2-tiller.yaml"
    server = start_tiller(control_plane, helm2_bin, tmp_path_factory.mktemp("tiller-sa") / "tiller", rbac=rbac)
    yield server
    server.stop()
    # the next module on this control plane may test RBAC without these rules
    control_plane.kubectl("delete", "-f", str(rbac), "--wait=false")
    control_plane.kubectl("delete", "serviceaccount", "tiller", "-n", "kube-system", "--wait=false")


def test_tiller_with_only_the_rbac_files_roles_upgrades_in_the_namespace_and_nowhere_else(
        tiller_sa, node, helm, chart, control_plane, tmp_path):
    ns = control_plane.namespace  # the release namespace helm2-tiller.yaml grants
    name = _name("config-server")
    old, new = (next(c for c in CATALOGUE if c.name == "config-server" and c.version.startswith(v))
                for v in ("0.8", "0.9"))
    for c in (old, new):
        (tmp_path / c.filename).write_bytes(charts.chart_tgz(c))
    tiller_sa.helm("install", str(tmp_path / old.filename), "--name", name, "--namespace", ns)
    tiller_sa.helm("upgrade", name, str(tmp_path / new.filename))
    tiller_sa.helm("rollback", name, "1")
    assert _get(control_plane, "deployment", name, "-n", ns)["metadata"]["labels"]["choerodon.io/version"] == old.version
    assert _releases(control_plane, name)[f"{name}.v3"] == _labels(3, "DEPLOYED", name)
    tiller_sa.helm("delete", "--purge", name)
    assert _releases(control_plane, name) == {}
    hooked = _name("hooked")  # a pre-install hook Job: Tiller creates it and watches it complete
    tiller_sa.helm("install", str(chart), "--name", hooked, "--namespace", ns, "--set", "hook.enabled=true",
                   "--timeout", "90", timeout=120)
    assert _releases(control_plane, hooked) == {f"{hooked}.v1": _labels(1, "DEPLOYED", hooked)}
    tiller_sa.helm("delete", "--purge", hooked)
    control_plane.kubectl("delete", "job", f"{hooked}-init-db", "-n", ns)  # helm 2 leaves hooks behind

    other = _name("elsewhere")
    refused = tiller_sa.helm("install", str(chart), "--name", other, "--namespace", NS, check=False)
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr == (f'Error: release {other} failed: namespaces "{NS}" is forbidden: User '
                              f'"system:serviceaccount:kube-system:tiller" cannot get resource "namespaces" in '
                              f'API group "" in the namespace "{NS}"\n')
    assert control_plane.kubectl("get", "deployment", other, "-n", NS).returncode != 0
    assert _releases(control_plane, other)[f"{other}.v1"]["STATUS"] == "FAILED"


def test_the_suites_helm_client_reads_and_writes_through_real_helm2(tiller, helm, tmp_path):
    """The library's HelmClient (dialect detection, repo, search, install/upgrade argv, list and get values
    parsing), as the suite runs it with Helm 2, against real helm and Tiller and the sandbox's c7n repo."""
    from c7n_upgrade.helm.client import HelmClient
    from c7n_sandbox.chartrepo import ChartRepoServer

    repo = ChartRepoServer(charts.repo_handler(CATALOGUE), prefix="/charts/").start()
    url = repo.url
    try:
        client = HelmClient(str(tiller.bin / "helm"), namespace=NS, environ=tiller.env())
        assert (client.dialect(), client.version_string) == (2, "v2.17.0+ga690bad")
        client.repo_add("c7n", url)
        assert client.repo_url("c7n") == url
        assert {v.version for v in client.search_versions("c7n/config-server")} == {"0.8.0", "0.9.0"}

        name, values = _name("cs"), {"replicaCount": 2, "env": {"open": {"JAVA_OPTS": "-Xmx256m"}}}
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        client.write("install", name, "c7n/config-server", version="0.8.0", values_files=[tmp_path / "values.yaml"],
                     timeout_s=60)
        client.write("upgrade", name, "c7n/config-server", version="0.9.0", values_files=[tmp_path / "values.yaml"],
                     timeout_s=60)
        [release] = client.list_releases(only=name)
        assert (release.namespace, release.revision, release.status, release.chart_name, release.chart_version) == (
            NS, 2, "deployed", "config-server", "0.9.0")
        assert client.get_values(name) == values
    finally:
        repo.stop()
    helm("delete", "--purge", name)


def test_the_build_goes_to_the_helm_version_cache_and_says_when_go_is_missing(tmp_path, monkeypatch):
    import shutil

    from c7n_sandbox.controlplane import ControlPlaneError, bin_dir, ensure_built
    version = re.search(r"^\s*k8s\.io/helm\s+(v[\d.]+)\+incompatible", (ROOT / "controlplane" / "helm2" / "go.mod")
                        .read_text(), re.M).group(1)
    tools = tmp_path / "path"  # the shell tools the script uses, and no go
    tools.mkdir()
    for tool in ("bash", "awk", "dirname", "mkdir", "flock", "cat"):
        (tools / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("C7N_CONTROL_PLANE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tools))
    assert bin_dir(helm2=True) == tmp_path / "cache" / f"helm-{version}" / "bin"
    with pytest.raises(ControlPlaneError, match="Go is not installed"):
        ensure_built(lambda line: None, helm2=True)


def test_the_helm_wrapper_logs_real_helm2_and_its_helm_fail_fault_fails_install_and_upgrade(
        tiller, helm, control_plane, tmp_path):
    from c7n_sandbox import faults
    from c7n_sandbox.helmwrap import write_wrapper
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    wrapper = write_wrapper(sandbox, tiller.bin / "helm", dialect=2)  # no --post-renderer: the chart rendered
    old, new = (next(c for c in CATALOGUE if c.name == "config-server" and c.version.startswith(v))
                for v in ("0.8", "0.9"))
    for c in (old, new):
        (tmp_path / c.filename).write_bytes(charts.chart_tgz(c))
    name = _name("wrapped")

    def wrapped(*args):  # Helm 2's HELM_HOST and HELM_HOME come from the caller, as env.yaml would give them
        return subprocess.run([str(wrapper), *args], env=tiller.env(), capture_output=True, text=True, timeout=120)

    faults.set_fault(sandbox, "config-server", "helm-fail")  # by chart: the release is named with --name
    install = ("install", str(tmp_path / old.filename), "--name", name, "--namespace", NS)
    refused = wrapped(*install)
    assert refused.returncode == 1 and refused.stderr.startswith(f"Error: release {name} failed: "), refused.stderr
    assert "must be greater than or equal to 0" in refused.stderr
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "FAILED", name)}
    helm("delete", "--purge", name)

    faults.clear_fault(sandbox, "config-server")
    assert wrapped(*install).returncode == 0
    faults.set_fault(sandbox, "config-server", "helm-fail")
    failed = wrapped("upgrade", name, str(tmp_path / new.filename))
    assert failed.returncode == 1 and failed.stderr.startswith("Error: UPGRADE FAILED: "), failed.stderr
    assert _releases(control_plane, name) == {f"{name}.v1": _labels(1, "DEPLOYED", name),
                                              f"{name}.v2": _labels(2, "FAILED", name)}
    assert _get(control_plane, "deployment", name, "-n", NS)["metadata"]["labels"]["choerodon.io/version"] == old.version
    lines = [json.loads(line) for line in (sandbox / "helm-calls.jsonl").read_text().splitlines()]
    assert [(line["argv"], line["exit"]) for line in lines] == [  # the caller's argv, without the fault's flags
        (list(install), 1), (list(install), 0), (["upgrade", name, str(tmp_path / new.filename)], 1)]
    helm("delete", "--purge", name)
