"""What the API server's tests (test_apiserver*.py) share: a pod to create, an error's Status, the
official client's CoreV1Api."""
import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

CRD_V1BETA1_PATH = "/apis/apiextensions.k8s.io/v1beta1/customresourcedefinitions"


def pod(name, labels=None, port=8080, image="registry.example/iam-service:0.8.0"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": port}],
                                     "env": [{"name": "A", "value": "1"}]}]}}


def error_status(exc: ApiException) -> dict:
    return json.loads(exc.body)


@pytest.fixture
def core(kube_client):
    return client.CoreV1Api(kube_client)


#: the guide's CRD, as it ships it (apiextensions.k8s.io/v1beta1)
GUIDE_CRD_YAML = """\
apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata:
  name: c7nhelmreleases.choerodon.io
spec:
  group: choerodon.io
  names:
    kind: C7NHelmRelease
    listKind: C7NHelmReleaseList
    plural: c7nhelmreleases
    singular: c7nhelmrelease
  scope: Namespaced
  version: v1alpha1
"""
