"""GET through the API server's pod and service proxy (access mode `proxy`)."""
from __future__ import annotations

from urllib.parse import quote

from .transport import Transport


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
