"""Fixtures: the real control plane for the session, the real Helm 2 and a Tiller on it."""

import pytest

NAMESPACE = "choerodon-devops-prod"


@pytest.fixture(scope="session")
def control_plane(request, tmp_path_factory):
    """One real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler; no node) for the session, its binaries built first when this machine has none
    (progress on the terminal). A build or start failure fails the tests that use it, with its cause."""
    from c7n_sandbox.controlplane import ControlPlane, ControlPlaneError, ensure_built

    progress = _terminal(request)
    try:
        bin_dir = ensure_built(progress)
        cp = ControlPlane(tmp_path_factory.mktemp("control-plane"), bin_dir, log=progress).start()
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cp
    cp.stop()


def _terminal(request):
    """print() to the terminal past pytest's capture: build progress must show while it runs."""
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def progress(line):
        with capman.global_and_fixture_disabled():
            print(line, flush=True)
    return progress


@pytest.fixture(scope="session")
def helm2_bin(request):
    """The directory of the real Helm 2 `helm` and `tiller` (v2.17.0), built first when this machine
    has none (progress on the terminal)."""
    from c7n_sandbox.controlplane import ControlPlaneError, ensure_built

    try:
        return ensure_built(_terminal(request), helm2=True)
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def tiller(request, helm2_bin, control_plane, tmp_path_factory):
    """Real Tiller v2.17.0 on loopback against the control plane; .helm(*args) runs the real Helm 2
    client against it."""
    from c7n_sandbox.controlplane import ControlPlaneError, Tiller

    try:
        server = Tiller(tmp_path_factory.mktemp("tiller"), helm2_bin, control_plane.kubeconfig,
                        log=_terminal(request)).start()
    except ControlPlaneError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()
