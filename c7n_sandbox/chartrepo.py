"""The c7n chart repository on its own loopback HTTP server (the real API server has no place to
mount it): serves a `charts.repo_handler` handler."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class ChartRepoServer:
    def __init__(self, handler, host: str = "127.0.0.1", prefix: str = "/charts/c7n/"):
        self.handler, self.host, self.prefix = handler, host, prefix
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> "ChartRepoServer":
        repo = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, head: bool) -> None:
                parts = urlsplit(self.path)
                if not parts.path.startswith(repo.prefix):
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"404 page not found\n"
                else:
                    status, headers, body = repo.handler(self.command, parts.path, parts.query,
                                                         dict(self.headers.items()), b"")
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self):
                self._serve(False)

            def do_HEAD(self):
                self._serve(True)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="chart repo", daemon=True)
        self.thread.start()
        self.url = f"http://{self.host}:{self.server.server_address[1]}{self.prefix}"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            self.server = None
