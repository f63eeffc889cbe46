"""Pre-flight: the cluster answers and the namespace exists."""


def test_cluster_reachable(kube, ctx, reporter):
    """The Kubernetes API server answers; its version is recorded."""
    version = kube.server_version()
    ctx.results.kubernetes_version = version
    ctx.results.api_server = kube.api_server_url
    reporter.attach("cluster", f"API server {kube.api_server_url}\nKubernetes {version}")
    assert version.startswith("v1.")


def test_namespace_exists(kube, settings):
    """The Choerodon namespace exists."""
    assert kube.namespace_exists(settings.namespace), f"namespace {settings.namespace} not found"
