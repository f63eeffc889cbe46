"""The kubernetes client writes a kubeconfig's certificate and key data to files; a run's go into its
private directory (removed at exit, and by the next run when this one was killed), never the shared temp dir."""
from __future__ import annotations

import base64

import yaml

from c7n_upgrade.kube import KubeClient

CA = "-----BEGIN CERTIFICATE-----\nMIIBnot-a-real-one\n-----END CERTIFICATE-----\n"


def _kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443",
                                                "certificate-authority-data": base64.b64encode(CA.encode()).decode()}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}]}))
    return path


def test_the_kubeconfigs_certificate_file_goes_into_the_given_directory(tmp_path, monkeypatch):
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    private = tmp_path / "private"
    kube = KubeClient(kubeconfig=_kubeconfig(tmp_path), temp_dir=private)
    assert kube.namespace == "ns"
    written = [p for p in private.iterdir()]
    assert [p.read_text() for p in written] == [CA]
    assert kube.api_client.configuration.ssl_ca_cert == str(written[0])
    assert list(shared.iterdir()) == []
