"""An HTTP server on loopback for a test's handler, stopped and joined whatever happens."""
from __future__ import annotations

import contextlib
import threading
from http.server import ThreadingHTTPServer
from typing import Iterator


@contextlib.contextmanager
def serving(handler) -> Iterator[int]:
    """Serve `handler` (a BaseHTTPRequestHandler class) on 127.0.0.1; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
