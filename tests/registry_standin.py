"""A container registry on loopback that speaks the Registry API v2 as Docker Hub and Harbor do: a 401
with a Bearer challenge, an anonymous token from the realm, then HEAD of the manifest. It holds the
(repository, tag) pairs it is given."""
from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse

TOKEN = "anon-token-1"


class _Registry(http.server.BaseHTTPRequestHandler):
    tags = {("choerodon/iam-service", "0.8.0")}
    private = {"private/thing"}
    asked_scopes: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # the token realm
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        self.asked_scopes.append(query.get("scope", [""])[0])
        name = query.get("scope", [""])[0].split(":")[1]
        if name in self.private:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"token": TOKEN}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        parts = self.path.split("/")  # /v2/<name...>/manifests/<tag>
        name, tag = "/".join(parts[2:-2]), parts[-1]
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            host = self.headers["Host"]
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://{host}/token",service="test-registry"')
            self.end_headers()
            return
        self.send_response(200 if (name, tag) in self.tags else 404)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")  # as every v2 registry answers
        self.end_headers()


@contextlib.contextmanager
def standin_registry(tags=(("choerodon/iam-service", "0.8.0"),)):
    """Serve a registry holding `tags` on 127.0.0.1; yields its host:port."""
    handler = type("Registry", (_Registry,), {"tags": set(tags), "asked_scopes": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
