"""GET through the API server's pod and service proxy (access mode `proxy`)."""
from __future__ import annotations

from urllib.parse import quote

from .errors import KubeError, ProxyRefused
from .transport import Transport, status_message


class Proxy(Transport):
    def _proxy(self, kind: str, name: str, port: int | str, path: str, timeout: float) -> tuple[int, dict, bytes]:
        path = path or "/"
        query = None
        if "?" in path:
            path, _, qs = path.partition("?")
            query = qs
        target = f"{quote(name, safe='')}:{port}"
        url_path = self._ns_path() + f"/{kind}/{target}/proxy/" + quote(path.lstrip("/"), safe="/:@!$&'()*+,;=-._~")
        if query:
            url_path += "?" + query
        # a pod that does not answer through the proxy is the pod's silence, not the API server's
        resp = self._request("GET", url_path, verb="get", resource=f"{kind}/proxy", namespace=self.namespace,
                             accept="*/*", timeout=timeout, raise_for_status=False, name=name, trips_breaker=False)
        if resp.status == 400 and "address not allowed" in status_message(resp.data):
            raise ProxyRefused(f"the API server refuses to proxy to {kind[:-1]} {name} ('address not allowed': it "
                               "never proxies to loopback or link-local addresses), so access: proxy cannot reach "
                               "the pods of this cluster")
        if resp.status == 403:
            try:
                data = resp.json()
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("kind") == "Status":  # the API server refused, not the pod
                self._raise(resp, "get", f"{kind}/proxy", self.namespace, name)
        return resp.status, dict(resp.headers), resp.data

    def proxy_get(self, pod_name: str, port: int | str, path: str, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        """GET http://<pod>:<port><path> through the API server's pod proxy (access mode `proxy`).

        Returns (status, headers, body) whatever the status: a 503 from /health is an answer.
        """
        return self._proxy("pods", pod_name, port, path, timeout)

    def proxy_service_get(self, service: str, port: int | str, path: str, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        """GET through the API server's service proxy."""
        return self._proxy("services", service, port, path, timeout)

    def check_proxy(self, timeout: float = 10.0) -> None:
        """One GET through the pod proxy to a running pod of the namespace (its first container port):
        `ProxyRefused` when the API server will not proxy to its address; any other answer is fine."""
        resp = self._request("GET", self._ns_path() + "/pods", verb="list", resource="pods", namespace=self.namespace,
                             query={"fieldSelector": "status.phase=Running", "limit": "20"})
        for pod in (resp.json() or {}).get("items") or []:
            if (pod.get("status") or {}).get("podIP"):
                ports = [p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                         for p in c.get("ports") or []]
                try:
                    self.proxy_get(pod["metadata"]["name"], next((p for p in ports if p), 80), "/", timeout)
                except ProxyRefused:
                    raise
                except KubeError:  # the pod's silence: health checks judge that, not this
                    pass
                return
