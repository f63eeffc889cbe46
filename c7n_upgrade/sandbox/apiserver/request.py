"""One API request as the routing sees it: the path's segments percent-decoded (the Python client
sends `NAME%3APORT`), the raw remainder for proxies, every value of a repeated query parameter."""
from __future__ import annotations

import functools
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

PRETTY_AGENTS = ("curl", "Wget", "Mozilla/5.0")     # the real server indents JSON for them


@dataclass
class Request:
    method: str
    path: str                   # as sent (percent-encoded)
    raw_query: str
    headers: Any
    body: bytes
    client_gone: Callable[[], bool] = field(default=lambda: False)   # the client closed the connection
    connection: Any = None      # (socket, rfile) of the HTTP connection, for websocket upgrades

    @functools.cached_property
    def pairs(self) -> list[tuple[str, str]]:
        return urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True)

    @functools.cached_property
    def query(self) -> dict[str, str]:
        """The last value of each query parameter."""
        return dict(self.pairs)

    def values(self, key: str) -> list[str]:
        """Every value of a repeated query parameter (exec's `command`), in order."""
        return [v for k, v in self.pairs if k == key]

    @functools.cached_property
    def parts(self) -> list[str]:
        """The path's non-empty segments, each percent-decoded."""
        return [urllib.parse.unquote(p) for p in self.path.split("/") if p]

    def path_after(self, count: int) -> str:
        """The path after its first `count` non-empty segments (a proxy's upstream path): decoded
        once, as the real server's router does (the Python client sends `a%2Fb`), then encoded again
        for the upstream request; the trailing slash kept."""
        segments = self.path.split("/")
        seen = 0
        for i, segment in enumerate(segments):
            if segment:
                seen += 1
                if seen == count:
                    rest = urllib.parse.unquote("/" + "/".join(segments[i + 1:]))
                    return urllib.parse.quote(rest, safe="/!$&'()*+,;=:@~")
        return "/"

    @property
    def pretty(self) -> bool:
        flag = self.query.get("pretty")
        if flag:
            return flag in ("true", "1")
        return self.headers.get("User-Agent", "").startswith(PRETTY_AGENTS)
