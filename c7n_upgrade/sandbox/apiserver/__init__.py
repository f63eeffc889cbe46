"""The sandbox's Kubernetes API: an in-memory store served over HTTP on loopback.

Serves what the official `kubernetes` Python client and kubectl 1.32 use: /version, legacy discovery,
CRUD with Status errors, the status subresource, Table output for `kubectl get`, watch streams, pod
logs, pod/service proxy, and a small /openapi/v3 so that `kubectl apply` validates. One module per part:

  store.py       Store: CRUD with server-set metadata, resourceVersion, subscribers (watch, runtime)
  resources.py   resource types and served versions, CRD types and defaults, present() per version
  selectors.py   label and field selectors;  patches.py: merge, strategic merge and JSON patches
  errors.py      store errors and Status objects
  server.py      ApiServer: HTTP, routing, the verbs on resources and subresources
  discovery.py   /version, /api, /apis, resource lists
  bodies.py      request-body decoding and PATCH content types
  tables.py      server-side printing (Accept: as=Table)
  watch.py       watch streams;  proxy.py: pod/service proxy;  openapi.py: /openapi/v3
  kubeconfig.py  write_kubeconfig()
"""
from .kubeconfig import write_kubeconfig
from .server import ApiServer
from .store import Store

__all__ = ["ApiServer", "Store", "write_kubeconfig"]
