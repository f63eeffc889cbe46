"""What the behaviours share: chart names, pod labels, versions, and JSON answers (Spring's and Zuul's errors)."""
from __future__ import annotations

import json
import re
import time
from typing import Any


REGISTER_CHART = "go-register-server"


CONFIG_CHART = "config-server"


FRONT_CHART = "choerodon-front"


GATEWAY_CHART = "api-gateway"


LABEL_SERVICE = "choerodon.io/service"


LABEL_VERSION = "choerodon.io/version"


LABEL_METRICS = "choerodon.io/metrics-port"


JSON = "application/json;charset=UTF-8"


def version_tuple(version: str | None) -> tuple[int, ...]:
    out = []
    for part in (version or "").split("."):
        m = re.match(r"\d+", part)
        out.append(int(m.group()) if m else 0)
    return tuple(out)


def json_answer(status: int, body: Any, extra: dict | None = None) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": JSON}
    if extra:
        headers.update(extra)
    return status, headers, json.dumps(body, ensure_ascii=False).encode("utf-8")


def zuul_500(path: str) -> tuple[int, dict, bytes]:
    return json_answer(500, {
        "timestamp": int(time.time() * 1000), "status": 500, "error": "Internal Server Error",
        "exception": "com.netflix.zuul.exception.ZuulException", "message": "Forwarding error", "path": path,
    })


def not_found(path: str) -> tuple[int, dict, bytes]:
    return json_answer(404, {"timestamp": int(time.time() * 1000), "status": 404, "error": "Not Found",
                             "message": "No message available", "path": path})
