"""The pod and service proxy subresources: /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH goes to
http://podIP:PORT/PATH (services: clusterIP:port)."""
from __future__ import annotations

import http.client

from .errors import HttpError


def proxy(store, rtype, namespace, name_port, path, method, raw_query, headers, body, bound_port=None):
    """(status, headers, bytes) of the upstream's answer; 503 when there is nowhere to go.
    bound_port(port): where the runtime really listens for a port (below 1024, 8000 higher without root)."""
    name, _, port = name_port.partition(":")
    if port.count(":"):                       # scheme:name:port
        name, _, port = port.partition(":")
    obj = store.get(rtype.key, namespace, name)
    if rtype.key == "pods":
        host = (obj.get("status") or {}).get("podIP")
        ports = [p for c in obj.get("spec", {}).get("containers", []) for p in c.get("ports", [])]
        number_key = "containerPort"
    else:
        host = (obj.get("spec") or {}).get("clusterIP")
        ports = obj.get("spec", {}).get("ports", [])
        number_key = "port"
    if port:
        named = next((p[number_key] for p in ports if p.get("name") == port), None)
        target_port = named or (int(port) if port.isdigit() else None)
    else:
        target_port = ports[0][number_key] if ports else 80
    if not host or host == "None" or target_port is None:
        raise HttpError(503, "ServiceUnavailable", f"no endpoints available for {rtype.plural[:-1]} {name!r}")
    if bound_port is not None:
        target_port = bound_port(int(target_port))
    upstream_path = path + ("?" + raw_query if raw_query else "")     # path encoded again, query as sent
    forward = {k: v for k, v in headers.items()
               if k.lower() in ("content-type", "accept", "authorization-upstream")}
    try:
        conn = http.client.HTTPConnection(host, int(target_port), timeout=30)
        conn.request(method, upstream_path, body=body or None, headers=forward)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
    except OSError as exc:
        raise HttpError(503, "ServiceUnavailable",
                        f"error trying to reach {rtype.plural[:-1]}: dial tcp {host}:{target_port}: {exc}") from None
    return resp.status, {"Content-Type": resp.getheader("Content-Type", "application/octet-stream")}, data
