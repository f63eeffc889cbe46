"""choerodon-front: nginx serving the front end's index page."""
from __future__ import annotations


FRONT_HTML = (
    '<!DOCTYPE html><html><head><meta http-equiv="Content-type"content="text/html; charset=utf-8">'
    '<title>Choerodon</title><link rel="shortcut icon"href="favicon.ico"></head><body>'
    '<div id="app"></div><script type="text/javascript"src="app/vendor_19e4b950.js"></script>'
    '<script type="text/javascript"src="app/main_19e4b950.js"></script></body></html>'
)


def serve_front(method: str, path: str) -> tuple[int, dict, bytes]:
    if method in ("GET", "HEAD") and path in ("/", "/index.html"):
        return 200, {"Content-Type": "text/html"}, FRONT_HTML.encode("utf-8")
    return 404, {"Content-Type": "text/html"}, b"<html><head><title>404 Not Found</title></head><body>" \
        b"<center><h1>404 Not Found</h1></center><hr><center>nginx/1.13.8</center></body></html>"
