"""The sandbox's Kubernetes API: an in-memory store served over HTTP on loopback.

Serves what the official `kubernetes` Python client and kubectl 1.32 use: /version, legacy discovery,
CRUD with Status errors, preconditions, the status subresource, Table output for `kubectl get`,
lists with limit/continue, watch streams from a resourceVersion, pod logs, pod/service proxy, exec
and port-forward over websockets, and the OpenAPI documents. One module per part:

  store.py       Store: CRUD with server-set metadata, resourceVersion, preconditions, subscribers
  history.py     the bounded change history (watch resumes, continue snapshots) and watchers
  resources.py   resource types and served versions, CRD types and defaults, present() per version
  selectors.py   label and field selectors;  patches.py: merge, strategic merge and JSON patches
  pagination.py  limit/continue tokens;  errors.py: store errors, Status objects, Go-style JSON
  server.py      ApiServer: HTTP connections (bounded), routing;  request.py: one request's path and query
  verbs.py       the verbs on resources and subresources
  discovery.py   /version, /api, /apis, resource lists
  bodies.py      request-body decoding and PATCH content types
  tables.py      server-side printing (Accept: as=Table)
  watch.py       watch streams;  proxy.py: pod/service proxy;  openapi.py: /openapi/v2 and v3
  streams.py     exec and portforward (the protocols are ..streaming's, shared with the node)
  kubeconfig.py  write_kubeconfig()
"""
from .kubeconfig import write_kubeconfig
from .server import ApiServer
from .store import Store

__all__ = ["ApiServer", "Store", "write_kubeconfig"]
