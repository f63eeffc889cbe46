"""What the report and the terminal show of a release's values: an allowlist, not a guess at secrets.

Masking by key name misses credentials under keys nobody expected (`SERVICES_HARBOR_PASS`,
`SPRING_DATASOURCE_PWD`, a password inside `JAVA_OPTS`, `redis://:pw@host`, base64 of a secret). So a
value is shown only when its key path is one proven harmless (`SHOWN`: image repository and tag,
replicas, ports, resources, ...) or one of the plan's own keys whose value the plan writes without a
secret (`plan_keys`); a boolean or null says nothing and is shown too. Every other value becomes
`<hidden 1a2b3c4d>`: the first 8 hex digits of an HMAC-SHA256 of the value under a random key of this
run (`RUN_KEY`), so a diff still shows *that* a value changed (and which equal values are equal) while
nobody can test guesses against it: a bare hash of a short password would be brute-forced offline.

The full values live only in the run's private `values/` directory (0700, files 0600).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Any, Iterable, Mapping

#: a fresh key per run (per process): hashes compare within a run's report, never across runs
RUN_KEY = secrets.token_bytes(32)

#: key paths (dotted, `*` one key, a trailing `**` the key and anything below) whose values are shown
SHOWN = (
    "replicaCount", "image.repository", "image.tag", "image.pullPolicy",
    "service.enabled", "service.name", "service.port", "service.targetPort", "service.type",
    "deployment.managementPort", "ports.**", "resources.**", "logs.parser", "metrics.path", "metrics.group",
    "preJob.timeout", "preJob.image", "*.enabled",
)
#: a key that names a port, with a value that is a port number, is shown wherever it is
_PORT_KEY = re.compile(r"(?:^|_)PORT$|^(?:port|[a-z][A-Za-z]*Port)$")
#: the plan's placeholders that never fill in a secret (the others make a plan key hidden)
HARMLESS_PLACEHOLDERS = {"mysql_service_host", "mysql_service_port", "gitlab_ssh_host", "database",
                         "kafka_brokers", "zookeeper_nodes"}


def fingerprint(value: Any, key: bytes = RUN_KEY) -> str:
    """8 hex digits that change when `value` changes, useless for guessing it (keyed, per run)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:8]


def hidden(value: Any, key: bytes = RUN_KEY) -> str:
    return f"<hidden {fingerprint(value, key)}>"


def plan_keys(plan_values: Mapping[str, Any] | None) -> set[str]:
    """The plan's own dotted keys whose template fills in no secret (shown as the plan writes them)."""
    keys = set()
    for key, template in (plan_values or {}).items():
        used = set(re.findall(r"\{([a-z_]+)\}", str(template)))
        if used <= HARMLESS_PLACEHOLDERS:
            keys.add(str(key).replace("\\.", "."))
    return keys


def _matches(path: tuple[str, ...], pattern: str) -> bool:
    parts = pattern.split(".")
    if parts[-1] == "**":
        head = parts[:-1]
        return len(path) >= len(head) and all(p in ("*", k) for p, k in zip(head, path))
    return len(parts) == len(path) and all(p in ("*", k) for p, k in zip(parts, path))


def _is_port(path: tuple[str, ...], value: Any) -> bool:
    number = isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, str) and value.isdigit())
    return number and _PORT_KEY.search(path[-1]) is not None and 0 < int(value) < 65536


def is_shown(path: tuple[str, ...], value: Any, extra: Iterable[str] = ()) -> bool:
    if value is None or isinstance(value, bool):
        return True
    dotted = ".".join(path)
    return (dotted in set(extra) or any(_matches(path, p) for p in SHOWN) or _is_port(path, value))


def shown_values(values: Mapping[str, Any] | None, extra: Iterable[str] = (), key: bytes = RUN_KEY,
                 _path: tuple[str, ...] = ()) -> dict:
    """A copy of `values` fit for the report and the terminal: allowlisted values as they are, every
    other leaf (a list counts as one) as `<hidden HASH>`. `extra`: more shown dotted keys (the plan's)."""
    extra = set(extra)
    out: dict = {}
    for name, value in (values or {}).items():
        path = _path + (str(name),)
        if isinstance(value, Mapping):
            out[name] = shown_values(value, extra, key, path)
        else:
            out[name] = value if is_shown(path, value, extra) else hidden(value, key)
    return out
